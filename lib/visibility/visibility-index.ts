/**
 * TemporalVisibilityIndex: applies Temporal's visibility index template and creates the visibility
 * index in an OpenSearch Service domain during `cdk deploy`, before any Temporal server writes to it.
 *
 * The template lives in schema/visibility/<version>/index_template.json (v14 for Temporal server
 * v1.31.x, see schema/visibility/README.md); the handler is lambda/visibility/index/. Details and
 * operations: docs/visibility.md.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CfnElement, CustomResource, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as opensearch from 'aws-cdk-lib/aws-opensearchservice';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import {
  checkIndexName,
  HANDLER_REQUESTS,
  matchesPattern,
  parseTemplate,
  PROPERTY,
  templateContentHash,
} from '../../lambda/visibility/index/properties';
import type { IndexTemplate } from '../../lambda/visibility/index/properties';
import { REPO_ROOT } from '../repo-root';

const ROOT = REPO_ROOT;

/** The template schema version Temporal server v1.31.x expects. */
export const VISIBILITY_TEMPLATE_VERSION = 'v14';
/** Name of the legacy index template Temporal uses (`PUT _template/<name>`). */
export const VISIBILITY_TEMPLATE_NAME = 'temporal_visibility_v1_template';
/** Template schema versions shipped under schema/visibility/, with the Temporal server versions they belong to. */
export const VISIBILITY_TEMPLATE_VERSIONS: Readonly<Record<string, string>> = { v14: '1.31.x' };

/** A template as shipped, ready to send. */
export interface VisibilityTemplate {
  /** Template schema version, e.g. `v14`. */
  readonly version: string;
  /** Temporal server versions it belongs to, e.g. `1.31.x`. */
  readonly temporalVersions: string;
  /** Template name, `temporal_visibility_v1_template`. */
  readonly name: string;
  /** Minified JSON body (the exact string the custom resource sends). */
  readonly body: string;
  /** Lowercase hex SHA-256 of `body`. */
  readonly contentHash: string;
  /** The parsed body. */
  readonly template: IndexTemplate;
}

/**
 * Loads schema/visibility/<version>/index_template.json.
 * @param version template schema version. @default VISIBILITY_TEMPLATE_VERSION ('v14')
 * @throws Error naming the allowed versions when `version` is not shipped.
 */
export function loadVisibilityTemplate(version: string = VISIBILITY_TEMPLATE_VERSION): VisibilityTemplate {
  const temporalVersions = VISIBILITY_TEMPLATE_VERSIONS[version];
  if (!temporalVersions) {
    throw new Error(
      `templateVersion must be one of ${Object.keys(VISIBILITY_TEMPLATE_VERSIONS).join(', ')} (schema/visibility/), got ${JSON.stringify(version)}`,
    );
  }
  const file = join(ROOT, 'schema', 'visibility', version, 'index_template.json');
  const body = JSON.stringify(JSON.parse(readFileSync(file, 'utf8')));
  return {
    version,
    temporalVersions,
    name: VISIBILITY_TEMPLATE_NAME,
    body,
    contentHash: templateContentHash(body),
    template: parseTemplate(body),
  };
}

/** Properties of {@link TemporalVisibilityIndex}. */
export interface TemporalVisibilityIndexProps {
  /** The visibility domain (OpenSearch Service, signing service `es`). */
  readonly domain: opensearch.IDomain;
  /**
   * Visibility index name; must match the template pattern `temporal_visibility_v1*`, e.g.
   * `temporal_visibility_v1_prod`. Changing it creates a new, empty index (the old one is kept).
   */
  readonly indexName: string;
  /** VPC the handler runs in (the domain's VPC). */
  readonly vpc: ec2.IVpc;
  /** Subnets for the handler. @default - private subnets with egress */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** Security groups for the handler. @default - a new security group with all outbound allowed */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /**
   * Network peer of the domain to open port 443 on for the handler (e.g. the domain's security group).
   * @default - the domain itself when it is a `Domain` in a VPC; otherwise no rule is added and the
   * caller must allow `this.connections` into the domain
   */
  readonly domainConnections?: ec2.IConnectable;
  /** Template schema version from schema/visibility/. @default 'v14' (Temporal server 1.31.x) */
  readonly templateVersion?: string;
  /**
   * Put the cluster setting `action.auto_create_index=false`, so that a server writing before the
   * index exists gets an error instead of an index without the template. Domain-wide.
   * @default true
   */
  readonly disableAutoCreateIndex?: boolean;
  /**
   * Delete the index (all visibility records) when this resource is deleted. The template is kept.
   * @default false - the index is kept
   */
  readonly destroyIndexOnDelete?: boolean;
  /** Log retention of the handler and the provider framework. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** What happens to the log groups when the stack is deleted. @default RemovalPolicy.DESTROY */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Handler timeout; the handler retries 429/5xx until 15 s before it. @default Duration.minutes(5) */
  readonly timeout?: Duration;
  /**
   * The domain has fine-grained access control with this construct's role ({@link TemporalVisibilityIndex.role})
   * as its IAM master user: the handler then maps the servers' role ARNs to the security plugin role
   * `temporal_visibility_server` (the visibility index only), adds the operator ARNs to `all_access` /
   * `readall`, and turns audit logging on (lambda/visibility/index/security.ts).
   * @default - none (the domain authorizes by its access policy only)
   */
  readonly fineGrainedAccessControl?: VisibilityAccessControl;
}

/** Fine-grained access control settings the index job applies (see {@link TemporalVisibilityIndexProps.fineGrainedAccessControl}). */
export interface VisibilityAccessControl {
  /** IAM role ARNs of the Temporal servers (tokens allowed), at least one. */
  readonly serverPrincipalArns: string[];
  /** IAM role or user ARNs added to the `all_access` mapping. @default [] */
  readonly allAccessPrincipals?: string[];
  /** IAM role or user ARNs added to the `readall` mapping. @default [] */
  readonly readAllPrincipals?: string[];
  /** Turn audit logging on in the security plugin (the domain must publish AUDIT_LOGS). @default true */
  readonly auditLogs?: boolean;
}

/** Options that decide which requests the handler makes (and so its IAM statements). */
export interface VisibilityIndexOptions {
  readonly disableAutoCreateIndex: boolean;
  readonly destroyIndexOnDelete: boolean;
  readonly fineGrainedAccessControl?: boolean;
  readonly auditLogs?: boolean;
}

/**
 * Custom resource `Custom::TemporalVisibilityIndex` (CDK Provider framework; handler is a
 * NodejsFunction bundled by local esbuild, in the VPC). Services that write visibility records must
 * depend on it: `service.node.addDependency(visibilityIndex)`.
 *
 * Properties sent to the handler: Endpoint, Region, Signing, IndexName, TemplateName,
 * TemplateVersion, TemplateBody, ContentHash, DisableAutoCreateIndex, DestroyIndexOnDelete, and with
 * fine-grained access control FineGrainedAccessControl, ServerPrincipals, AllAccessPrincipals,
 * ReadAllPrincipals, AuditLogs; a template change changes ContentHash and so is an Update.
 *
 * @throws Error at synth time for an index name that is invalid or does not match the template
 * pattern, or an unknown templateVersion.
 */
export class TemporalVisibilityIndex extends Construct implements ec2.IConnectable {
  /** The custom resource. */
  public readonly resource: CustomResource;
  /** The onEvent handler. */
  public readonly handler: NodejsFunction;
  /** The handler's role. */
  public readonly role: iam.IRole;
  /** Network connections of the handler (allow it into the domain on 443 if not done by default). */
  public readonly connections: ec2.Connections;
  /** The index name. */
  public readonly indexName: string;
  /** The template applied. */
  public readonly template: VisibilityTemplate;
  private readonly domainArn: string;
  private readonly options: VisibilityIndexOptions;

  constructor(scope: Construct, id: string, props: TemporalVisibilityIndexProps) {
    super(scope, id);
    const template = loadVisibilityTemplate(props.templateVersion ?? VISIBILITY_TEMPLATE_VERSION);
    if (!Token.isUnresolved(props.indexName)) {
      checkIndexName(props.indexName, 'indexName');
      if (!template.template.index_patterns.some((p) => matchesPattern(props.indexName, p))) {
        throw new Error(
          `indexName must match the template pattern ${template.template.index_patterns.join(', ')} (e.g. temporal_visibility_v1_prod), got ${JSON.stringify(props.indexName)}`,
        );
      }
    }
    this.indexName = props.indexName;
    this.template = template;
    this.domainArn = props.domain.domainArn;
    const retention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const removalPolicy = props.logRemovalPolicy ?? RemovalPolicy.DESTROY;
    const disableAutoCreateIndex = props.disableAutoCreateIndex ?? true;
    const destroyIndexOnDelete = props.destroyIndexOnDelete ?? false;
    const fgac = props.fineGrainedAccessControl;
    if (fgac && fgac.serverPrincipalArns.length === 0) {
      throw new Error('fineGrainedAccessControl.serverPrincipalArns must name at least one IAM role (the Temporal server task role)');
    }
    const auditLogs = fgac ? (fgac.auditLogs ?? true) : false;

    const logGroup = new logs.LogGroup(this, 'HandlerLogs', { retention, removalPolicy });
    const role = new iam.Role(this, 'HandlerRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Temporal visibility index custom resource: writes its logs, runs in the VPC, calls the OpenSearch domain',
    });
    this.role = role;
    // Instead of the managed AWSLambdaVPCAccessExecutionRole: its own log group only, and the
    // network-interface actions an in-VPC function needs (they support no resource-level scoping).
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [`${logGroup.logGroupArn}:*`] }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }),
    );

    this.handler = new NodejsFunction(this, 'Handler', {
      entry: join(ROOT, 'lambda', 'visibility', 'index', 'index.ts'),
      handler: 'handler',
      projectRoot: ROOT,
      depsLockFilePath: join(ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: props.timeout ?? Duration.minutes(5),
      description: `Applies Temporal visibility template ${template.version} and index ${props.indexName}`,
      role,
      logGroup,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: props.securityGroups,
      allowAllOutbound: props.securityGroups ? undefined : true,
      bundling: {
        // Local esbuild (a devDependency) only; never Docker at synth.
        forceDockerBundling: false,
        format: OutputFormat.CJS,
        target: 'node24',
        minify: true,
        sourceMap: false,
        // Bundle everything, @aws-sdk included, so the code that runs is the code we tested.
        externalModules: [],
      },
    });
    this.connections = this.handler.connections;

    // es:ESHttp<Method> on exactly the paths the handler calls (HANDLER_REQUESTS), nothing else.
    this.options = { disableAutoCreateIndex, destroyIndexOnDelete, fineGrainedAccessControl: fgac !== undefined, auditLogs };
    const statements = visibilityIndexStatements(props.domain.domainArn, template.name, props.indexName, this.options);
    for (const statement of statements) role.addToPrincipalPolicy(statement);


    const domainIsL2 = props.domain instanceof opensearch.Domain;
    const peer = props.domainConnections ?? (domainIsL2 ? vpcDomainConnections(props.domain as opensearch.Domain) : undefined);
    peer?.connections.allowFrom(this.handler, ec2.Port.tcp(443), 'Temporal visibility index custom resource to OpenSearch HTTPS');

    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.handler,
      logGroup: new logs.LogGroup(this, 'ProviderLogs', { retention, removalPolicy }),
    });

    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::TemporalVisibilityIndex',
      properties: {
        [PROPERTY.endpoint]: `https://${props.domain.domainEndpoint}`,
        [PROPERTY.region]: Stack.of(this).region,
        [PROPERTY.signing]: 'true',
        [PROPERTY.indexName]: props.indexName,
        [PROPERTY.templateName]: template.name,
        [PROPERTY.templateVersion]: template.version,
        [PROPERTY.templateBody]: template.body,
        [PROPERTY.contentHash]: template.contentHash,
        [PROPERTY.disableAutoCreateIndex]: String(disableAutoCreateIndex),
        [PROPERTY.destroyIndexOnDelete]: String(destroyIndexOnDelete),
        ...(fgac ? {
          [PROPERTY.fineGrainedAccessControl]: 'true',
          [PROPERTY.serverPrincipals]: fgac.serverPrincipalArns,
          [PROPERTY.allAccessPrincipals]: fgac.allAccessPrincipals ?? [],
          [PROPERTY.readAllPrincipals]: fgac.readAllPrincipals ?? [],
          [PROPERTY.auditLogs]: String(auditLogs),
        } : {}),
      },
    });
    // The domain (and its access policy, a child of it) before the index; the role's policy too.
    this.resource.node.addDependency(props.domain);
    this.resource.node.addDependency(role);

    // cdk-nag (AwsSolutions) acknowledgements, next to what they excuse.
    const logicalId = (c: Construct) => Stack.of(this).getLogicalId(c.node.defaultChild as CfnElement);
    Validations.of(role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'ec2 network-interface actions of an in-VPC Lambda function support no resource-level scoping',
      },
      {
        id: `AwsSolutions-IAM5[Resource::<${logicalId(logGroup)}.Arn>:*]`,
        reason: 'log streams of the handler\'s own log group (stream names are generated by Lambda)',
      },
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

  /**
   * Statements for the domain's resource-based access policy that let this handler in, with the
   * same actions and paths as its IAM policy, principal = the handler role. The domain owner adds
   * them to the access policy (this construct does not change the domain's policy, which its owner
   * manages as a whole).
   * @param domainArn the domain ARN to use. Inside the domain's own access policy, pass an ARN built
   * from the domain name (`Stack.formatArn`): the domain's `Arn` attribute there would be circular.
   * @default - the `domain.domainArn` given in props
   */
  public accessPolicyStatements(domainArn: string = this.domainArn): iam.PolicyStatement[] {
    return visibilityIndexStatements(domainArn, this.template.name, this.indexName, this.options).map(
      (st) => new iam.PolicyStatement({ principals: [this.role], actions: st.actions, resources: st.resources }),
    );
  }
}

/**
 * IAM statements for the handler: one per resource path, with the `es:ESHttp<Method>` actions the
 * handler uses on it (from HANDLER_REQUESTS).
 */
export function visibilityIndexStatements(
  domainArn: string,
  templateName: string,
  indexName: string,
  options: VisibilityIndexOptions,
): iam.PolicyStatement[] {
  const byPath = new Map<string, Set<string>>();
  for (const r of HANDLER_REQUESTS) {
    if (r.when && !(options[r.when] ?? false)) continue;
    const path = r.path.replace('{index}', indexName).replace('{template}', templateName);
    const action = `es:ESHttp${r.method.charAt(0)}${r.method.slice(1).toLowerCase()}`;
    byPath.set(path, (byPath.get(path) ?? new Set()).add(action));
  }
  return [...byPath].map(
    ([path, actions]) => new iam.PolicyStatement({ actions: [...actions].sort(), resources: [`${domainArn}${path}`] }),
  );
}

/** The domain's connections when it is in a VPC (Domain.connections throws otherwise). */
function vpcDomainConnections(domain: opensearch.Domain): ec2.IConnectable | undefined {
  try {
    return { connections: domain.connections };
  } catch {
    return undefined;
  }
}
