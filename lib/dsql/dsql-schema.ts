import { CfnElement, CustomResource, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { hashDirectory, loadVersionedSchema } from '../../lambda/dsql/schema/schema-dir';
import { REPO_ROOT } from '../repo-root';

const HANDLER_DIR = path.join(REPO_ROOT, 'lambda', 'dsql', 'schema');

/** Default versioned schema directory: `schema/dsql/temporal/versioned` at the repository root. */
export const DEFAULT_DSQL_SCHEMA_DIR = path.join(REPO_ROOT, 'schema', 'dsql', 'temporal', 'versioned');

/**
 * What the schema resource needs from the cluster. `TemporalDsqlCluster` (lib/dsql/dsql-cluster.ts)
 * satisfies it.
 */
export interface TemporalDsqlSchemaCluster {
  /** `arn:<partition>:dsql:<region>:<account>:cluster/<id>`; the only resource of the admin grant. */
  readonly clusterArn: string;
  /** Host name the handler connects to and signs tokens for (the PrivateLink endpoint's host name in a VPC). */
  readonly connectEndpoint: string;
  /** Grants `dsql:DbConnectAdmin` on this cluster. @default - a policy statement scoped to `clusterArn` */
  grantConnectAdmin?(grantee: iam.IGrantable): iam.Grant;
}

/** Properties of {@link TemporalDsqlSchema}. */
export interface TemporalDsqlSchemaProps {
  /** The DSQL cluster. */
  readonly cluster: TemporalDsqlSchemaCluster;
  /** VPC the handler runs in; it must reach the cluster's PrivateLink endpoint on 5432. */
  readonly vpc: ec2.IVpc;
  /** Subnets of the handler. @default - the VPC's private subnets with egress */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Security groups of the handler; they must be allowed into the cluster endpoint's security group
   * on 5432. @default - a new security group (see {@link connections}) that the caller allows into the endpoint
   */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /** IAM role of the Temporal server tasks, mapped to the server database role with `AWS IAM GRANT`. @default - no mapping */
  readonly serverTaskRole?: iam.IRole;
  /**
   * Multi-Region: the other Region's server task role ARNs, mapped to the database role too (the job
   * revokes every mapping it is not given, and both Regions' servers share the one database). @default []
   */
  readonly peerServerTaskRoleArns?: string[];
  /** Database role the servers log in as (created with LOGIN and data privileges only). @default 'temporal_server' */
  readonly serverRoleName?: string;
  /** Versioned schema directory (Temporal layout: vX.Y/manifest.json + .sql files). @default DEFAULT_DSQL_SCHEMA_DIR */
  readonly schemaDir?: string;
  /** Name of the schema, shown in the physical id and in errors. @default 'dsql/temporal' */
  readonly schemaName?: string;
  /** Version to apply. A lower version than the deployed one changes nothing. @default - the highest version in `schemaDir` */
  readonly targetVersion?: string;
  /** `db_name` recorded in `schema_version` (the servers' `databaseName`). @default 'postgres' */
  readonly databaseName?: string;
  /** Index builds awaited at the same time. @default 8 */
  readonly indexWaitConcurrency?: number;
  /** Longest time one deployment of the schema may take, from 1 minute to 1 hour. @default Duration.minutes(30) */
  readonly totalTimeout?: Duration;
  /** Pause between two isComplete calls while index builds run. @default Duration.seconds(10) */
  readonly queryInterval?: Duration;
  /** Retention of the handler and framework log groups. @default logs.RetentionDays.THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** Removal policy of those log groups. @default RemovalPolicy.DESTROY */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * Applies the versioned Temporal DSQL schema during `cdk deploy` (`Custom::TemporalDsqlSchema`):
 * a CDK Provider with an `onEvent` and an `isComplete` handler (index builds can outlast one
 * Lambda invocation), both NodejsFunctions bundled by local esbuild with the schema directory copied
 * into the bundle and a deterministic asset hash. Then creates the server database role, grants
 * it data privileges and maps it to the server task role.
 *
 * Properties of the resource: SchemaName, TargetVersion, ContentHash (SHA-256 of the schema
 * directory), ClusterEndpoint, ServerRoleName, ServerTaskRoleArn: a schema change is an Update, an
 * unchanged schema is not. Delete keeps all data. Make the Temporal services depend on this
 * construct so they never start on a missing or half-applied schema.
 *
 * Errors at synth: `schemaDir` malformed (SchemaDirError naming the file), `targetVersion` not in
 * it, `totalTimeout` outside 1 minute to 1 hour.
 */
export class TemporalDsqlSchema extends Construct implements ec2.IConnectable {
  /** The custom resource; attribute `SchemaVersion` is the version in place after deployment. */
  public readonly resource: CustomResource;
  /** Role of both handlers (admin connect on the cluster, VPC ENIs, its log group). */
  public readonly handlerRole: iam.Role;
  /** The handlers' security groups. */
  public readonly connections: ec2.Connections;
  /** Version applied (a CloudFormation attribute). */
  public readonly schemaVersion: string;
  /** Version this synth targets. */
  public readonly targetVersion: string;
  /** SHA-256 of the schema directory. */
  public readonly contentHash: string;

  constructor(scope: Construct, id: string, props: TemporalDsqlSchemaProps) {
    super(scope, id);
    const schemaDir = path.resolve(props.schemaDir ?? DEFAULT_DSQL_SCHEMA_DIR);
    const schema = loadVersionedSchema(schemaDir);
    this.targetVersion = props.targetVersion ?? schema.latestVersion;
    if (!schema.versions.some((v) => v.version === this.targetVersion)) {
      throw new Error(`targetVersion must be one of ${schema.versions.map((v) => v.version).join(', ')} (the versions in ${schemaDir}), got ${JSON.stringify(this.targetVersion)}`);
    }
    this.contentHash = schema.contentHash;
    const totalTimeout = props.totalTimeout ?? Duration.minutes(30);
    if (totalTimeout.toSeconds() < 60 || totalTimeout.toSeconds() > 3600) {
      throw new Error(`totalTimeout must be from 1 minute to 1 hour, got ${totalTimeout.toHumanString()}`);
    }
    const concurrency = props.indexWaitConcurrency ?? 8;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
      throw new Error(`indexWaitConcurrency must be an integer from 1 to 64, got ${concurrency}`);
    }
    const retention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;
    const logRemoval = props.logRemovalPolicy ?? RemovalPolicy.DESTROY;

    const securityGroups = props.securityGroups ?? [new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Temporal DSQL schema handler: reaches the DSQL endpoint on 5432',
      allowAllOutbound: true,
    })];
    this.connections = new ec2.Connections({ securityGroups });

    this.handlerRole = new iam.Role(this, 'HandlerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Temporal DSQL schema handler: admin connect on one cluster',
    });
    if (props.cluster.grantConnectAdmin) {
      props.cluster.grantConnectAdmin(this.handlerRole);
    } else {
      this.handlerRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['dsql:DbConnectAdmin'], resources: [props.cluster.clusterArn] }));
    }
    // ENI management for in-VPC Lambda functions: these actions do not support resource-level scoping.
    this.handlerRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
      resources: ['*'],
    }));

    const logGroup = new logs.LogGroup(this, 'HandlerLogs', { retention, removalPolicy: logRemoval });
    logGroup.grantWrite(this.handlerRole);

    const code = handlerAssetHash(schemaDir);
    const common: nodejs.NodejsFunctionProps = {
      entry: path.join(HANDLER_DIR, 'handler.ts'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      role: this.handlerRole,
      logGroup,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups,
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      environment: {
        DATABASE_NAME: props.databaseName ?? 'postgres',
        INDEX_WAIT_CONCURRENCY: String(concurrency),
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        forceDockerBundling: false,
        externalModules: [],
        bundleAwsSDK: true,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        target: 'node24',
        assetHash: code,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          // The schema goes inside the bundle, next to index.js (the handler reads ./schema).
          afterBundling: (_in: string, outputDir: string) => [`cp -R "${schemaDir}" "${outputDir}/schema"`],
        },
      },
    };
    const onEventFn = new nodejs.NodejsFunction(this, 'OnEvent', {
      ...common, handler: 'onEvent', timeout: Duration.minutes(1),
      description: 'Temporal DSQL schema: checks properties (onEvent)',
    });
    const isCompleteFn = new nodejs.NodejsFunction(this, 'IsComplete', {
      ...common, handler: 'isComplete', timeout: Duration.seconds(Math.min(900, totalTimeout.toSeconds())),
      description: 'Temporal DSQL schema: applies versions and the server role, resumably (isComplete)',
    });

    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: onEventFn,
      isCompleteHandler: isCompleteFn,
      queryInterval: props.queryInterval ?? Duration.seconds(10),
      totalTimeout,
      logGroup: new logs.LogGroup(this, 'ProviderLogs', { retention, removalPolicy: logRemoval }),
      waiterStateMachineLogOptions: {
        destination: new logs.LogGroup(this, 'WaiterLogs', { retention, removalPolicy: logRemoval }),
        level: sfn.LogLevel.ALL,
        includeExecutionData: false,
      },
      disableWaiterStateMachineLogging: false,
    });

    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::TemporalDsqlSchema',
      properties: {
        SchemaName: props.schemaName ?? 'dsql/temporal',
        TargetVersion: this.targetVersion,
        ContentHash: this.contentHash,
        ClusterEndpoint: props.cluster.connectEndpoint,
        ServerRoleName: props.serverRoleName ?? 'temporal_server',
        ...(props.serverTaskRole ? { ServerTaskRoleArn: props.serverTaskRole.roleArn } : {}),
        ...(props.peerServerTaskRoleArns?.length ? { PeerServerTaskRoleArns: props.peerServerTaskRoleArns } : {}),
      },
    });
    this.schemaVersion = this.resource.getAttString('SchemaVersion');

    Validations.of(this.handlerRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2 network-interface actions of an in-VPC Lambda function support no resource-level scoping',
    });
    // cdk-nag findings on the Provider framework's own resources (aws-cdk-lib internals we cannot change).
    const arnWildcard = (fn: Construct) => `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(fn.node.defaultChild as CfnElement)}.Arn>:*]`;
    const invokeReason = 'CDK Provider framework (aws-cdk-lib internal) may invoke any version (:*) of the handler functions of this construct only';
    Validations.of(provider).acknowledge(
      { id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', reason: 'CDK Provider framework functions (aws-cdk-lib internal) use AWSLambdaBasicExecutionRole' },
      ...[onEventFn, isCompleteFn, provider.node.findChild('framework-isComplete'), provider.node.findChild('framework-onTimeout')]
        .map((fn) => ({ id: arnWildcard(fn), reason: invokeReason })),
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'Step Functions log delivery (logs:CreateLogDelivery and related) supports no resource-level scoping' },
      { id: 'AwsSolutions-SF2', reason: 'CDK Provider waiter state machine: one polling loop, cr.Provider offers no X-Ray option' },
    );
  }
}

/**
 * Deterministic asset hash of the handler bundle: SHA-256 over the handler sources, the schema
 * directory and the lock file (which pins pg, the signer and esbuild). Same inputs, same hash, on
 * any machine; independent of absolute paths and timestamps.
 */
export function handlerAssetHash(schemaDir: string): string {
  return createHash('sha256')
    .update('temporal-dsql-schema-handler/1\0')
    .update(hashDirectory(HANDLER_DIR))
    .update(hashDirectory(schemaDir))
    .update(fs.readFileSync(path.join(REPO_ROOT, 'package-lock.json')))
    .digest('hex');
}
