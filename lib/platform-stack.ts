import * as path from 'path';
import { exampleValueMessage } from './example-values';
import { Annotations, Aspects, CfnOutput, CfnRule, Duration, Fn, RemovalPolicy, Stack, StackProps, Tags, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { TemporalAccessLogs } from './observability/access-logs';
import { TemporalArchival } from './archival/archival';
import { TemporalDsqlBackup } from './dsql/backup';
import { TemporalCertificates } from './security/certificates';
import { EncryptLogGroups, TemporalPlatformKey } from './security/platform-key';
import { PlatformConfig } from './config';
import { TEMPORAL_ROLES, TemporalRole } from './services/roles';
import { TemporalDsqlCluster } from './dsql/dsql-cluster';
import { TemporalDsqlSchema } from './dsql/dsql-schema';
import { buildDynamicConfig } from './services/dynamic-config';
import { historyCacheDynamicConfig } from './services/history-cache';
import { SHUTDOWN_DYNAMIC_CONFIG } from './services/scaling';
import { TemporalNamespaces } from './namespaces/namespaces';
import { internetEgressReasons, selfPorts, TemporalEgress } from './network/egress';
import { TemporalNetwork } from './network/network';
import { TemporalObservability } from './observability/observability';
import { TemporalMetricsCollector } from './observability/otel-collector';
import { TemporalImageSource } from './services/images';
import { resolveServerImage } from './services/server-image';
import { dsqlVpcOnlyPolicy, TemporalServerTls } from './security/temporal-auth';
import { TemporalServices } from './services/temporal-services';
import { TemporalVisibilityDomain } from './visibility/visibility-domain';
import { TemporalVisibilityIndex } from './visibility/visibility-index';
import { MultiRegionStackProps, serverTaskRoleName } from './multi-region/config';
import { TemporalDsqlClusterProps } from './dsql/dsql-cluster';

import { REPO_ROOT } from './repo-root';

export { REPO_ROOT };

/** Properties of {@link TemporalPlatformStack}. */
export interface TemporalPlatformStackProps extends StackProps {
  /** The resolved environment configuration (`resolveConfig`). */
  readonly config: PlatformConfig;
  /**
   * The Temporal server image. @default - from `config.serverImage`, else built from
   * `docker/temporal-server/Dockerfile`; synth fails when neither exists.
   */
  readonly serverImage?: ecs.ContainerImage;
  /** The server image build context. @default `<repo>/docker/temporal-server` */
  readonly serverImageContext?: string;
  /** The default dynamic config file. @default `<repo>/docker/temporal-server/config/dynamicconfig/default.yaml` */
  readonly dynamicConfigFile?: string;
  /**
   * One Region of a multi-Region environment (lib/multi-region/config.ts): the cluster is peered
   * (`MultiRegionProperties`), the server task role has a fixed name and the schema job maps the
   * peer Region's task role too, the dashboard name carries the Region, and the cluster ARN is an
   * output. @default - single-Region
   */
  readonly multiRegion?: MultiRegionStackProps;
}

/**
 * A config removal policy as CloudFormation applies it. `retain` is RETAIN_ON_UPDATE_OR_DELETE
 * (CloudFormation's `RetainExceptOnCreate`): the resource outlives a replacement and the stack's
 * deletion, but a first deploy that rolls back deletes what it created, so the retry never meets a
 * leftover with the same fixed name (the OpenSearch domain, the backup vault, the metrics log group)
 * and no orphan CA secret stays behind. Source: AWS CloudFormation User Guide, "DeletionPolicy
 * attribute" (RetainExceptOnCreate). Two resources keep plain `Retain`, each for its reason at its
 * use: a deletion-protected DSQL cluster and the access-logs bucket.
 */
const removal = (p: 'retain' | 'destroy') => (p === 'retain' ? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE : RemovalPolicy.DESTROY);

/**
 * The properties of an environment's DSQL cluster that do not depend on other resources (shared by
 * the platform stack and the multi-Region cluster-only stack of lib/multi-region/cluster-stack.ts,
 * which must declare the very same cluster).
 */
export function dsqlClusterProps(config: PlatformConfig, multiRegion?: MultiRegionStackProps): TemporalDsqlClusterProps {
  return {
    deletionProtection: config.dsql.deletionProtection,
    kmsKeyArn: config.dsql.kmsKeyArn,
    name: `temporal-${config.envName}`,
    // A deletion-protected cluster cannot be deleted by a rollback (DeleteCluster is refused), and
    // RetainExceptOnCreate would turn a failed first deploy into ROLLBACK_FAILED. So it keeps plain
    // Retain: its identifier is generated, a retry creates a new one beside it, and the leftover
    // empty cluster is named in docs/operations.md ("A first deploy that failed") with its cleanup.
    removalPolicy: config.dsql.deletionProtection && config.removalPolicies.dsqlCluster === 'retain'
      ? RemovalPolicy.RETAIN : removal(config.removalPolicies.dsqlCluster),
    existingClusterId: config.dsql.existingCluster,
    multiRegion: multiRegion && { witnessRegion: multiRegion.witnessRegion, clusters: multiRegion.clusterArns },
  };
}

/** The stack description (the same in every phase of a multi-Region environment). */
export function platformStackDescription(config: PlatformConfig): string {
  return `Temporal on Aurora DSQL (${config.envName}): DSQL persistence, OpenSearch visibility, ECS Fargate services`;
}

/**
 * The whole Temporal-on-DSQL platform of one environment: network, DSQL cluster (with its
 * PrivateLink endpoint), OpenSearch visibility domain and the Temporal services on Fargate.
 *
 * The constructor is the deploy order: each construct gets what it needs when it is built. Two links
 * run backwards, because the constructs on both ends exist only together and moving one would change
 * logical ids: the schema job maps the database role to the server task role the services make, so
 * the services wait for it with `services.addStartupDependency`; and the archive bucket logs to the UI
 * ALB's access-log bucket, so its `ARCHIVAL_S3_URI` reaches the servers with `addServerEnvironment`.
 * docs/architecture.md.
 */
export class TemporalPlatformStack extends Stack {
  /** The resolved configuration. */
  public readonly config: PlatformConfig;
  /** The network (VPC, endpoints). */
  public readonly network: TemporalNetwork;
  /** The VPC. */
  public readonly vpc: ec2.IVpc;
  /** The private subnets (one per AZ) for tasks and in-VPC Lambda functions. */
  public readonly privateSubnets: ec2.SubnetSelection;
  /** The DSQL cluster: identifier, endpoints, ARN, `grantConnect`, `grantConnectAdmin`, `connections`. */
  public readonly dsqlCluster: TemporalDsqlCluster;
  /** The OpenSearch domain: endpoint, ARN, `allowIndexJob(role)`, `connections`. */
  public readonly visibility: TemporalVisibilityDomain;
  /** The ECS services of the four roles and the UI, their load balancers and the server task role. */
  public readonly services: TemporalServices;
  /** Task role of the Temporal servers (map the database role to its ARN with `AWS IAM GRANT`). */
  public readonly serverTaskRole: iam.IRole;
  /**
   * Security group for the schema and index jobs (in-VPC Lambda functions): it may reach the DSQL
   * PrivateLink endpoint on 5432 and the OpenSearch domain on 443.
   */
  public readonly jobSecurityGroup: ec2.SecurityGroup;
  /** History shard count (never changes after the first deploy). */
  public readonly numHistoryShards: number;
  /** Visibility index name. */
  public readonly visibilityIndexName: string;
  /** Database role the servers log in as. */
  public readonly databaseRoleName: string;
  /** The dynamic config YAML every role receives. */
  public readonly dynamicConfigYaml: string;
  /** Deploy-time guard of `numHistoryShards` (see README); every service depends on it. */
  public readonly shardCountPin: ssm.StringParameter;
  /** The DSQL schema job (`Custom::TemporalDsqlSchema`): schema, server database role, IAM mapping. */
  public readonly schema: TemporalDsqlSchema;
  /** The visibility index job (`Custom::TemporalVisibilityIndex`): template and index. */
  public readonly visibilityIndex: TemporalVisibilityIndex;
  /** AWS Backup of the DSQL cluster (vault, plan, selection), unless `backup.enabled` is false. */
  public readonly backup?: TemporalDsqlBackup;
  /**
   * Access logs of the UI ALB (encrypted S3 bucket). Only when the stack has a concrete region
   * (`env.region`): ELB's log delivery principal depends on the Region. @default - none in an environment-agnostic stack
   */
  public readonly accessLogs?: TemporalAccessLogs;
  /** The archive bucket of closed workflows (history and visibility), unless `archival.enabled` is false. */
  public readonly archival?: TemporalArchival;
  /** Namespaces and custom search attributes (`Custom::TemporalNamespaces`), when the environment lists any. */
  public readonly namespaces?: TemporalNamespaces;
  /** Alarms (SNS topic) and dashboard, unless `observability.enabled` is false (docs/operations.md). */
  public readonly observability?: TemporalObservability;
  /** TLS certificates of the roles (CA, internode, frontend), unless `security.allowPlaintext` (docs/security.md). */
  public readonly certificates?: TemporalCertificates;
  /** The platform KMS key (`security.kmsKeyArn`, or created in production), or undefined. */
  public readonly platformKey?: kms.IKey;
  /** Where the UI and collector images come from: the ECR pull-through cache rules (production) or the public registries. */
  public readonly imageSource: TemporalImageSource;
  /** Outbound rules of the security groups (lib/network/egress.ts). */
  public readonly egress: TemporalEgress;
  /** The ADOT collector sidecars (Temporal metrics to CloudWatch EMF and optionally AMP), unless `observability.metricsCollector` is false. */
  public readonly metricsCollector?: TemporalMetricsCollector;

  constructor(scope: Construct, id: string, props: TemporalPlatformStackProps) {
    super(scope, id, {
      ...props,
      env: props.env ?? (props.config.env.account || props.config.env.region ? props.config.env : undefined),
      description: props.description ?? platformStackDescription(props.config),
    });
    const config = props.config;
    this.config = config;
    this.numHistoryShards = config.numHistoryShards;
    this.visibilityIndexName = config.opensearch.visibilityIndex;
    this.databaseRoleName = config.dsql.databaseRole;
    const logRetention = config.logRetentionDays as logs.RetentionDays;
    const logRemovalPolicy = removal(config.removalPolicies.logs);
    Tags.of(this).add('project', 'temporal-dsql');
    Tags.of(this).add('environment', config.envName);
    Tags.of(this).add('temporal:version', config.temporalVersion);
    for (const [k, v] of Object.entries(config.tags)) Tags.of(this).add(k, v);

    // Resolve inputs that can fail before creating resources, so errors come first and clearly.
    const serverImage = props.serverImage
      ?? resolveServerImage(this, config.serverImage, props.serverImageContext ?? path.join(REPO_ROOT, 'docker', 'temporal-server'),
        config.cpuArchitecture === 'arm64' ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64);
    // Example values (config/prod.ts ships some): the template synthesizes, but CloudFormation's rule
    // check runs before any resource is created and refuses the deploy, naming every field.
    if (config.exampleValues.length > 0) {
      new CfnRule(this, 'ConfigHasNoExampleValues', {
        assertions: config.exampleValues.map((e) => ({
          // Always false: the rule exists only while the config holds an example value.
          assert: Fn.conditionEquals(e.field, 'a value of your own'),
          assertDescription: exampleValueMessage(e, config.envName),
        })),
      });
      Annotations.of(this).addWarningV2('temporal:exampleValues',
        `${config.exampleValues.length} example value(s) in config/${config.envName}.ts; synth works, a deploy is refused until they are replaced: ` +
        config.exampleValues.map((e) => e.field).join(', '));
    }

    this.dynamicConfigYaml = buildDynamicConfig(
      props.dynamicConfigFile ?? path.join(REPO_ROOT, 'docker', 'temporal-server', 'config', 'dynamicconfig', 'default.yaml'),
      // history's mutable-state cache bounded by the history task's memory (lib/services/history-cache.ts)
      { ...SHUTDOWN_DYNAMIC_CONFIG, ...historyCacheDynamicConfig(config.services.history.memoryMiB), ...config.dynamicConfig },
    );

    this.network = new TemporalNetwork(this, 'Network', {
      azCount: config.network.azCount,
      availabilityZones: config.network.availabilityZones,
      natGateways: config.network.natGateways,
      cidr: config.network.cidr,
      existingVpc: config.network.existingVpc && {
        vpcId: config.network.existingVpc.vpcId,
        vpcCidrBlock: config.network.existingVpc.cidr,
        availabilityZones: config.network.existingVpc.availabilityZones,
        privateSubnetIds: config.network.existingVpc.privateSubnetIds,
        privateSubnetRouteTableIds: config.network.existingVpc.privateSubnetRouteTableIds,
      },
      createVpcEndpoints: config.network.createVpcEndpoints,
      enableEcsExec: config.enableEcsExec,
      enableManagedPrometheus: config.observability.metricsCollector && config.observability.managedPrometheus !== undefined,
      flowLogRetention: logRetention,
      logRemovalPolicy,
    });
    this.vpc = this.network.vpc;
    this.privateSubnets = this.network.privateSubnets;

    // The platform KMS key (production, or security.kmsKeyArn): certificate secrets, every log
    // group (aspect), backup vault, archival bucket, alarm topic (lib/security/platform-key.ts).
    if (config.security.platformKey) {
      this.platformKey = new TemporalPlatformKey(this, 'PlatformKey', {
        envName: config.envName,
        keyArn: config.security.platformKey === 'create' ? undefined : config.security.platformKey,
      }).key;
      Aspects.of(this).add(new EncryptLogGroups(this.platformKey));
    }
    const dataKeyArn = config.dsql.kmsKeyArn ?? this.platformKey?.keyArn;

    const mr = props.multiRegion;
    this.dsqlCluster = new TemporalDsqlCluster(this, 'Dsql', {
      ...dsqlClusterProps(config, mr),
      vpc: config.dsql.privateLink ? this.vpc : undefined,
      vpcSubnets: this.privateSubnets,
    });
    // Data guard: with PrivateLink every caller (servers, schema job) is in our VPC, so the cluster's
    // resource policy denies DbConnect/DbConnectAdmin from anywhere else (lib/security/temporal-auth.ts).
    if (config.dsql.privateLink) {
      this.dsqlCluster.setPolicy(dsqlVpcOnlyPolicy(this.vpc.vpcId, config.dsql.adminPrincipals));
    }

    // TLS material (lib/security/certificates.ts): the servers fetch their two certificate secrets themselves;
    // the frontend certificate gets the NLB's and the Cloud Map name once the services exist (below).
    let tls: TemporalServerTls | undefined;
    if (config.security.tls) {
      this.certificates = new TemporalCertificates(this, 'Certificates', {
        privateCaArn: config.security.tls.privateCaArn,
        encryptionKey: config.security.tls.kmsKeyArn ? kms.Key.fromKeyArn(this, 'CertificatesKey', config.security.tls.kmsKeyArn) : this.platformKey,
        logRetention,
        logRemovalPolicy,
      });
      tls = { internodeSecret: this.certificates.internodeSecret, frontendSecret: this.certificates.frontendSecret, caBundle: this.certificates.caBundle };
    }

    this.visibility = new TemporalVisibilityDomain(this, 'Visibility', {
      vpc: this.vpc,
      vpcSubnets: { ...this.privateSubnets, onePerAz: true },
      azCount: config.network.azCount,
      domainName: config.opensearch.domainName,
      engineVersion: config.opensearch.engineVersion,
      dataNodeInstanceType: config.opensearch.dataNodeInstanceType,
      dataNodes: config.opensearch.dataNodes,
      masterNodes: config.opensearch.masterNodes,
      masterNodeInstanceType: config.opensearch.masterNodeInstanceType,
      volumeSizeGiB: config.opensearch.volumeSizeGiB,
      multiAzWithStandby: config.opensearch.multiAzWithStandby,
      fineGrainedAccessControl: config.opensearch.fineGrainedAccessControl,
      auditLogs: config.opensearch.auditLogs,
      logRetention,
      logRemovalPolicy,
      removalPolicy: removal(config.removalPolicies.visibilityDomain),
    });

    // Deploy-time guard of numHistoryShards: the logical id carries the count and the name is fixed.
    // A changed count makes CloudFormation create a second parameter with the same name before it
    // deletes the old one; that create fails ("already exists") and the update rolls back before
    // any ECS service (all depend on it) picks up the new count.
    this.shardCountPin = new ssm.StringParameter(this, `NumHistoryShardsPin${config.numHistoryShards}`, {
      parameterName: `/temporal/${this.stackName}/num-history-shards`,
      stringValue: String(config.numHistoryShards),
      description: 'Temporal numHistoryShards, pinned at the first deploy. It can never change: a stack update that changes it fails here.',
    });

    // UI and collector images: public registries, or this account's ECR pull-through cache (lib/services/images.ts).
    this.imageSource = new TemporalImageSource(this, 'Images', { envName: config.envName, config: config.images });

    this.services = new TemporalServices(this, 'Temporal', {
      vpc: this.vpc,
      serverTaskRoleName: mr && serverTaskRoleName(config.envName, this.region),
      // No task starts before both certificate secrets hold a certificate, the shard count is pinned and
      // (DSQL_ENDPOINT names the PrivateLink host, which only resolves once it exists) the endpoint is up.
      startupDependencies: [
        ...(this.certificates ? [this.certificates.resource] : []),
        this.shardCountPin,
        ...(this.dsqlCluster.vpcEndpoint ? [this.dsqlCluster.vpcEndpoint] : []),
      ],
      vpcSubnets: this.privateSubnets,
      serverImage,
      server: {
        dsqlEndpoint: this.dsqlCluster.connectEndpoint,
        dsqlRegion: this.region,
        databaseRole: config.dsql.databaseRole,
        openSearchEndpoint: `https://${this.visibility.domainEndpoint}`,
        openSearchRegion: this.region,
        visibilityIndex: config.opensearch.visibilityIndex,
        numHistoryShards: config.numHistoryShards,
        dynamicConfigYaml: this.dynamicConfigYaml,
        logLevel: config.logLevel,
      },
      sizing: config.services,
      uiImage: this.imageSource.containerImage(config.uiImage),
      namespaceName: `temporal-${config.envName}.internal`,
      clientPeers: (config.network.clientCidrs ?? [this.network.vpcCidr]).map((c) => ec2.Peer.ipv4(c)),
      // Straight to the frontend tasks (Cloud Map name) only from explicitly configured client CIDRs.
      frontendClientPeers: (config.network.clientCidrs ?? []).map((c) => ec2.Peer.ipv4(c)),
      auth: config.security.auth,
      tls,
      uiSecurity: {
        readOnly: config.ui.readOnly,
        oidc: config.ui.oidc && {
          ...config.ui.oidc,
          clientSecret: secretsmanager.Secret.fromSecretCompleteArn(this, 'UiOidcClientSecret', config.ui.oidc.clientSecretArn),
        },
      },
      uiCertificateArn: config.ui.certificateArn,
      logRetention,
      logRemovalPolicy,
      stopTimeout: Duration.seconds(config.stopTimeoutSeconds),
      autoscaling: config.autoscaling.enabled ? {
        roles: config.autoscaling.roles,
        targetCpuPercent: config.autoscaling.targetCpuPercent,
        scaleOutCooldown: Duration.seconds(config.autoscaling.scaleOutCooldownSeconds),
        scaleInCooldown: Duration.seconds(config.autoscaling.scaleInCooldownSeconds),
      } : undefined,
      enableEcsExec: config.enableEcsExec,
      cpuArchitecture: config.cpuArchitecture === 'arm64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
    });
    this.serverTaskRole = this.services.serverTaskRole;
    if (this.certificates) {
      this.certificates.addFrontendDnsName(this.services.frontendLoadBalancer.loadBalancerDnsName);
      this.certificates.addFrontendDnsName(this.services.frontendAddress.split(':')[0]);
    }

    // Server access: DSQL as the non-admin role, OpenSearch through the access policy.
    this.dsqlCluster.grantConnect(this.serverTaskRole);
    this.visibility.grantAccess(this.serverTaskRole, config.opensearch.visibilityIndex);
    for (const role of TEMPORAL_ROLES) {
      const sg = this.services.securityGroups[role];
      this.dsqlCluster.connections.allowDefaultPortFrom(sg, `Temporal ${role} to DSQL`);
      this.visibility.connections.allowFrom(sg, ec2.Port.tcp(443), `Temporal ${role} to OpenSearch`);
    }

    // Security group for the schema and index jobs.
    this.jobSecurityGroup = new ec2.SecurityGroup(this, 'JobSecurityGroup', {
      vpc: this.vpc,
      description: 'Temporal schema and visibility index jobs (Lambda): DSQL and OpenSearch',
      allowAllOutbound: false,
    });
    this.dsqlCluster.connections.allowDefaultPortFrom(this.jobSecurityGroup, 'Schema job to DSQL');
    this.visibility.connections.allowFrom(this.jobSecurityGroup, ec2.Port.tcp(443), 'Index job to OpenSearch');

    // The schema job: applies the versioned DSQL schema as admin, creates the servers' database
    // role and maps it to the server task role. It connects through the PrivateLink endpoint.
    this.schema = new TemporalDsqlSchema(this, 'DsqlSchema', {
      cluster: this.dsqlCluster,
      vpc: this.vpc,
      vpcSubnets: this.privateSubnets,
      securityGroups: [this.jobSecurityGroup],
      serverTaskRole: this.serverTaskRole,
      serverRoleName: this.databaseRoleName,
      peerServerTaskRoleArns: mr && [this.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: serverTaskRoleName(config.envName, mr.peerRegion) })],
      logRetention,
      logRemovalPolicy,
    });
    if (this.dsqlCluster.vpcEndpoint) this.schema.node.addDependency(this.dsqlCluster.vpcEndpoint);

    // The visibility index job: template first, then the index. Its role enters the domain's access
    // policy with only the requests the handler makes (the domain ARN is built from the name: the
    // domain's own Arn attribute inside its access policy would be circular).
    this.visibilityIndex = new TemporalVisibilityIndex(this, 'VisibilityIndex', {
      domain: this.visibility.domain,
      vpc: this.vpc,
      vpcSubnets: this.privateSubnets,
      securityGroups: [this.jobSecurityGroup],
      indexName: this.visibilityIndexName,
      logRetention,
      logRemovalPolicy,
      // With fine-grained access control the job is the domain's IAM master user and maps the servers
      // (docs/security.md, "OpenSearch fine-grained access control and audit logs").
      fineGrainedAccessControl: config.opensearch.fineGrainedAccessControl ? {
        serverPrincipalArns: [this.serverTaskRole.roleArn],
        allAccessPrincipals: config.opensearch.allAccessPrincipals,
        readAllPrincipals: config.opensearch.readAllPrincipals,
        auditLogs: config.opensearch.auditLogs,
      } : undefined,
    });
    this.visibility.addAccessPolicyStatements(...this.visibilityIndex.accessPolicyStatements(this.visibility.policyDomainArn));
    if (config.opensearch.fineGrainedAccessControl) {
      this.visibility.setMasterUser(this.visibilityIndex.role);
      this.visibility.allowOperators([...config.opensearch.allAccessPrincipals, ...config.opensearch.readAllPrincipals]);
    }

    // Services start only once the schema and the index are in place.
    this.services.addStartupDependency(this.schema.resource, this.visibilityIndex.resource);

    // UI ALB access logs, kept as long as the CloudWatch logs and retained like them. ELB's log
    // delivery principal depends on the Region, so an environment-agnostic stack gets none.
    if (!Token.isUnresolved(this.region)) {
      this.accessLogs = new TemporalAccessLogs(this, 'AccessLogs', {
        loadBalancer: this.services.uiLoadBalancer,
        retentionDays: config.logRetentionDays,
        // Plain Retain: ELB and S3 write access logs into it within minutes of creation, and a
        // rollback cannot delete a bucket that is not empty (its name is generated: no collision).
        removalPolicy: config.removalPolicies.logs === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      });
    } else {
      Annotations.of(this).addInfo('UI ALB access logs are off: set env.region for this environment to turn them on.');
    }

    // Archival of closed workflows to S3 (upstream's s3store archiver; docs/operations.md, "Archival").
    // The bucket outlives the stack whatever the environment's removal policies say.
    if (config.archival.enabled) {
      this.archival = new TemporalArchival(this, 'Archival', {
        kmsKeyArn: dataKeyArn,
        transitionDays: config.archival.transitionDays,
        storageClass: config.archival.storageClass,
        accessLogsBucket: this.accessLogs?.bucket,
      });
      this.archival.grantArchiver(this.serverTaskRole);
      this.services.addServerEnvironment(this.archival.serverEnvironment());
      new CfnOutput(this, 'ArchivalUri', { value: this.archival.uri, description: 'Archiver URI of history and visibility archival (namespaces archive here)' });
    }

    // Namespaces and custom search attributes as code (lib/namespaces/namespaces.ts), applied through the NLB
    // once the frontend service is steady. Never deletes a namespace.
    if (config.namespaces.length > 0 || config.searchAttributes.length > 0) {
      this.namespaces = new TemporalNamespaces(this, 'Namespaces', {
        namespaces: config.namespaces,
        searchAttributes: config.searchAttributes,
        frontendAddress: `${this.services.frontendLoadBalancer.loadBalancerDnsName}:7233`,
        frontendConnections: this.services.frontendLoadBalancer,
        dependsOn: [this.services.services.frontend, this.services.frontendListener],
        archivalUri: this.archival?.uri,
        admin: config.namespaceAdmin,
        // The frontend serves TLS with a certificate naming the NLB, chained to the stack's CA.
        tls: this.certificates ? { caCertificatePem: this.certificates.caBundle } : undefined,
        vpc: this.vpc,
        vpcSubnets: this.privateSubnets,
        logRetention,
        logRemovalPolicy,
      });
    }

    // Egress (lib/network/egress.ts): roles, DSQL, OpenSearch and the NLB were added with the ingress
    // rules above; here the AWS APIs and what only has a host name outside the VPC.
    this.egress = new TemporalEgress(this, 'Egress', { network: this.network, logRetention, logRemovalPolicy });
    const internet = internetEgressReasons(config);
    const uiSg = this.services.services.ui.connections.securityGroups[0];
    for (const role of TEMPORAL_ROLES) {
      this.egress.allowSelf(this.services.securityGroups[role], selfPorts(role), `Temporal ${role}`);
      this.egress.allowAwsApis(this.services.securityGroups[role], `Temporal ${role}`);
      this.egress.allowInternet(this.services.securityGroups[role], internet.servers[role]);
      if (internet.dsqlPublicEndpoint) this.egress.allowInternet(this.services.securityGroups[role], ['DSQL public endpoint (dsql.privateLink false)'], 5432);
    }
    this.egress.allowAwsApis(uiSg, 'Temporal UI');
    // The domain's nodes only answer (OpenSearch makes its snapshots outside the VPC): no outbound rule.
    for (const sg of this.visibility.connections.securityGroups) TemporalEgress.closeOutbound(sg);
    this.egress.allowInternet(uiSg, internet.ui);
    if (internet.dsqlPublicEndpoint) this.egress.allowInternet(this.jobSecurityGroup, ['DSQL public endpoint (dsql.privateLink false)'], 5432);
    if (this.namespaces) {
      const nsSg = this.namespaces.connections.securityGroups[0];
      if (config.namespaceAdmin) this.egress.allowAwsApis(nsSg, 'Namespaces job', ['secretsmanager']);
      this.egress.allowInternet(nsSg, internet.namespaces);
    }

    // AWS Backup of the DSQL cluster (restore procedure: docs/operations.md).
    if (config.backup.enabled) {
      this.backup = new TemporalDsqlBackup(this, 'Backup', {
        clusterArn: this.dsqlCluster.clusterArn,
        vaultName: `temporal-${config.envName}-dsql`,
        schedule: config.backup.schedule,
        retention: Duration.days(config.backup.retentionDays),
        kmsKeyArn: dataKeyArn,
        removalPolicy: removal(config.removalPolicies.dsqlCluster),
        blockRecoveryPointDeletion: config.backup.blockRecoveryPointDeletion,
        vaultLock: config.backup.vaultLock && {
          minRetention: Duration.days(config.backup.vaultLock.minRetentionDays),
          maxRetention: config.backup.vaultLock.maxRetentionDays === undefined ? undefined : Duration.days(config.backup.vaultLock.maxRetentionDays),
          changeableFor: config.backup.vaultLock.changeableForDays === undefined ? undefined : Duration.days(config.backup.vaultLock.changeableForDays),
        },
        copyTo: config.backup.copyTo && { vaultArn: config.backup.copyTo.vaultArn, retention: Duration.days(config.backup.copyTo.retentionDays) },
        optInCheck: config.backup.optInCheck,
        logRetention,
        logRemovalPolicy,
      });
      if (this.backup.optInCheck) {
        new CfnOutput(this, 'BackupOptIn', { value: this.backup.optInCheck.message, description: 'AWS Backup opt-in for Aurora DSQL in this Region, as checked during the deploy' });
      }
    }

    // Metrics out of the server tasks: ADOT collector sidecars (lib/observability/otel-collector.ts).
    if (config.observability.metricsCollector) {
      const roleMap = <T>(f: (role: TemporalRole) => T) => Object.fromEntries(TEMPORAL_ROLES.map((r) => [r, f(r)])) as Record<TemporalRole, T>;
      const amp = config.observability.managedPrometheus;
      this.metricsCollector = new TemporalMetricsCollector(this, 'MetricsCollector', {
        envName: config.envName,
        taskDefinitions: roleMap((r) => this.services.services[r].taskDefinition),
        roleLogGroups: roleMap((r) => this.services.logGroups[r]),
        taskRole: this.services.serverTaskRole,
        image: this.imageSource.containerImage(config.observability.collectorImage),
        managedPrometheus: amp === undefined ? undefined : amp === 'create' ? { create: true } : { workspaceArn: amp },
        logRetention,
        logRemovalPolicy,
      });
    }

    // Alarms and dashboard on AWS metrics (lib/observability/aws-metrics.ts) and Temporal metrics; runbook in docs/operations.md.
    if (config.observability.enabled) {
      const only = <T>(scope: Construct, type: new (...a: any[]) => T): T => {
        const found = scope.node.findAll().filter((c): c is any => c instanceof type);
        if (found.length !== 1) throw new Error(`expected one ${type.name} under ${scope.node.path}, found ${found.length}`);
        return found[0];
      };
      this.observability = new TemporalObservability(this, 'Observability', {
        // Dashboard names are unique per account, not per Region: a multi-Region stack's carries its Region.
        envName: mr ? `${config.envName}-${this.region}` : config.envName,
        alarmEmails: config.observability.alarmEmails,
        alarmTopicArn: config.observability.alarmTopicArn,
        alarmTopicKey: this.platformKey,
        dsqlClusterId: this.dsqlCluster.clusterIdentifier,
        ecsCluster: this.services.cluster,
        services: this.services.services,
        frontendLoadBalancer: this.services.frontendLoadBalancer,
        frontendTargetGroup: only(this.services.frontendLoadBalancer, elbv2.NetworkTargetGroup),
        uiLoadBalancer: this.services.uiLoadBalancer,
        uiTargetGroup: only(this.services, elbv2.ApplicationTargetGroup),
        openSearchDomainName: config.opensearch.domainName,
        openSearchNodeCount: config.opensearch.dataNodes + config.opensearch.masterNodes,
        openSearchVolumeGiB: config.opensearch.volumeSizeGiB,
        openSearchDedicatedMasters: config.opensearch.masterNodes > 0,
        temporalMetricsNamespace: this.metricsCollector?.namespace,
        numHistoryShards: config.numHistoryShards,
        certificateSecretArns: this.certificates && [this.certificates.internodeSecret.secretArn, this.certificates.frontendSecret.secretArn],
        uiCertificateArn: config.ui.certificateArn,
        backup: this.backup && { vaultName: this.backup.vaultName, clusterArn: this.dsqlCluster.clusterArn, alarmAfterHours: config.backup.alarmAfterHours },
      });
    }

    // No task or job starts before the egress rules of its security group exist (lib/network/egress.ts).
    const rulesOf = TemporalEgress.egressRulesBySecurityGroup(this);
    for (const svc of Object.values(this.services.services)) svc.node.addDependency(...rulesOf(svc.connections.securityGroups[0]));
    const jobRules = rulesOf(this.jobSecurityGroup);
    this.schema.resource.node.addDependency(...jobRules);
    this.visibilityIndex.resource.node.addDependency(...jobRules);
    this.namespaces?.resource.node.addDependency(...rulesOf(this.namespaces.connections.securityGroups[0]));

    new CfnOutput(this, 'FrontendAddress', { value: `${this.services.frontendLoadBalancer.loadBalancerDnsName}:7233`, description: 'Temporal frontend gRPC through the internal NLB' });
    new CfnOutput(this, 'FrontendServiceDiscoveryAddress', { value: this.services.frontendAddress, description: 'Temporal frontend gRPC through Cloud Map DNS' });
    new CfnOutput(this, 'UiUrl', { value: this.services.uiUrl, description: 'Temporal UI (internal ALB)' });
    new CfnOutput(this, 'DsqlClusterIdentifier', { value: this.dsqlCluster.clusterIdentifier });
    if (mr) new CfnOutput(this, 'DsqlClusterArn', { value: this.dsqlCluster.clusterArn, description: 'multiRegion.clusterArns value of this Region' });
    new CfnOutput(this, 'DsqlEndpoint', { value: this.dsqlCluster.connectEndpoint, description: 'Host the servers connect to' });
    new CfnOutput(this, 'VisibilityDomainEndpoint', { value: this.visibility.domainEndpoint });
    new CfnOutput(this, 'VisibilityIndexName', { value: this.visibilityIndexName });
    new CfnOutput(this, 'NumHistoryShards', { value: String(this.numHistoryShards) });
    new CfnOutput(this, 'ServerTaskRoleArn', { value: this.serverTaskRole.roleArn });
    if (this.certificates) {
      new CfnOutput(this, 'TemporalCaBundle', { value: this.certificates.caBundle, description: 'PEM CA bundle Temporal clients trust for the frontend (docs/security.md)' });
    }
  }
}
