/**
 * Outbound rules of the platform's security groups (issue 24 item 5; docs/security.md "Egress").
 *
 * Every security group the platform makes is created with `allowAllOutbound: false`; what each one
 * may reach is added where it is known:
 * - between Temporal roles, to DSQL's PrivateLink endpoint (5432), to the OpenSearch domain (443),
 *   UI to frontend, namespaces job to the frontend NLB: by the `connections.allowFrom` calls that
 *   admit the traffic at the other end (aws-cdk-lib adds the matching egress rule);
 * - AWS APIs the tasks call (image pulls from ECR, awslogs, secrets, EMF metrics): 443 to the
 *   interface endpoints' security groups, and 443 to the S3 prefix list (ECR image layers and the
 *   archive bucket are S3) with {@link TemporalEgress.allowAwsApis};
 * - what only has a host name outside the VPC (an OpenID issuer's keys, an identity provider's
 *   token URL, a public registry, the public DSQL endpoint): the port to
 *   0.0.0.0/0, through the NAT gateways, with the reason as the rule's description
 *   ({@link internetEgressReasons}). Security groups match addresses, not names, so nothing
 *   narrower can be written for those.
 *
 * Traffic to the VPC resolver, the ECS task metadata and credentials endpoint (169.254.170.2) and
 * the Time Sync Service is not filtered by security groups (Amazon VPC User Guide, "Security group
 * rules"), so no rule is needed for it.
 */
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as cr from 'aws-cdk-lib/custom-resources';
import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { PlatformConfig } from '../config';
import { INTERNAL_FRONTEND_PORTS } from '../security/temporal-auth';
import { parseImageRef } from '../services/images';
import { TEMPORAL_ROLES, TemporalRole } from '../services/roles';
import { GRPC_CALLERS, TEMPORAL_PORTS } from '../services/temporal-services';
import type { TemporalNetwork } from './network';

/** Properties of {@link TemporalEgress}. */
export interface TemporalEgressProps {
  /** The network: its interface endpoints (by service short name), or none when it created none. */
  readonly network: TemporalNetwork;
  /** Retention of the lookup function's log group. @default ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** Removal policy of the lookup function's log group. @default DESTROY */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The shared part of the egress rules: the S3 prefix list's id (looked up at deploy time with
 * `ec2:DescribePrefixLists`, because CloudFormation has no attribute or parameter that yields the
 * AWS-managed `com.amazonaws.<region>.s3` list) and the rules to the AWS APIs.
 */
export class TemporalEgress extends Construct {
  /** Id of the Region's S3 prefix list (a deploy-time value), when the network has endpoints. */
  public readonly s3PrefixListId?: string;
  private readonly endpoints: Record<string, ec2.InterfaceVpcEndpoint>;

  constructor(scope: Construct, id: string, props: TemporalEgressProps) {
    super(scope, id);
    this.endpoints = props.network.interfaceEndpoints;
    if (Object.keys(this.endpoints).length > 0) {
      const name = `com.amazonaws.${Stack.of(this).region}.s3`;
      const lookup = new cr.AwsCustomResource(this, 'S3PrefixListLookup', {
        onUpdate: {
          service: 'EC2',
          action: 'DescribePrefixLists',
          parameters: { Filters: [{ Name: 'prefix-list-name', Values: [name] }] },
          physicalResourceId: cr.PhysicalResourceId.of(name),
          outputPaths: ['PrefixLists.0.PrefixListId'],
        },
        // DescribePrefixLists has no resource-level permissions.
        policy: cr.AwsCustomResourcePolicy.fromStatements([new iam.PolicyStatement({ actions: ['ec2:DescribePrefixLists'], resources: ['*'] })]),
        installLatestAwsSdk: false,
        logGroup: new logs.LogGroup(this, 'LookupLogs', {
          retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
          removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
        }),
      });
      Validations.of(lookup).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ec2:DescribePrefixLists has no resource-level permissions; the call is read-only and runs once per deploy',
      });
      // aws-cdk-lib's one AwsCustomResource function per stack (the DSQL adoption calls share it).
      const singleton = Stack.of(this).node.tryFindChild('AWS679f53fac002430cb0da5b7982bd2287');
      if (singleton) {
        Validations.of(singleton).acknowledge({
          id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
          reason: 'aws-cdk-lib\'s AwsCustomResource function (internal) uses AWSLambdaBasicExecutionRole for its own logs',
        });
      }
      this.s3PrefixListId = lookup.getResponseField('PrefixLists.0.PrefixListId');
    }
  }

  /**
   * Lets `sg` call AWS APIs: 443 to the security group of each interface endpoint named in
   * `services` (all of them by default) and to the S3 prefix list. Without VPC endpoints those
   * calls leave through the NAT gateways to public addresses: 443 to 0.0.0.0/0 instead.
   * @param who names the caller in the rules' descriptions
   * @throws Error when `services` names an endpoint the network does not have
   */
  public allowAwsApis(sg: ec2.ISecurityGroup, who: string, services?: readonly string[]): void {
    if (this.s3PrefixListId === undefined) {
      sg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), `${who}: AWS APIs through the NAT gateways (network.createVpcEndpoints is false)`);
      return;
    }
    for (const name of services ?? Object.keys(this.endpoints)) {
      const endpoint = this.endpoints[name];
      if (!endpoint) throw new Error(`no ${name} VPC endpoint (have ${Object.keys(this.endpoints).join(', ')})`);
      for (const epSg of endpoint.connections.securityGroups) {
        sg.addEgressRule(ec2.Peer.securityGroupId(epSg.securityGroupId), ec2.Port.tcp(443), `${who} to the ${name} endpoint`);
      }
    }
    if (services === undefined) {
      sg.addEgressRule(ec2.Peer.prefixList(this.s3PrefixListId), ec2.Port.tcp(443), `${who} to S3 (ECR image layers, archival)`);
    }
  }

  /**
   * Lets `sg` reach itself on `ports`. aws-cdk-lib's `connections.allowFrom(sameGroup)` adds the
   * ingress rule only, so a self-referencing path (history to another history task) needs this.
   */
  public allowSelf(sg: ec2.ISecurityGroup, ports: readonly number[], who: string): void {
    for (const port of ports) sg.addEgressRule(sg, ec2.Port.tcp(port), `${who} to its own role on ${port}`);
  }

  /**
   * Removes every outbound rule of a security group made elsewhere with `allowAllOutbound: true`,
   * for the one aws-cdk-lib's OpenSearch Domain creates: the egress list becomes the single rule
   * aws-cdk-lib itself renders for `allowAllOutbound: false` (ICMP type 252 code 86 to
   * 255.255.255.255/32, which matches no traffic; CloudFormation would otherwise add allow-all).
   * The domain keeps its own group on purpose: passing it a new one is "adding or removing VPC
   * security groups", which OpenSearch Service applies with a blue/green deployment (Amazon
   * OpenSearch Service Developer Guide, "Making configuration changes"); editing the rules of the
   * same group is an in-place update. Only for groups whose members never open connections:
   * replies to inbound connections are allowed regardless (security groups are stateful).
   */
  public static closeOutbound(sg: ec2.ISecurityGroup): void {
    const cfn = sg.node.defaultChild as ec2.CfnSecurityGroup;
    cfn.addPropertyOverride('SecurityGroupEgress', [{ CidrIp: '255.255.255.255/32', Description: 'Disallow all traffic', IpProtocol: 'icmp', FromPort: 252, ToPort: 86 }]);
  }

  /**
   * The separate `AWS::EC2::SecurityGroupEgress` resources in `scope` (rules to other security
   * groups and to the prefix list; CloudFormation creates them apart from the group), as a lookup by
   * security group. One walk of the construct tree, however many groups are asked for. What runs
   * behind a group should depend on its rules, so that no task or job starts before its way out exists.
   */
  public static egressRulesBySecurityGroup(scope: Construct): (sg: ec2.ISecurityGroup) => ec2.CfnSecurityGroupEgress[] {
    const rules = scope.node.findAll().filter((c): c is ec2.CfnSecurityGroupEgress => c instanceof ec2.CfnSecurityGroupEgress);
    return (sg) => rules.filter((r) => r.groupId === sg.securityGroupId);
  }

  /** Lets `sg` reach `port` (443 by default) anywhere, for the `reasons` given (joined into the description). */
  public allowInternet(sg: ec2.ISecurityGroup, reasons: readonly string[], port = 443): void {
    if (reasons.length === 0) return;
    sg.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(port), reasons.join('; ').slice(0, 255));
  }
}

/**
 * The ports a server role calls on tasks of its own role (same security group): its membership
 * port, its gRPC port when it calls itself ({@link GRPC_CALLERS}), and for the frontend task the
 * internal-frontend's membership port.
 */
export function selfPorts(role: TemporalRole): number[] {
  const ports: number[] = [TEMPORAL_PORTS[role].membership];
  if (GRPC_CALLERS[role].includes(role)) ports.push(TEMPORAL_PORTS[role].grpc);
  if (role === 'frontend') ports.push(INTERNAL_FRONTEND_PORTS.membership);
  return ports;
}

/** What must reach the internet on 443, by security group, for one environment (empty lists: nothing). */
export interface InternetEgressReasons {
  /** Each server role's task (the server and its collector sidecar). */
  readonly servers: Readonly<Record<TemporalRole, readonly string[]>>;
  /** The UI task. */
  readonly ui: readonly string[];
  /** The namespaces job (in-VPC Lambda function). */
  readonly namespaces: readonly string[];
  /** Port 5432 to 0.0.0.0/0 for servers and the schema job: DSQL's public endpoint (no PrivateLink). */
  readonly dsqlPublicEndpoint: boolean;
}

/**
 * Works out, from the configuration, which security groups must reach a host name outside the VPC
 * and why (each reason becomes the rule's description). The frontend checks tokens against the
 * issuer's JWKS; the UI talks to its OpenID provider; the namespaces job gets its token from the
 * token URL; an imported AMP workspace in an environment-agnostic stack may be in another Region; a task pulling
 * from a public registry (`images.source: 'public'`, or a server image outside ECR) reaches it.
 */
export function internetEgressReasons(config: PlatformConfig): InternetEgressReasons {
  const servers = Object.fromEntries(TEMPORAL_ROLES.map((r) => [r, [] as string[]])) as Record<TemporalRole, string[]>;
  const ui: string[] = [];
  const namespaces: string[] = [];
  const publicPull = (ref: string) => parseImageRef(ref).registry !== 'ecr-private' && (config.images.source === 'public' || parseImageRef(ref).registry === 'other');
  if (config.security.auth) servers.frontend.push('Frontend to the token issuer (JWKS over HTTPS)');
  // AMP remote write goes through the aps-workspaces endpoint (lib/network/network.ts), unless the
  // workspace is imported by ARN into a stack whose Region is not known at synth (it may be another Region).
  const amp = config.observability.managedPrometheus;
  if (config.observability.metricsCollector && amp !== undefined && amp !== 'create' && !config.env.region) {
    for (const r of TEMPORAL_ROLES) servers[r].push('Collector to Amazon Managed Prometheus (workspace Region unknown at synth)');
  }
  if (config.observability.metricsCollector && publicPull(config.observability.collectorImage)) {
    for (const r of TEMPORAL_ROLES) servers[r].push('Collector image from a public registry');
  }
  if (config.serverImage !== undefined && parseImageRef(config.serverImage).registry !== 'ecr-private') {
    for (const r of TEMPORAL_ROLES) servers[r].push('Server image from a registry outside ECR');
  }
  if (config.ui.oidc) ui.push('UI to its OpenID provider (discovery, token, keys)');
  if (publicPull(config.uiImage)) ui.push('UI image from a public registry');
  if (config.namespaceAdmin) namespaces.push('Namespaces job to the identity provider token URL');
  return { servers, ui, namespaces, dsqlPublicEndpoint: !config.dsql.privateLink };
}
