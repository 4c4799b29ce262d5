import { join } from 'node:path';
import { CfnElement, CustomResource, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct, IDependable } from 'constructs';
import { PROPERTY } from '../../lambda/namespaces/properties';
import { handlerAssetHash, handlerBundling } from '../handler-bundle';
import { REPO_ROOT } from '../repo-root';
import type { NamespaceAdminInput, NamespaceConfig, SearchAttributeConfig } from './config';

const ROOT = REPO_ROOT;
const HANDLER_DIR = join(ROOT, 'lambda', 'namespaces');

/** TLS settings for reaching a frontend that serves TLS. */
export interface TemporalNamespacesTls {
  /** PEM CA bundle the frontend's certificate chains to (may be a token). @default - the Lambda runtime's public roots */
  readonly caCertificatePem?: string;
  /** Name checked in the frontend's certificate instead of the NLB's DNS name. @default - the address's host */
  readonly serverNameOverride?: string;
}

/** Properties of {@link TemporalNamespaces}. */
export interface TemporalNamespacesProps {
  /** Namespaces to register or update (resolved config, lib/namespaces/config.ts). */
  readonly namespaces: readonly NamespaceConfig[];
  /** Custom search attributes to add (resolved config). @default [] */
  readonly searchAttributes?: readonly SearchAttributeConfig[];
  /** Frontend gRPC address the handler dials, `host:port` (the internal NLB's DNS name and 7233). */
  readonly frontendAddress: string;
  /**
   * The frontend NLB (or anything with security groups in front of the frontend): the handler is
   * allowed into it on the port of `frontendAddress`. @default - no rule added (the caller opens the path)
   */
  readonly frontendConnections?: ec2.IConnectable;
  /**
   * What must be up before the namespaces are applied: the frontend ECS service (CloudFormation
   * reports it created once its tasks are steady) and the NLB listener. @default []
   */
  readonly dependsOn?: readonly IDependable[];
  /** URI of the archival bucket, `s3://<bucket>` (lib/archival/archival.ts `TemporalArchival.uri`); required when a namespace has archival on. @default - none */
  readonly archivalUri?: string;
  /** TLS to the frontend. @default - plain gRPC */
  readonly tls?: TemporalNamespacesTls;
  /** Admin client for frontend authorization (client-credentials grant). @default - no token */
  readonly admin?: NamespaceAdminInput;
  /** VPC the handler runs in; it must reach the NLB. */
  readonly vpc: ec2.IVpc;
  /** Subnets of the handler. @default - the VPC's private subnets with egress */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** Longest time one invocation may take (retries of an unavailable frontend included). @default Duration.minutes(5) */
  readonly timeout?: Duration;
  /** Retention of the handler's log groups. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** Removal policy of those log groups. @default RemovalPolicy.DESTROY */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * Applies Temporal namespaces and custom search attributes during `cdk deploy`
 * (`Custom::TemporalNamespaces`, handler in lambda/namespaces/): a NodejsFunction bundled
 * by local esbuild (no Docker), in the VPC, that calls the frontend's gRPC API through the NLB with
 * @temporalio/client. The namespaces and attributes are resource properties, so every change shows
 * in `cdk diff`; an unchanged list makes no change on the cluster. Removing a namespace or an
 * attribute from the list, or deleting the resource, leaves it on the cluster (reported in the
 * log and in the attributes `NamespacesLeft` / `SearchAttributesLeft`). A type change of an
 * existing search attribute fails the deployment with a message naming the attribute and both
 * types.
 *
 * Permissions: its log group, the VPC network-interface actions of an in-VPC function, and
 * `secretsmanager:GetSecretValue` on exactly `admin.clientSecretArn` when set.
 *
 * @throws Error at synth when a namespace has archival on and no `archivalUri` is given
 */
export class TemporalNamespaces extends Construct implements ec2.IConnectable {
  /** The custom resource (attributes Changes, ChangeLog, NamespacesLeft, SearchAttributesLeft). */
  public readonly resource: CustomResource;
  /** The handler function. */
  public readonly handler: NodejsFunction;
  /** The handler's role. */
  public readonly role: iam.Role;
  /** The handler's security group. */
  public readonly connections: ec2.Connections;

  constructor(scope: Construct, id: string, props: TemporalNamespacesProps) {
    super(scope, id);
    const archived = props.namespaces.filter((n) => n.archival).map((n) => n.name);
    if (archived.length && !props.archivalUri) {
      throw new Error(`namespaces ${archived.join(', ')} have archival on, but the stack has no archival bucket (archivalUri): turn archival on for the stack or off for these namespaces`);
    }
    const port = Number(props.frontendAddress.split(':').pop());
    const retention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const removalPolicy = props.logRemovalPolicy ?? RemovalPolicy.DESTROY;

    const logGroup = new logs.LogGroup(this, 'HandlerLogs', { retention, removalPolicy });
    this.role = new iam.Role(this, 'HandlerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Temporal namespaces custom resource: its logs, VPC network interfaces, the admin client secret',
    });
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [`${logGroup.logGroupArn}:*`] }));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets', 'ec2:DeleteNetworkInterface',
        'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'],
      resources: ['*'],
    }));
    if (props.admin) {
      this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [props.admin.clientSecretArn] }));
    }

    this.handler = new NodejsFunction(this, 'Handler', {
      entry: join(HANDLER_DIR, 'index.ts'),
      handler: 'handler',
      projectRoot: ROOT,
      depsLockFilePath: join(ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      timeout: props.timeout ?? Duration.minutes(5),
      description: 'Applies Temporal namespaces and search attributes through the frontend gRPC API',
      role: this.role,
      logGroup,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      // Egress: the frontend NLB (below) and what the caller adds (lib/network/egress.ts).
      allowAllOutbound: false,
      environment: { NODE_OPTIONS: '--enable-source-maps' },
      bundling: handlerBundling(namespacesHandlerAssetHash()),
    });
    this.connections = this.handler.connections;
    props.frontendConnections?.connections.allowFrom(this.handler, ec2.Port.tcp(port), 'Temporal namespaces custom resource to the frontend');

    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.handler,
      logGroup: new logs.LogGroup(this, 'ProviderLogs', { retention, removalPolicy }),
    });

    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::TemporalNamespaces',
      properties: {
        [PROPERTY.frontendAddress]: props.frontendAddress,
        [PROPERTY.namespaces]: props.namespaces.map((n) => ({
          Name: n.name, RetentionDays: String(n.retentionDays), Description: n.description, Archival: String(n.archival), OwnerEmail: n.ownerEmail,
        })),
        [PROPERTY.searchAttributes]: (props.searchAttributes ?? []).map((a) => ({ Name: a.name, Type: a.type, Namespace: a.namespace })),
        ...(props.archivalUri ? { [PROPERTY.archivalUri]: props.archivalUri } : {}),
        ...(props.tls ? {
          [PROPERTY.tls]: {
            ...(props.tls.caCertificatePem ? { CaCertificatePem: props.tls.caCertificatePem } : {}),
            ...(props.tls.serverNameOverride ? { ServerNameOverride: props.tls.serverNameOverride } : {}),
          },
        } : {}),
        ...(props.admin ? {
          [PROPERTY.auth]: {
            TokenUrl: props.admin.tokenUrl,
            ClientSecretArn: props.admin.clientSecretArn,
            ...(props.admin.scope ? { Scope: props.admin.scope } : {}),
            ...(props.admin.audience ? { Audience: props.admin.audience } : {}),
            ...(props.admin.resource ? { Resource: props.admin.resource } : {}),
          },
        } : {}),
      },
    });
    this.resource.node.addDependency(this.role);
    for (const d of props.dependsOn ?? []) this.resource.node.addDependency(d);

    const logicalId = (c: Construct) => Stack.of(this).getLogicalId(c.node.defaultChild as CfnElement);
    Validations.of(this.role).acknowledge(
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'ec2 network-interface actions of an in-VPC Lambda function support no resource-level scoping' },
      { id: `AwsSolutions-IAM5[Resource::<${logicalId(logGroup)}.Arn>:*]`, reason: 'log streams of the handler\'s own log group (stream names are generated by Lambda)' },
    );
    Validations.of(provider).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'CDK Provider framework function (aws-cdk-lib internal) uses AWSLambdaBasicExecutionRole',
      },
      {
        id: `AwsSolutions-IAM5[Resource::<${logicalId(this.handler)}.Arn>:*]`,
        reason: 'CDK Provider framework (aws-cdk-lib internal) may invoke any version (:*) of this construct\'s handler only',
      },
    );
  }
}

/**
 * Deterministic asset hash of the handler bundle: SHA-256 over the handler sources and the lock
 * file (which pins @temporalio/client, the AWS SDK and esbuild). Same inputs, same hash, on any machine.
 */
export function namespacesHandlerAssetHash(): string {
  return handlerAssetHash('temporal-namespaces-handler', HANDLER_DIR);
}
