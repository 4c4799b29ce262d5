import { CfnElement, Lazy, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as opensearch from 'aws-cdk-lib/aws-opensearchservice';
import { Construct } from 'constructs';

/** HTTP actions Temporal uses on the domain (index, _bulk, _search, _count, _mapping, _cluster/health). */
export const VISIBILITY_HTTP_ACTIONS: readonly string[] = [
  'es:ESHttpGet', 'es:ESHttpHead', 'es:ESHttpPost', 'es:ESHttpPut', 'es:ESHttpDelete', 'es:ESHttpPatch',
];

/**
 * What the Temporal servers may do on the domain's paths: every HTTP verb they use except DELETE,
 * which {@link TemporalVisibilityDomain.grantAccess} allows only on documents of the visibility
 * index (`<domain ARN>/<index>/_doc/*`): a server (or anyone with its credentials) cannot delete an
 * index (`DELETE /<index>`), a template or all indices. Deleting documents through `_bulk` and
 * `_delete_by_query` (POST) remains possible; that is how Temporal removes closed workflows.
 */
export const SERVER_HTTP_ACTIONS_WITHOUT_DELETE: readonly string[] = VISIBILITY_HTTP_ACTIONS.filter((a) => a !== 'es:ESHttpDelete');

/** Properties of {@link TemporalVisibilityDomain}. */
export interface TemporalVisibilityDomainProps {
  /** VPC of the domain. */
  readonly vpc: ec2.IVpc;
  /** Private subnets, exactly one per availability zone (`azCount` of them). */
  readonly vpcSubnets: ec2.SubnetSelection;
  /** Number of availability zones the domain spreads over (2 or 3). */
  readonly azCount: number;
  /**
   * Domain name (3-28 characters). Fixed rather than generated so that the access policy can
   * name this domain's ARN without a circular reference.
   */
  readonly domainName: string;
  /** OpenSearch version `major.minor`. @default '2.19' */
  readonly engineVersion?: string;
  /** Data node instance type. @default 'r7g.large.search' */
  readonly dataNodeInstanceType?: string;
  /** Data node count, a multiple of `azCount`. @default azCount */
  readonly dataNodes?: number;
  /** Dedicated master nodes (0, 3 or 5). @default 3 */
  readonly masterNodes?: number;
  /** Dedicated master instance type. @default 'm7g.large.search' */
  readonly masterNodeInstanceType?: string;
  /** gp3 volume size per data node, GiB. @default 100 */
  readonly volumeSizeGiB?: number;
  /**
   * Multi-AZ with Standby: one of three AZs holds standby nodes that take over within a minute when
   * a zone fails. Requires `azCount` 3, dedicated masters, data nodes a multiple of 3 and no T2/T3
   * instances (checked by resolveConfig; aws-cdk-lib refuses T3). @default false
   */
  readonly multiAzWithStandby?: boolean;
  /** Retention of the slow and error log groups. @default ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** Removal policy of the log groups. @default RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Removal policy of the domain. @default RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Fine-grained access control (the security plugin) with an IAM master user, set later with
   * {@link TemporalVisibilityDomain.setMasterUser} (the index job's role, created after the domain).
   * Enabling it on an existing domain is a blue/green deployment and cannot be undone. @default false
   */
  readonly fineGrainedAccessControl?: boolean;
  /**
   * Publish the security plugin's audit logs to a CloudWatch log group of this construct (`AuditLogs`);
   * needs `fineGrainedAccessControl`. The plugin's audit configuration itself is turned on by the index
   * job. Enabling it on an existing domain is a blue/green deployment. @default false
   */
  readonly auditLogs?: boolean;
}

/**
 * The OpenSearch Service domain that holds Temporal's visibility index.
 *
 * Defaults and fixed settings: OpenSearch 2.19 (never 2.11 or 2.17, whose gzip request handling
 * breaks Temporal's bulk writes); in the VPC's private subnets with zone awareness over all AZs;
 * encryption at rest; node-to-node encryption; HTTPS only with TLS 1.2 or newer
 * (`Policy-Min-TLS-1-2-PFS-2023-10`); gp3 volumes; slow search, slow index and error (application)
 * logs to CloudWatch Logs. Requests are authorized by IAM (SigV4, service `es`) against the domain
 * access policy; with `fineGrainedAccessControl` they are then also authorized by the security
 * plugin (role mappings made by the index job, the master user), and with `auditLogs` its audit log
 * is published to CloudWatch Logs.
 *
 * The access policy allows only the principals added with {@link grantAccess} (the Temporal server
 * task role) and {@link allowIndexJob} (the index job's role): `es:ESHttp*` on this domain's
 * paths; {@link addAccessPolicyStatements} adds narrower statements as they are. It is written straight into the domain resource, not through the L2's custom resource,
 * so no Lambda function is needed and the policy shows in `cdk diff`.
 */
export class TemporalVisibilityDomain extends Construct implements ec2.IConnectable {
  /** The L2 domain. */
  public readonly domain: opensearch.Domain;
  /** Domain endpoint host name (no scheme), e.g. `vpc-temporal-prod-abc.us-east-1.es.amazonaws.com`. */
  public readonly domainEndpoint: string;
  /** Domain ARN. */
  public readonly domainArn: string;
  /** Domain name. */
  public readonly domainName: string;
  /** The domain's security group (HTTPS 443). */
  public readonly connections: ec2.Connections;
  /**
   * This domain's ARN built from its fixed name (`arn:<partition>:es:<region>:<account>:domain/<name>`),
   * for statements inside the domain's own access policy, where the `Arn` attribute would be circular.
   */
  public readonly policyDomainArn: string;
  private readonly principals: iam.IPrincipal[] = [];
  private readonly serverStatements: iam.PolicyStatement[] = [];
  private readonly extraStatements: iam.PolicyStatement[] = [];
  private masterUser?: iam.IRole;
  /** Whether fine-grained access control is on. */
  public readonly fineGrainedAccessControl: boolean;
  /** The audit log group, when audit logs are published. */
  public readonly auditLogGroup?: logs.ILogGroup;

  constructor(scope: Construct, id: string, props: TemporalVisibilityDomainProps) {
    super(scope, id);
    const logGroup = (lid: string) => new logs.LogGroup(this, lid, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    const slowSearchLogGroup = logGroup('SlowSearchLogs');
    const slowIndexLogGroup = logGroup('SlowIndexLogs');
    const appLogGroup = logGroup('ErrorLogs');
    if (props.auditLogs && !props.fineGrainedAccessControl) {
      throw new Error('auditLogs needs fineGrainedAccessControl: audit logs come from the security plugin');
    }
    const auditLogGroup = props.auditLogs ? logGroup('AuditLogs') : undefined;
    // The domain publishes logs under this resource policy (a plain AWS::Logs::ResourcePolicy
    // instead of the L2's custom resource).
    const logsPolicy = new logs.ResourcePolicy(this, 'LogsResourcePolicy', {
      policyStatements: [new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('es.amazonaws.com')],
        actions: ['logs:PutLogEvents', 'logs:CreateLogStream'],
        resources: [slowSearchLogGroup, slowIndexLogGroup, appLogGroup, ...(auditLogGroup ? [auditLogGroup] : [])].map((g) => g.logGroupArn),
      })],
    });

    const masterNodes = props.masterNodes ?? 3;
    this.domain = new opensearch.Domain(this, 'Resource', {
      domainName: props.domainName,
      version: opensearch.EngineVersion.openSearch(props.engineVersion ?? '2.19'),
      vpc: props.vpc,
      vpcSubnets: [props.vpcSubnets],
      zoneAwareness: { enabled: true, availabilityZoneCount: props.azCount },
      capacity: {
        dataNodes: props.dataNodes ?? props.azCount,
        dataNodeInstanceType: props.dataNodeInstanceType ?? 'r7g.large.search',
        masterNodes: masterNodes > 0 ? masterNodes : undefined,
        masterNodeInstanceType: masterNodes > 0 ? (props.masterNodeInstanceType ?? 'm7g.large.search') : undefined,
        multiAzWithStandbyEnabled: props.multiAzWithStandby ?? false,
      },
      ebs: { volumeSize: props.volumeSizeGiB ?? 100, volumeType: ec2.EbsDeviceVolumeType.GP3 },
      encryptionAtRest: { enabled: true },
      nodeToNodeEncryption: true,
      enforceHttps: true,
      tlsSecurityPolicy: opensearch.TLSSecurityPolicy.TLS_1_2_PFS,
      logging: {
        slowSearchLogEnabled: true,
        slowSearchLogGroup,
        slowIndexLogEnabled: true,
        slowIndexLogGroup,
        appLogEnabled: true,
        appLogGroup,
        auditLogEnabled: auditLogGroup ? true : undefined,
        auditLogGroup,
      },
      // The master user is the index job's role, which is created after the domain: resolved at synth.
      fineGrainedAccessControl: props.fineGrainedAccessControl ? {
        masterUserArn: Lazy.string({
          produce: () => {
            if (!this.masterUser) throw new Error(`${this.node.path}: fineGrainedAccessControl is on but setMasterUser() was never called`);
            return this.masterUser.roleArn;
          },
        }),
      } : undefined,
      suppressLogsResourcePolicy: true,
      enableVersionUpgrade: true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.domain.node.addDependency(logsPolicy);
    Validations.of(this.domain).acknowledge({
      id: 'AwsSolutions-OS3',
      reason: 'The domain is only reachable inside the VPC (its security group admits the Temporal tasks and the index job on 443) and its access policy admits only named IAM roles with SigV4; an IP allowlist would add nothing.',
    });
    if (masterNodes === 0) {
      Validations.of(this.domain).acknowledge({
        id: 'AwsSolutions-OS4',
        reason: 'Configured without dedicated master nodes (masterNodes = 0) to save cost, for non-production environments; production uses 3.',
      });
    }
    this.fineGrainedAccessControl = props.fineGrainedAccessControl ?? false;
    this.auditLogGroup = auditLogGroup;
    this.domainEndpoint = this.domain.domainEndpoint;
    this.domainArn = this.domain.domainArn;
    this.domainName = props.domainName;
    this.connections = this.domain.connections;

    // Resource ARN from the fixed name: referencing the domain's own ARN would be circular.
    this.policyDomainArn = Stack.of(this).formatArn({ service: 'es', resource: 'domain', resourceName: props.domainName });
    const cfn = this.domain.node.defaultChild as opensearch.CfnDomain;
    cfn.accessPolicies = Lazy.any({
      produce: () => {
        const statements = [...this.serverStatements, ...this.extraStatements];
        if (this.principals.length > 0) {
          statements.unshift(new iam.PolicyStatement({
            sid: 'TemporalVisibilityAccess',
            effect: iam.Effect.ALLOW,
            principals: this.principals,
            actions: [...VISIBILITY_HTTP_ACTIONS],
            resources: [`${this.policyDomainArn}/*`],
          }));
        }
        return statements.length === 0 ? undefined : new iam.PolicyDocument({ statements }).toJSON();
      },
    });
  }

  /**
   * Adds `grantee` to the domain access policy and gives it the same actions on this domain in its
   * own IAM policy (both must be narrow: without fine-grained access control an allow in either lets
   * a same-account request through). Used for the Temporal server task role.
   *
   * @param grantee the principal
   * @param documentIndex when given, `es:ESHttpDelete` is allowed only on documents of this index
   *   (`<domain>/<index>/_doc/*`) and on scroll and point-in-time contexts (`_search/scroll*`,
   *   `_pit*`, `_search/point_in_time*`, which hold no data): the grantee cannot delete an index.
   *   Every other action ({@link SERVER_HTTP_ACTIONS_WITHOUT_DELETE}) covers the domain's paths.
   *   @default - all of {@link VISIBILITY_HTTP_ACTIONS} on the domain's paths, DELETE included
   */
  public grantAccess(grantee: iam.IGrantable, documentIndex?: string): iam.Grant {
    if (Construct.isConstruct(grantee.grantPrincipal)) {
      const domainId = Stack.of(this).getLogicalId(this.domain.node.defaultChild as CfnElement);
      for (const path of documentIndex ? ['*', ...this.deletablePaths(documentIndex)] : ['*']) {
        Validations.of(grantee.grantPrincipal).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<${domainId}.Arn>/${path}]`,
          reason: 'Temporal calls index, _bulk, _search, _count, _mapping and _cluster paths of this one domain; the wildcard covers its paths (DELETE only on documents and search contexts), not other domains.',
        });
      }
    }
    if (!documentIndex) {
      this.principals.push(grantee.grantPrincipal);
      return iam.Grant.addToPrincipal({
        grantee,
        actions: [...VISIBILITY_HTTP_ACTIONS],
        resourceArns: [this.domainArn, `${this.domainArn}/*`],
      });
    }
    const deletable = this.deletablePaths(documentIndex);
    this.serverStatements.push(
      new iam.PolicyStatement({
        sid: 'TemporalServerVisibility', effect: iam.Effect.ALLOW, principals: [grantee.grantPrincipal],
        actions: [...SERVER_HTTP_ACTIONS_WITHOUT_DELETE], resources: [`${this.policyDomainArn}/*`],
      }),
      new iam.PolicyStatement({
        sid: 'TemporalServerDeleteDocuments', effect: iam.Effect.ALLOW, principals: [grantee.grantPrincipal],
        actions: ['es:ESHttpDelete'], resources: deletable.map((p) => `${this.policyDomainArn}/${p}`),
      }),
    );
    const grant = iam.Grant.addToPrincipal({
      grantee,
      actions: [...SERVER_HTTP_ACTIONS_WITHOUT_DELETE],
      resourceArns: [this.domainArn, `${this.domainArn}/*`],
    });
    iam.Grant.addToPrincipal({ grantee, actions: ['es:ESHttpDelete'], resourceArns: deletable.map((p) => `${this.domainArn}/${p}`) });
    return grant;
  }

  /** Paths a document-only grantee may DELETE: the index's documents and search contexts. */
  private deletablePaths(index: string): string[] {
    return [`${index}/_doc/*`, '_search/scroll*', '_pit*', '_search/point_in_time*'];
  }

  /**
   * Lets the visibility index job's role in through the domain access policy (`es:ESHttp*` on this
   * domain's paths). Only the resource policy changes: the job keeps its own, narrower IAM policy.
   * For path-level statements use {@link addAccessPolicyStatements} instead.
   */
  public allowIndexJob(role: iam.IGrantable): void {
    this.principals.push(role.grantPrincipal);
  }

  /**
   * Makes `role` the IAM master user of fine-grained access control (mapped by OpenSearch Service to
   * `all_access` and `security_manager`). Its requests still pass the access policy first, so the
   * master can call only the paths that policy gives it.
   * @throws Error when fine-grained access control is off, or a master user is already set
   */
  public setMasterUser(role: iam.IRole): void {
    if (!this.fineGrainedAccessControl) throw new Error('setMasterUser: fineGrainedAccessControl is off for this domain');
    if (this.masterUser) throw new Error('setMasterUser: the master user is already set');
    this.masterUser = role;
  }

  /**
   * Lets operator IAM principals (role or user ARNs) through the access policy with `es:ESHttp*` on this
   * domain's paths; what they may do inside is decided by fine-grained access control (their mapping).
   * @throws Error when fine-grained access control is off (the access policy would then be all they meet)
   */
  public allowOperators(arns: string[]): void {
    if (arns.length === 0) return;
    if (!this.fineGrainedAccessControl) throw new Error('allowOperators needs fineGrainedAccessControl: without it the access policy would give them every index');
    this.extraStatements.push(new iam.PolicyStatement({
      sid: 'OperatorsFineGrained', effect: iam.Effect.ALLOW, principals: arns.map((a) => new iam.ArnPrincipal(a)),
      actions: [...VISIBILITY_HTTP_ACTIONS], resources: [`${this.policyDomainArn}/*`],
    }));
  }

  /**
   * Adds statements to the domain access policy as they are (e.g. the index job's path-level
   * statements). Name this domain with {@link policyDomainArn} in their resources.
   */
  public addAccessPolicyStatements(...statements: iam.PolicyStatement[]): void {
    this.extraStatements.push(...statements);
  }
}
