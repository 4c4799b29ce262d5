/**
 * Fine-grained assertions on the synthesized prod and dev templates, snapshots (asset hashes
 * redacted) and cdk-nag. Each environment is synthesized once and shared by all its tests.
 */
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ENVIRONMENTS } from '../../config';
import { TemporalPlatformStack } from '../../lib/platform-stack';
import { TEMPORAL_ROLES, TemporalRole } from '../../lib/services/roles';
import { buildApp, redactAssetHashes } from './helpers';

/**
 * Ports and gRPC paths written out from Temporal's documentation (server roles and ports) and the
 * README's "Network rules" table, not read from lib/services/temporal-services.ts: a wrong constant there
 * must fail here.
 */
const GRPC_PORT: Record<TemporalRole, number> = { frontend: 7233, history: 7234, matching: 7235, worker: 7239 };
const MEMBERSHIP_PORT: Record<TemporalRole, number> = { frontend: 6933, history: 6934, matching: 6935, worker: 6939 };
/** For each role, the roles that call its gRPC port (README, Network rules). */
const GRPC_FROM: Record<TemporalRole, TemporalRole[]> = {
  frontend: ['worker'],
  history: ['frontend', 'history', 'matching', 'worker'],
  matching: ['frontend', 'history', 'matching', 'worker'],
  worker: [],
};

type Resources = Record<string, { Type: string; Properties?: any; DependsOn?: string[]; DeletionPolicy?: string }>;

interface Built {
  stack: TemporalPlatformStack;
  template: Template;
  resources: Resources;
  nagViolations: unknown[];
}

function build(envName: 'dev' | 'prod'): Built {
  const { app, stack } = buildApp(envName, { ...ENVIRONMENTS });
  app.synth();
  const template = Template.fromStack(stack);
  const nag = new AwsSolutionsChecks(app).validateScope(app);
  return { stack, template, resources: template.toJSON().Resources, nagViolations: nag.violations };
}

/** Logical id of a construct's CloudFormation resource (its default child, or itself). */
function logicalId(b: Built, c: any): string {
  return b.stack.getLogicalId((c.node.defaultChild ?? c) as any);
}

/** Ingress rules of a security group: "<source logical id or cidr>:<from>-<to>". */
function ingressOf(b: Built, sgLogicalId: string): string[] {
  const rules: string[] = [];
  for (const r of Object.values(b.resources)) {
    if (r.Type === 'AWS::EC2::SecurityGroupIngress' && r.Properties.GroupId?.['Fn::GetAtt']?.[0] === sgLogicalId) {
      const src = r.Properties.SourceSecurityGroupId?.['Fn::GetAtt']?.[0] ?? r.Properties.CidrIp;
      rules.push(`${src}:${r.Properties.FromPort}-${r.Properties.ToPort}`);
    }
  }
  for (const r of b.resources[sgLogicalId]?.Properties?.SecurityGroupIngress ?? []) {
    rules.push(`${r.CidrIp ?? r.SourceSecurityGroupId}:${r.FromPort}-${r.ToPort}`);
  }
  return rules.sort();
}

let prod: Built;
let dev: Built;
beforeAll(() => {
  prod = build('prod');
  dev = build('dev');
});

describe('prod: DSQL', () => {
  test('one cluster with deletion protection, retained, Name tag', () => {
    prod.template.resourceCountIs('AWS::DSQL::Cluster', 1);
    prod.template.hasResource('AWS::DSQL::Cluster', {
      Properties: {
        DeletionProtectionEnabled: true,
        Tags: Match.arrayWith([{ Key: 'Name', Value: 'temporal-prod' }]),
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  test('PrivateLink endpoint for the cluster in the private subnets, servers connect through it', () => {
    const clusterId = logicalId(prod, prod.stack.dsqlCluster.resource);
    prod.template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Interface',
      ServiceName: { 'Fn::GetAtt': [clusterId, 'VpcEndpointServiceName'] },
      PrivateDnsEnabled: true,
      SubnetIds: Match.arrayWith([Match.objectLike({ Ref: Match.stringLikeRegexp('PrivateSubnet1') })]),
    });
    const frontendTd = Object.values(prod.resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition'
      && r.Properties.ContainerDefinitions[0].Environment.some((e: any) => e.Name === 'SERVICES' && e.Value === 'frontend,internal-frontend'))!;
    const env = Object.fromEntries(frontendTd.Properties.ContainerDefinitions[0].Environment.map((e: any) => [e.Name, e.Value]));
    expect(env.DSQL_ENDPOINT).toEqual({ 'Fn::GetAtt': [clusterId, 'VpcEndpoint'] });
    // ...so every service waits for the endpoint (its private DNS name must resolve at start).
    const endpointId = logicalId(prod, prod.stack.dsqlCluster.vpcEndpoint);
    for (const s of Object.values(prod.resources).filter((r) => r.Type === 'AWS::ECS::Service')) {
      expect(s.DependsOn).toContain(endpointId);
    }
  });

  test('DSQL endpoint admits 5432 only from the four roles and the job security group', () => {
    const sg = logicalId(prod, prod.stack.dsqlCluster.connections.securityGroups[0]);
    const expected = [...TEMPORAL_ROLES.map((r) => logicalId(prod, prod.stack.services.securityGroups[r])), logicalId(prod, prod.stack.jobSecurityGroup)]
      .map((src) => `${src}:5432-5432`).sort();
    expect(ingressOf(prod, sg)).toEqual(expected);
  });

  test('servers get dsql:DbConnect on this cluster only; only the schema job gets DbConnectAdmin, on this cluster only', () => {
    const clusterId = logicalId(prod, prod.stack.dsqlCluster.resource);
    const roleId = logicalId(prod, prod.stack.serverTaskRole);
    const clusterArn = { 'Fn::GetAtt': [clusterId, 'ResourceArn'] };
    prod.template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: roleId }],
      PolicyDocument: {
        Statement: Match.arrayWith([{ Action: 'dsql:DbConnect', Effect: 'Allow', Resource: clusterArn }]),
      },
    });
    const adminPolicies = Object.values(prod.resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.PolicyDocument).includes('DbConnectAdmin'));
    expect(adminPolicies).toHaveLength(1);
    expect(adminPolicies[0].Properties.Roles).toEqual([{ Ref: logicalId(prod, prod.stack.schema.handlerRole) }]);
    const adminStatements = adminPolicies[0].Properties.PolicyDocument.Statement
      .filter((st: { Action: string | string[] }) => JSON.stringify(st.Action).includes('DbConnectAdmin'));
    expect(adminStatements).toEqual([{ Action: 'dsql:DbConnectAdmin', Effect: 'Allow', Resource: clusterArn }]);
  });
});

describe('prod: network', () => {
  test('VPC in three AZs with flow logs, a NAT gateway per AZ, no public IPs on launch', () => {
    prod.template.resourceCountIs('AWS::EC2::VPC', 1);
    prod.template.resourceCountIs('AWS::EC2::NatGateway', 3);
    prod.template.resourceCountIs('AWS::EC2::FlowLog', 1);
    const subnets = Object.values(prod.resources).filter((r) => r.Type === 'AWS::EC2::Subnet');
    expect(new Set(subnets.map((s) => s.Properties.AvailabilityZone))).toEqual(new Set(['us-east-1a', 'us-east-1b', 'us-east-1c']));
    expect(subnets.every((s) => s.Properties.MapPublicIpOnLaunch === false)).toBe(true);
  });

  test('endpoints for ECR api and dkr, CloudWatch Logs, STS, Secrets Manager, KMS (interface) and S3 (gateway); no SSM messages without ECS Exec', () => {
    const names = Object.values(prod.resources).filter((r) => r.Type === 'AWS::EC2::VPCEndpoint')
      .map((r) => JSON.stringify(r.Properties.ServiceName));
    for (const svc of ['ecr.api', 'ecr.dkr', 'logs', 'sts', 'secretsmanager', 'kms', 's3']) {
      expect(names.some((n) => n.includes(`.${svc}`))).toBe(true);
    }
    expect(names.some((n) => n.includes('ssmmessages'))).toBe(false);
    prod.template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', ServiceName: Match.anyValue() });
  });
});

describe('prod: OpenSearch visibility domain', () => {
  test('OpenSearch 2.19, encrypted, HTTPS with TLS 1.2+, zone aware over 3 AZs, in the VPC, dedicated masters', () => {
    prod.template.resourceCountIs('AWS::OpenSearchService::Domain', 1);
    prod.template.hasResourceProperties('AWS::OpenSearchService::Domain', {
      DomainName: 'temporal-prod',
      EngineVersion: 'OpenSearch_2.19',
      EncryptionAtRestOptions: { Enabled: true },
      NodeToNodeEncryptionOptions: { Enabled: true },
      DomainEndpointOptions: { EnforceHTTPS: true, TLSSecurityPolicy: 'Policy-Min-TLS-1-2-PFS-2023-10' },
      ClusterConfig: Match.objectLike({
        ZoneAwarenessEnabled: true,
        ZoneAwarenessConfig: { AvailabilityZoneCount: 3 },
        InstanceCount: 3,
        DedicatedMasterEnabled: true,
        DedicatedMasterCount: 3,
      }),
      VPCOptions: { SubnetIds: Match.anyValue(), SecurityGroupIds: Match.anyValue() },
      LogPublishingOptions: {
        SEARCH_SLOW_LOGS: Match.objectLike({ Enabled: true }),
        INDEX_SLOW_LOGS: Match.objectLike({ Enabled: true }),
        ES_APPLICATION_LOGS: Match.objectLike({ Enabled: true }),
      },
    });
    const domain = Object.values(prod.resources).find((r) => r.Type === 'AWS::OpenSearchService::Domain')!;
    expect(domain.Properties.VPCOptions.SubnetIds).toHaveLength(3);
  });

  test('access policy lets in only the server task role and the index job, on this domain only', () => {
    const domain = Object.values(prod.resources).find((r) => r.Type === 'AWS::OpenSearchService::Domain')!;
    const [server, serverDelete, ...job] = domain.Properties.AccessPolicies.Statement;
    expect(server.Principal).toEqual({ AWS: { 'Fn::GetAtt': [logicalId(prod, prod.stack.serverTaskRole), 'Arn'] } });
    expect(server.Effect).toBe('Allow');
    expect(server.Action.every((a: string) => a.startsWith('es:ESHttp'))).toBe(true);
    expect(server.Action).not.toContain('es:ESHttpDelete');
    expect(JSON.stringify(server.Resource)).toContain(':domain/temporal-prod/*');
    // DELETE only on documents of the visibility index and search contexts (test/cdk/hardening.test.ts).
    expect(serverDelete.Principal).toEqual(server.Principal);
    expect(serverDelete.Action).toBe('es:ESHttpDelete');
    expect(JSON.stringify(serverDelete.Resource)).toContain(':domain/temporal-prod/temporal_visibility_v1_prod/_doc/*');
    // The index job: only the requests its handler makes, each on a path of this domain.
    const jobArn = { AWS: { 'Fn::GetAtt': [logicalId(prod, prod.stack.visibilityIndex.role), 'Arn'] } };
    expect(job.length).toBeGreaterThan(0);
    for (const st of job) {
      expect(st.Principal).toEqual(jobArn);
      expect(st.Effect).toBe('Allow');
      expect([st.Action].flat().every((a: string) => a.startsWith('es:ESHttp'))).toBe(true);
      expect(JSON.stringify(st.Resource)).toMatch(/:domain\/temporal-prod\/[^*"]+"/);
    }
    expect(JSON.stringify(domain.Properties.AccessPolicies)).not.toContain('"*"');
  });

  test('domain admits 443 only from the four roles and the job security group', () => {
    const sg = logicalId(prod, prod.stack.visibility.connections.securityGroups[0]);
    const expected = [...TEMPORAL_ROLES.map((r) => logicalId(prod, prod.stack.services.securityGroups[r])), logicalId(prod, prod.stack.jobSecurityGroup)]
      .map((src) => `${src}:443-443`).sort();
    expect(ingressOf(prod, sg)).toEqual(expected);
  });

  test('the servers get es:ESHttp* on this domain only', () => {
    const domainId = logicalId(prod, prod.stack.visibility.domain);
    const policy = Object.values(prod.resources).find((r) => r.Type === 'AWS::IAM::Policy'
      && r.Properties.Roles[0].Ref === logicalId(prod, prod.stack.serverTaskRole))!;
    const es = policy.Properties.PolicyDocument.Statement.filter((s: any) => [s.Action].flat().some((a: string) => a.startsWith('es:')));
    expect(es).toHaveLength(2);
    expect(es[0].Action).not.toContain('es:ESHttpDelete');
    expect(es[0].Resource).toEqual([{ 'Fn::GetAtt': [domainId, 'Arn'] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [domainId, 'Arn'] }, '/*']] }]);
    expect(es[1].Action).toBe('es:ESHttpDelete');
    expect(es[1].Resource).toContainEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [domainId, 'Arn'] }, '/temporal_visibility_v1_prod/_doc/*']] });
  });
});

describe('prod: Temporal services', () => {
  test('ECS cluster with Container Insights and five services (four roles and the UI)', () => {
    prod.template.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    prod.template.resourceCountIs('AWS::ECS::Service', 5);
  });

  test('every service: circuit breaker with rollback, 100% minimum healthy, private subnets, no public IP', () => {
    const services = Object.values(prod.resources).filter((r) => r.Type === 'AWS::ECS::Service');
    for (const s of services) {
      expect(s.Properties.DeploymentConfiguration).toEqual({
        DeploymentCircuitBreaker: { Enable: true, Rollback: true }, MaximumPercent: 200, MinimumHealthyPercent: 100,
      });
      expect(s.Properties.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp).toBe('DISABLED');
      expect(s.Properties.LaunchType).toBe('FARGATE');
    }
  });

  test('task definitions: ARM64, sizes from the config, graceful stop, per-role logs, the container contract', () => {
    const cfg = prod.stack.config;
    for (const role of TEMPORAL_ROLES) {
      const td = Object.values(prod.resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition'
        && r.Properties.ContainerDefinitions[0].Environment?.some((e: any) => e.Name === 'SERVICES'
          && e.Value === (role === 'frontend' ? 'frontend,internal-frontend' : role)))!;
      expect(td.Properties.RuntimePlatform).toEqual({ CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' });
      expect(td.Properties.Cpu).toBe(String(cfg.services[role].cpu));
      expect(td.Properties.Memory).toBe(String(cfg.services[role].memoryMiB));
      const c = td.Properties.ContainerDefinitions[0];
      expect(JSON.stringify(c.Image)).toMatch(/"000000000000\.dkr\.ecr\.us-east-1\.".*"\/temporal-dsql:1\.31\.2"/);
      expect(c.StopTimeout).toBe(120);
      expect(c.LogConfiguration.LogDriver).toBe('awslogs');
      expect(c.LogConfiguration.Options['awslogs-group']).toEqual({ Ref: logicalId(prod, prod.stack.services.logGroups[role]) });
      const ports = c.PortMappings.map((p: any) => p.ContainerPort).sort((a: number, b: number) => a - b);
      expect(ports).toEqual({
        frontend: [6933, 6936, 7233, 7236, 7243, 7246, 9090],
        history: [6934, 7234, 9090],
        matching: [6935, 7235, 9090],
        worker: [6939, 7239, 9090],
      }[role]);
      const env = Object.fromEntries(c.Environment.map((e: any) => [e.Name, e.Value]));
      expect(Object.keys(env).sort()).toEqual([
        'ARCHIVAL_S3_REGION', 'ARCHIVAL_S3_URI',
        'DSQL_DATABASE_ROLE', 'DSQL_ENDPOINT', 'DSQL_PORT', 'DSQL_REGION', 'GOMEMLIMIT', 'LOG_LEVEL', 'NUM_HISTORY_SHARDS',
        'OPENSEARCH_AWS_SIGNING', 'OPENSEARCH_ENDPOINT', 'OPENSEARCH_REGION', 'OPENSEARCH_VISIBILITY_INDEX',
        'SERVICES', 'TEMPORAL_AUTH_AUDIENCE', 'TEMPORAL_AUTH_AUDIENCE_CLAIM', 'TEMPORAL_AUTH_ISSUER', 'TEMPORAL_AUTH_JWKS_URIS', 'TEMPORAL_AUTH_PERMISSIONS_CLAIM',
        'TEMPORAL_DYNAMIC_CONFIG', 'TEMPORAL_DYNAMIC_CONFIG_FILE', 'TEMPORAL_TLS_DIR',
        'TEMPORAL_TLS_FRONTEND_SECRET_ARN', 'TEMPORAL_TLS_INTERNODE_SECRET_ARN',
      ].sort());
      expect(env.DSQL_DATABASE_ROLE).toBe('temporal_server');
      expect([env.TEMPORAL_AUTH_ISSUER, env.TEMPORAL_AUTH_AUDIENCE, env.TEMPORAL_AUTH_AUDIENCE_CLAIM]).toEqual(['https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE11', '1example23456789', 'client_id']);
      expect(env.NUM_HISTORY_SHARDS).toBe('512');
      expect(env.OPENSEARCH_VISIBILITY_INDEX).toBe('temporal_visibility_v1_prod');
      expect(env.OPENSEARCH_AWS_SIGNING).toBe('true');
      expect(env.DSQL_REGION).toBe('us-east-1');
      expect(env.TEMPORAL_DYNAMIC_CONFIG).toContain('limit.maxIDLength:\n  - value: 255');
      expect(env.TEMPORAL_DYNAMIC_CONFIG).toContain('history.persistenceMaxQPS:\n  - value: 3000');
    }
  });

  test('log groups of the services have the configured retention and are retained (except by a rolled-back create)', () => {
    for (const svc of ['frontend', 'history', 'matching', 'worker', 'ui'] as const) {
      const lg = prod.resources[logicalId(prod, prod.stack.services.logGroups[svc])] as any;
      expect(lg.Properties.RetentionInDays).toBe(90);
      expect(lg.DeletionPolicy).toBe('RetainExceptOnCreate');
    }
  });

  test('security-group matrix: membership between all roles, exactly the gRPC paths Temporal uses', () => {
    const sgId = (r: TemporalRole) => logicalId(prod, prod.stack.services.securityGroups[r]);
    const nlbSg = logicalId(prod, prod.stack.services.frontendLoadBalancer.connections.securityGroups[0]);
    const uiSg = logicalId(prod, prod.stack.services.services.ui.connections.securityGroups[0]);
    for (const target of TEMPORAL_ROLES) {
      const expected = TEMPORAL_ROLES.map((s) => `${sgId(s)}:${MEMBERSHIP_PORT[target]}-${MEMBERSHIP_PORT[target]}`);
      for (const caller of GRPC_FROM[target]) expected.push(`${sgId(caller)}:${GRPC_PORT[target]}-${GRPC_PORT[target]}`);
      if (target === 'frontend') {
        // Not the VPC CIDR: clients come through the NLB (security/test docs: test/cdk/security.test.ts).
        expected.push(`${sgId('history')}:7243-7243`, `${nlbSg}:7233-7233`, `${nlbSg}:7243-7243`, `${uiSg}:7233-7233`);
        // internal-frontend: membership from every role, gRPC and HTTP from history, matching, worker.
        for (const s of TEMPORAL_ROLES) expected.push(`${sgId(s)}:6936-6936`);
        for (const s of ['history', 'matching', 'worker'] as const) expected.push(`${sgId(s)}:7236-7236`, `${sgId(s)}:7246-7246`);
      }
      expect(ingressOf(prod, sgId(target))).toEqual(expected.sort());
    }
  });

  test('internal NLB with a TCP listener on 7233 to the frontend tasks (IP targets)', () => {
    prod.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Type: 'network', Scheme: 'internal' });
    prod.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 7233, Protocol: 'TCP' });
    prod.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 7233, Protocol: 'TCP', TargetType: 'ip',
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '75' }]),
    });
    const nlbSg = logicalId(prod, prod.stack.services.frontendLoadBalancer.connections.securityGroups[0]);
    // Clients from the VPC CIDR, and the namespace custom resource (prod lists namespaces).
    expect(ingressOf(prod, nlbSg)).toEqual(['10.40.0.0/16:7233-7233', `${logicalId(prod, prod.stack.namespaces!.connections.securityGroups[0])}:7233-7233`]);
  });

  test('frontend registered in Cloud Map; the UI uses that name', () => {
    prod.template.hasResourceProperties('AWS::ServiceDiscovery::PrivateDnsNamespace', { Name: 'temporal-prod.internal' });
    prod.template.hasResourceProperties('AWS::ServiceDiscovery::Service', { Name: 'frontend' });
    const ui = Object.values(prod.resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition'
      && r.Properties.ContainerDefinitions[0].Name === 'ui')!;
    const c = ui.Properties.ContainerDefinitions[0];
    // Production pulls it through this account's ECR pull-through cache (lib/services/images.ts, test/cdk/images.test.ts).
    expect(JSON.stringify(c.Image)).toContain('/prod/docker-hub/temporalio/ui:2.56.1"');
    expect(c.Environment).toContainEqual({ Name: 'TEMPORAL_ADDRESS', Value: 'frontend.temporal-prod.internal:7233' });
  });

  test('UI behind an internal ALB with a /healthz health check, reachable from the VPC only', () => {
    prod.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Type: 'application', Scheme: 'internal' });
    prod.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { Port: 8080, HealthCheckPath: '/healthz', TargetType: 'ip' });
    const albSg = logicalId(prod, prod.stack.services.uiLoadBalancer.connections.securityGroups[0]);
    // HTTPS on 443; 80 only redirects (test/cdk/security.test.ts).
    expect(ingressOf(prod, albSg)).toEqual(['10.40.0.0/16:443-443', '10.40.0.0/16:80-80']);
  });

  test('numHistoryShards pin: SSM parameter named per stack, and every service depends on it', () => {
    const pinId = logicalId(prod, prod.stack.shardCountPin);
    expect(pinId).toMatch(/^NumHistoryShardsPin512/);
    prod.template.hasResourceProperties('AWS::SSM::Parameter', { Name: '/temporal/Temporal-prod/num-history-shards', Value: '512' });
    for (const s of Object.values(prod.resources).filter((r) => r.Type === 'AWS::ECS::Service')) {
      expect(s.DependsOn).toContain(pinId);
    }
  });
});

describe('schema and index jobs', () => {
  test('every ECS service starts only after the schema and the visibility index custom resources', () => {
    const schemaId = logicalId(prod, prod.stack.schema.resource);
    const indexId = logicalId(prod, prod.stack.visibilityIndex.resource);
    expect(prod.resources[schemaId].Type).toBe('Custom::TemporalDsqlSchema');
    expect(prod.resources[indexId].Type).toBe('Custom::TemporalVisibilityIndex');
    const services = Object.values(prod.resources).filter((r) => r.Type === 'AWS::ECS::Service');
    expect(services).toHaveLength(5);
    for (const svc of services) {
      expect(svc.DependsOn).toContain(schemaId);
      expect(svc.DependsOn).toContain(indexId);
    }
  });

  test('the schema job maps the servers\' database role to the server task role', () => {
    const schema = prod.resources[logicalId(prod, prod.stack.schema.resource)];
    expect(schema.Properties).toMatchObject({
      ServerRoleName: 'temporal_server',
      ServerTaskRoleArn: { 'Fn::GetAtt': [logicalId(prod, prod.stack.serverTaskRole), 'Arn'] },
    });
  });

  test('both jobs run in the private subnets behind the job security group', () => {
    const jobSg = { 'Fn::GetAtt': [logicalId(prod, prod.stack.jobSecurityGroup), 'GroupId'] };
    // The VPC's private subnets (one per AZ, three in prod), found by type in the template: the
    // subnets whose route table sends 0.0.0.0/0 to a NAT gateway.
    const routeTableOf = (subnetId: string) => Object.values(prod.resources).find((r) => r.Type === 'AWS::EC2::SubnetRouteTableAssociation'
      && r.Properties.SubnetId.Ref === subnetId)!.Properties.RouteTableId.Ref;
    const natRouted = (routeTableId: string) => Object.values(prod.resources).some((r) => r.Type === 'AWS::EC2::Route'
      && r.Properties.RouteTableId.Ref === routeTableId && r.Properties.DestinationCidrBlock === '0.0.0.0/0' && r.Properties.NatGatewayId);
    const subnets = Object.entries(prod.resources).filter(([, r]) => r.Type === 'AWS::EC2::Subnet').map(([id]) => id);
    const privateSubnets = subnets.filter((id) => natRouted(routeTableOf(id))).map((id) => ({ Ref: id })).sort((a, b) => a.Ref.localeCompare(b.Ref));
    expect(privateSubnets).toHaveLength(3);
    expect(subnets.length).toBeGreaterThan(privateSubnets.length); // public subnets exist, so the choice matters
    const byRef = (refs: Array<{ Ref: string }>) => [...refs].sort((a, b) => a.Ref.localeCompare(b.Ref));
    for (const fn of [prod.stack.visibilityIndex.handler]) {
      const props = prod.resources[logicalId(prod, fn)].Properties;
      expect(props.VpcConfig.SecurityGroupIds).toEqual([jobSg]);
      expect(byRef(props.VpcConfig.SubnetIds)).toEqual(privateSubnets);
    }
    const schemaFns = Object.values(prod.resources).filter((r) => r.Type === 'AWS::Lambda::Function'
      && JSON.stringify(r.Properties.Role).includes(logicalId(prod, prod.stack.schema.handlerRole)));
    expect(schemaFns.length).toBeGreaterThanOrEqual(2);
    for (const fn of schemaFns) {
      expect(fn.Properties.VpcConfig.SecurityGroupIds).toEqual([jobSg]);
      expect(byRef(fn.Properties.VpcConfig.SubnetIds)).toEqual(privateSubnets);
    }
  });
});

describe('dev', () => {
  test('environment-agnostic, two AZs, one NAT, ECS Exec endpoint, DSQL and domain destroyed with the stack', () => {
    expect(dev.stack.config.env).toEqual({ account: undefined, region: undefined });
    dev.template.resourceCountIs('AWS::EC2::NatGateway', 1);
    dev.template.hasResource('AWS::DSQL::Cluster', { Properties: { DeletionProtectionEnabled: false }, DeletionPolicy: 'Delete' });
    dev.template.hasResource('AWS::OpenSearchService::Domain', { DeletionPolicy: 'Delete' });
    const names = Object.values(dev.resources).filter((r) => r.Type === 'AWS::EC2::VPCEndpoint').map((r) => JSON.stringify(r.Properties.ServiceName));
    expect(names.some((n) => n.includes('ssmmessages'))).toBe(true);
    dev.template.hasResourceProperties('AWS::ECS::Service', { EnableExecuteCommand: true });
    dev.template.hasResourceProperties('AWS::OpenSearchService::Domain', {
      ClusterConfig: Match.objectLike({ DedicatedMasterEnabled: false, InstanceCount: 2, ZoneAwarenessConfig: { AvailabilityZoneCount: 2 } }),
    });
  });
});

describe('cdk-nag AwsSolutions', () => {
  test.each(['prod', 'dev'])('%s: no unacknowledged findings', (env) => {
    const b = env === 'prod' ? prod : dev;
    expect(b.nagViolations).toEqual([]);
  });

  test('an unacknowledged finding is reported (the check can fail)', () => {
    const { app, stack } = buildApp('dev', { ...ENVIRONMENTS }, { quick: true });
    const iam = require('aws-cdk-lib/aws-iam');
    const role = new iam.Role(stack, 'TooBroad', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['s3:*'], resources: ['*'] }));
    app.synth();
    const report = new AwsSolutionsChecks(app).validateScope(app);
    expect(JSON.stringify(report.violations)).toContain('AwsSolutions-IAM5');
  });

  test('every acknowledgement carries a reason', () => {
    for (const b of [prod, dev]) {
      // Validations.acknowledge records { '<plugin>::<rule id>': reason } on the excused construct.
      const acks = b.stack.node.findAll().flatMap((c) => c.node.metadata
        .filter((m) => m.type === 'aws:cdk:acknowledged-rules')
        .flatMap((m) => Object.entries(m.data as Record<string, string>)))
        // aws-cdk-lib acknowledges some of its own CloudFormation-Validate rules; ours are the nag ones.
        .filter(([id]) => id.includes('AwsSolutions-'));
      expect(acks.length).toBeGreaterThan(5);
      for (const [id, reason] of acks) {
        expect(id).toMatch(/^(Annotation|AwsSolutions)::AwsSolutions-[A-Z]+\d+/);
        expect(reason.length).toBeGreaterThan(40);
      }
    }
  });
});

describe('synthesis', () => {
  test.each(['prod', 'dev'])('%s: no warnings or errors from the construct library', (env) => {
    const b = env === 'prod' ? prod : dev;
    const annotations = Annotations.fromStack(b.stack);
    // The one expected warning: prod's example values (tested in 'a first deploy that fails').
    const warnings = annotations.findWarning('*', Match.anyValue()).map((w) => String(w.entry.data));
    expect(warnings.filter((w) => !w.includes('[ack: temporal:exampleValues]'))).toEqual([]);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
  });
});

describe('snapshots (asset hashes redacted)', () => {
  test.each(['prod', 'dev'])('%s template', (env) => {
    const b = env === 'prod' ? prod : dev;
    expect(redactAssetHashes(b.template.toJSON())).toMatchSnapshot();
  });
});

describe('a first deploy that fails', () => {
  /** Properties that give a resource a fixed physical name, which a leftover would block on a retry. */
  const NAME_KEYS = ['DomainName', 'BackupVaultName', 'LogGroupName', 'Name', 'BucketName', 'TopicName', 'FunctionName', 'RoleName', 'ClusterName', 'SecretName', 'RepositoryName', 'AliasName'];
  const fixedName = (r: Resources[string]) => NAME_KEYS.find((k) => typeof r.Properties?.[k] === 'string');

  test.each(['prod', 'dev'])('%s: every kept resource is RetainExceptOnCreate, apart from the two with a reason; none with a fixed name keeps plain Retain', (env) => {
    const b = env === 'prod' ? prod : dev;
    const plainRetain: string[] = [];
    const keptWithFixedName: string[] = [];
    for (const [id, r] of Object.entries(b.resources)) {
      if (r.DeletionPolicy === 'Retain') plainRetain.push(`${r.Type} ${id}`);
      if (r.DeletionPolicy === 'Retain' && fixedName(r)) keptWithFixedName.push(`${id} ${fixedName(r)}=${r.Properties[fixedName(r)!]}`);
    }
    expect(keptWithFixedName).toEqual([]);
    // The exceptions (lib/platform-stack.ts): a deletion-protected DSQL cluster cannot be deleted by
    // a rollback, and ELB/S3 write access logs into the bucket within minutes; both names are generated.
    const cluster = logicalId(b, b.stack.dsqlCluster.resource);
    const accessLogs = b.stack.accessLogs ? [`AWS::S3::Bucket ${logicalId(b, b.stack.accessLogs.bucket)}`] : [];
    const expected = env === 'prod' ? [`AWS::DSQL::Cluster ${cluster}`, ...accessLogs] : [];
    expect(plainRetain.sort()).toEqual(expected.sort());
    if (env === 'prod') {
      expect(b.resources[cluster].Properties.DeletionProtectionEnabled).toBe(true);
      const kept = Object.values(b.resources).filter((r) => r.DeletionPolicy === 'RetainExceptOnCreate').map((r) => r.Type);
      for (const t of ['AWS::OpenSearchService::Domain', 'AWS::Backup::BackupVault', 'AWS::SecretsManager::Secret', 'AWS::Logs::LogGroup', 'AWS::S3::Bucket']) expect(kept).toContain(t);
    }
  });

  test('prod: a CloudFormation Rule refuses the deploy while the config holds example values, naming each field', () => {
    const rule = (prod.template.toJSON().Rules ?? {}).ConfigHasNoExampleValues;
    expect(rule).toBeDefined();
    expect(rule.RuleCondition).toBeUndefined(); // always evaluated
    const fields: string[] = [];
    for (const a of rule.Assertions) {
      // Fn::Equals of two different literals: false whatever the parameters, so CloudFormation stops.
      const [l, r] = a.Assert['Fn::Equals'];
      expect(typeof l === 'string' && typeof r === 'string' && l !== r).toBe(true);
      expect(a.AssertDescription).toMatch(/^(\S+) is an example value \(.+\); replace it in config\/prod\.ts before deploying$/);
      fields.push(a.AssertDescription.split(' ')[0]);
    }
    // Written out from config/prod.ts: every placeholder a team must replace (and the tests' image).
    expect(fields).toEqual([
      'security.auth.issuerUrl', 'security.auth.audience', 'ui.certificateArn', 'ui.domainName', 'ui.oidc.clientId', 'ui.oidc.clientSecretArn',
      'images.dockerHubCredentialArn', 'observability.alarmEmails[0]', 'namespaceAdmin.clientSecretArn', 'namespaceAdmin.tokenUrl',
    ]);
    const warnings = Annotations.fromStack(prod.stack).findWarning('*', Match.anyValue()).map((w) => String(w.entry.data));
    expect(warnings).toEqual([expect.stringContaining('10 example value(s) in config/prod.ts; synth works, a deploy is refused until they are replaced: security.auth.issuerUrl,')]);
  });

  test('dev: no example values, no rule', () => {
    expect(Object.keys(dev.template.toJSON().Rules ?? {})).not.toContain('ConfigHasNoExampleValues');
    expect(dev.stack.config.exampleValues).toEqual([]);
  });
});
