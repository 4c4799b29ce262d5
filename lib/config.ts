/**
 * Typed, validated configuration of one Temporal-on-DSQL platform environment.
 *
 * An environment file (`config/<env>.ts`) exports a {@link PlatformConfigInput}: every field except
 * `numHistoryShards` is optional and documents its default. {@link resolveConfig} fills the defaults,
 * checks every value and returns a {@link PlatformConfig} with nothing left optional. Invalid input
 * throws a {@link ConfigError} whose message names the field, the value received and what is allowed.
 * The `network` section is checked in `lib/network/config.ts`, the shared checks live in `lib/config-checks.ts`.
 */
import * as logs from 'aws-cdk-lib/aws-logs';
import { bool, checkKeys, ConfigError, int, isObject, oneOf, optObject, regionOfArn, str } from './config-checks';
import { resolveMultiAzWithStandby } from './visibility/config';
import { ArchivalConfig, ArchivalInput, resolveArchival } from './archival/config';
import { BackupConfig, BackupInput, resolveBackup } from './dsql/backup-config';
import { ObservabilityConfig, ObservabilityInput, resolveObservability } from './observability/config';
import { resolveNetwork } from './network/config';
import { NamespaceAdminInput, NamespaceInput, NamespacesConfig, resolveNamespaces, SearchAttributeInput } from './namespaces/config';
import { resolveSecurity, SecurityConfig, SecurityInput, UiConfig, UiInput } from './security/config';
import {
  AUTOSCALED_ROLES, AUTOSCALING_PRESETS, AutoscaledRole, DEFAULT_TARGET_CPU_PERCENT, FRONTEND_DRAIN_SECONDS, MIN_STOP_TIMEOUT_SECONDS,
} from './services/scaling';

export { ConfigError } from './config-checks';
export type { SecurityInput, UiInput } from './security/config';

/** The four Temporal server roles, each deployed as its own ECS service. */
export type TemporalRole = 'frontend' | 'history' | 'matching' | 'worker';

/** The Temporal server roles in a stable order (construct ids derive from it). */
export const TEMPORAL_ROLES: readonly TemporalRole[] = ['frontend', 'history', 'matching', 'worker'];

/** Every ECS service the platform runs: the four server roles and the Temporal UI. */
export type PlatformService = TemporalRole | 'ui';

/** Size of one ECS service. */
export interface ServiceSizing {
  /** Task CPU units (1024 = 1 vCPU); one of Fargate's sizes: 256, 512, 1024, 2048, 4096, 8192, 16384. */
  readonly cpu: number;
  /** Task memory in MiB; must be a Fargate combination for `cpu`. */
  readonly memoryMiB: number;
  /** Number of tasks the service keeps running (0-100). */
  readonly desiredCount: number;
}

/** Name of a sizing preset: `small` (development), `medium` (production default), `large`. */
export type SizingPreset = 'small' | 'medium' | 'large';

/**
 * Sizing presets per service. `medium` and `large` are the capacity model's answer (lib/capacity/capacity.ts,
 * `planCapacity`) for 100 and 400 hello workflows/s ({@link PRESET_TARGET_WORKFLOWS_PER_SECOND}),
 * pinned by test/cdk/capacity.test.ts; `small` is a development size. The UI is not modelled.
 */
export const SIZING_PRESETS: Readonly<Record<SizingPreset, Readonly<Record<PlatformService, ServiceSizing>>>> = {
  small: {
    frontend: { cpu: 512, memoryMiB: 1024, desiredCount: 1 },
    history: { cpu: 1024, memoryMiB: 2048, desiredCount: 1 },
    matching: { cpu: 512, memoryMiB: 1024, desiredCount: 1 },
    worker: { cpu: 256, memoryMiB: 512, desiredCount: 1 },
    ui: { cpu: 256, memoryMiB: 512, desiredCount: 1 },
  },
  medium: {
    frontend: { cpu: 1024, memoryMiB: 2048, desiredCount: 2 },
    history: { cpu: 2048, memoryMiB: 4096, desiredCount: 3 },
    matching: { cpu: 1024, memoryMiB: 2048, desiredCount: 2 },
    worker: { cpu: 512, memoryMiB: 1024, desiredCount: 2 },
    ui: { cpu: 256, memoryMiB: 512, desiredCount: 2 },
  },
  large: {
    frontend: { cpu: 2048, memoryMiB: 4096, desiredCount: 3 },
    history: { cpu: 4096, memoryMiB: 8192, desiredCount: 6 },
    matching: { cpu: 1024, memoryMiB: 2048, desiredCount: 4 },
    worker: { cpu: 512, memoryMiB: 1024, desiredCount: 2 },
    ui: { cpu: 512, memoryMiB: 1024, desiredCount: 2 },
  },
};

/** What happens to a stateful resource when it leaves the stack (or the stack is deleted). */
export type RemovalPolicyName = 'retain' | 'destroy';

/** One dynamic-config value with optional constraints (Temporal's dynamic config file format). */
export interface DynamicConfigValue {
  /** The value (number, string, boolean, list or map). */
  readonly value: unknown;
  /** Constraints such as `{ namespace: 'orders' }` or `{ taskQueueName: 'q' }`. @default - applies everywhere */
  readonly constraints?: Record<string, unknown>;
}

/** An existing VPC to deploy into, imported by id (no lookup at synth, so it works offline). */
export interface ExistingVpcInput {
  /** VPC id, `vpc-` followed by 8 or 17 hex digits. */
  readonly vpcId: string;
  /** Availability zones of the private subnets, same order as `privateSubnetIds`. */
  readonly availabilityZones: string[];
  /** Private subnets with a route to a NAT gateway or the needed VPC endpoints, one per AZ. */
  readonly privateSubnetIds: string[];
  /** Route table ids of the private subnets, same order as `privateSubnetIds`. */
  readonly privateSubnetRouteTableIds: string[];
  /** VPC CIDR block (used for the endpoint and load balancer security groups). */
  readonly cidr: string;
}

/** Network settings. */
export interface NetworkInput {
  /** Number of availability zones (2 or 3). @default 2 */
  readonly azCount?: number;
  /**
   * Availability zones to use for a new VPC; length must equal `azCount`. Needed for 3 AZs when the
   * stack has no concrete region (an environment-agnostic stack only knows 2 AZs at synth).
   * @default - the region's first `azCount` zones
   */
  readonly availabilityZones?: string[];
  /** NAT gateways: `one` (cheaper, one AZ dependency) or `perAz`. @default 'perAz' */
  readonly natGateways?: 'one' | 'perAz';
  /** CIDR block of a new VPC, /18 or larger (a /20 private and a /24 public subnet per AZ). @default '10.0.0.0/16' */
  readonly cidr?: string;
  /** Deploy into this existing VPC instead of creating one. @default - a new VPC */
  readonly existingVpc?: ExistingVpcInput;
  /** Create the interface/gateway endpoints private tasks need (also for an existing VPC). @default true */
  readonly createVpcEndpoints?: boolean;
  /** CIDR blocks allowed to reach the frontend NLB (7233) and the UI ALB. @default - the VPC CIDR */
  readonly clientCidrs?: string[];
}

/** Aurora DSQL settings. */
export interface DsqlInput {
  /** Deletion protection of the cluster. @default true */
  readonly deletionProtection?: boolean;
  /** Customer managed KMS key ARN for encryption at rest. @default - AWS owned key */
  readonly kmsKeyArn?: string;
  /** Non-admin database role the servers log in as (`dsql:DbConnect`). @default 'temporal_server' */
  readonly databaseRole?: string;
  /** Reach the cluster through a PrivateLink interface endpoint in the VPC. @default true */
  readonly privateLink?: boolean;
}

/** OpenSearch (visibility) settings. */
export interface OpenSearchInput {
  /** OpenSearch engine version `major.minor`; 2.11 and 2.17 are refused. @default '2.19' */
  readonly engineVersion?: string;
  /** Data node instance type. @default 'r7g.large.search' */
  readonly dataNodeInstanceType?: string;
  /** Data node count; a multiple of the AZ count. @default - the AZ count */
  readonly dataNodes?: number;
  /** Dedicated master node count: 0, 3 or 5. @default 3 */
  readonly masterNodes?: number;
  /** Dedicated master instance type. @default 'm7g.large.search' */
  readonly masterNodeInstanceType?: string;
  /** EBS volume size per data node in GiB (10-16384). @default 100 */
  readonly volumeSizeGiB?: number;
  /** Domain name (3-28 chars, lowercase letters, digits, hyphens). @default `temporal-<env>` */
  readonly domainName?: string;
  /** Visibility index name; must start with `temporal_visibility_v1`. @default `temporal_visibility_v1_<env>` */
  readonly visibilityIndex?: string;
  /** Multi-AZ with Standby (needs 3 AZs, dedicated masters, data nodes a multiple of 3, no T2/T3). @default false */
  readonly multiAzWithStandby?: boolean;
}

/** Removal policies of the stateful resources. */
export interface RemovalPoliciesInput {
  /** DSQL cluster. @default 'retain' */
  readonly dsqlCluster?: RemovalPolicyName;
  /** OpenSearch domain. @default 'retain' */
  readonly visibilityDomain?: RemovalPolicyName;
  /** CloudWatch log groups. @default 'retain' */
  readonly logs?: RemovalPolicyName;
}


/** CPU autoscaling of frontend and matching (history and worker keep `desiredCount`; docs/capacity.md). */
export interface AutoscalingInput {
  /** Scale frontend and matching on CPU; false keeps every role at `desiredCount`. @default true */
  readonly enabled?: boolean;
  /** Target average CPU utilisation, percent (20-90). @default 60 */
  readonly targetCpuPercent?: number;
  /** Most tasks of frontend and matching (the least is `services.<role>.desiredCount`). @default - the preset's (README, Sizing presets), at least desiredCount + 1 */
  readonly maxCount?: Partial<Record<AutoscaledRole, number>>;
  /** Seconds between scale-outs (0-3600). @default - the preset's: 120 small, 60 medium and large */
  readonly scaleOutCooldownSeconds?: number;
  /** Seconds between scale-ins (0-3600). @default - the preset's: 900 small, 600 medium, 300 large */
  readonly scaleInCooldownSeconds?: number;
}

/** What an environment file provides. Only `numHistoryShards` is required. */
export interface PlatformConfigInput {
  /** Account and region of the stack. @default - environment-agnostic (resolved at deploy time) */
  readonly env?: { readonly account?: string; readonly region?: string };
  /**
   * History shard count: a power of two, 1-16384. It can never change after the first deploy;
   * `config/<env>.lock.json` pins it (see README, "numHistoryShards is immutable").
   */
  readonly numHistoryShards: number;
  /** Temporal server version the image is built from (recorded as a tag). @default '1.31.2' */
  readonly temporalVersion?: string;
  /** `temporalio/ui` image tag. @default '2.56.1' */
  readonly uiVersion?: string;
  /**
   * Temporal UI image pinned by digest, instead of `uiVersion`: `temporalio/ui:2.56.1@sha256:<64 hex>`
   * (the tag is optional and only for readers) or a mirror of it. Pulled from its registry as is (no pull
   * permissions are granted: a private registry needs its own).
   * @default - `temporalio/ui:<uiVersion>`, a tag without a digest: no digest of that tag could be verified where the default was set
   */
  readonly uiImage?: string;
  /**
   * Temporal server image (`<registry>/<repo>:<tag>`; an ECR URI gets pull permissions).
   * @default - built from `docker/temporal-server/Dockerfile` as a CDK asset; synth fails if it does not exist
   */
  readonly serverImage?: string;
  /** Sizing preset. @default 'medium' */
  readonly sizing?: SizingPreset;
  /** Per-service overrides of the preset. @default - the preset */
  readonly services?: Partial<Record<PlatformService, Partial<ServiceSizing>>>;
  /** CPU autoscaling of frontend and matching. @default - on, bounds and cooldowns of the preset */
  readonly autoscaling?: AutoscalingInput;
  /** Network settings. */
  readonly network?: NetworkInput;
  /** DSQL settings. */
  readonly dsql?: DsqlInput;
  /** OpenSearch settings. */
  readonly opensearch?: OpenSearchInput;
  /** UI settings: HTTPS certificate, OIDC login, read-only (lib/security/config.ts). */
  readonly ui?: UiInput;
  /**
   * Marks a production environment: synth then refuses `security.allowNoAuth`, `security.allowPlaintext`,
   * a UI without `ui.certificateArn` and `dsql.privateLink: false`. @default false
   */
  readonly production?: boolean;
  /** Frontend authorization and TLS (lib/security/config.ts, docs/security.md). @default - authorization required, TLS from the stack's CA */
  readonly security?: SecurityInput;
  /** CloudWatch Logs retention in days (a value CloudWatch accepts, e.g. 30, 90, 365). @default 30 */
  readonly logRetentionDays?: number;
  /** Removal policies. */
  readonly removalPolicies?: RemovalPoliciesInput;
  /** AWS Backup of the DSQL cluster (lib/dsql/backup.ts). @default - on, daily at 05:00 UTC, kept 35 days */
  readonly backup?: BackupInput;
  /** Archival of closed workflows to an S3 bucket the stack owns (lib/archival/archival.ts). @default - on, to GLACIER_IR after 30 days */
  readonly archival?: ArchivalInput;
  /** Alarms to an SNS topic and a CloudWatch dashboard (lib/observability/observability.ts). @default - on, no subscriptions */
  readonly observability?: ObservabilityInput;
  /** Temporal namespaces applied during deploy (lib/namespaces/config.ts, lib/namespaces/namespaces.ts). @default [] */
  readonly namespaces?: NamespaceInput[];
  /** Custom search attributes applied during deploy (lib/namespaces/config.ts). @default [] */
  readonly searchAttributes?: SearchAttributeInput[];
  /** Admin client the namespace resource authenticates as when frontend authorization is on. @default - no token sent */
  readonly namespaceAdmin?: NamespaceAdminInput;
  /** Dynamic config overrides merged over `docker/temporal-server/config/dynamicconfig/default.yaml` (a key replaces the default's list). @default {} */
  readonly dynamicConfig?: Record<string, DynamicConfigValue[]>;
  /** Server log level. @default 'info' */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /**
   * Graceful stop timeout of the server containers in seconds: 70-120 (120 is Fargate's maximum; 70 is
   * the frontend's 65 s drain of open long polls plus 5 s). @default 120
   */
  readonly stopTimeoutSeconds?: number;
  /** Allow ECS Exec into the tasks (adds the SSM messages endpoint). @default false */
  readonly enableEcsExec?: boolean;
  /** CPU architecture of all tasks (and of the server image built from the Dockerfile). @default 'arm64' */
  readonly cpuArchitecture?: 'arm64' | 'x86_64';
  /** Tags applied to every resource. @default {} */
  readonly tags?: Record<string, string>;
}

/** A fully resolved environment: every default filled in, every value checked. */
export interface PlatformConfig extends NamespacesConfig {
  readonly envName: string;
  readonly env: { readonly account?: string; readonly region?: string };
  readonly numHistoryShards: number;
  readonly temporalVersion: string;
  readonly uiVersion: string;
  /** The UI image reference: `uiImage`, else `temporalio/ui:<uiVersion>`. */
  readonly uiImage: string;
  readonly serverImage?: string;
  readonly sizing: SizingPreset;
  readonly services: Readonly<Record<PlatformService, ServiceSizing>>;
  /** Autoscaling; `minCount` is the role's `desiredCount`. */
  readonly autoscaling: {
    readonly enabled: boolean;
    readonly targetCpuPercent: number;
    readonly scaleOutCooldownSeconds: number;
    readonly scaleInCooldownSeconds: number;
    readonly roles: Readonly<Record<AutoscaledRole, { readonly minCount: number; readonly maxCount: number }>>;
  };
  readonly network: {
    readonly azCount: number;
    readonly availabilityZones?: string[];
    readonly natGateways: 'one' | 'perAz';
    readonly cidr: string;
    readonly existingVpc?: ExistingVpcInput;
    readonly createVpcEndpoints: boolean;
    readonly clientCidrs?: string[];
  };
  readonly dsql: {
    readonly deletionProtection: boolean;
    readonly kmsKeyArn?: string;
    readonly databaseRole: string;
    readonly privateLink: boolean;
  };
  readonly opensearch: {
    readonly engineVersion: string;
    readonly dataNodeInstanceType: string;
    readonly dataNodes: number;
    readonly masterNodes: number;
    readonly masterNodeInstanceType: string;
    readonly volumeSizeGiB: number;
    readonly domainName: string;
    readonly visibilityIndex: string;
    readonly multiAzWithStandby: boolean;
  };
  readonly ui: UiConfig;
  readonly production: boolean;
  readonly security: SecurityConfig;
  readonly logRetentionDays: number;
  readonly removalPolicies: Required<RemovalPoliciesInput>;
  readonly backup: BackupConfig;
  readonly archival: ArchivalConfig;
  readonly observability: ObservabilityConfig;
  readonly dynamicConfig: Record<string, DynamicConfigValue[]>;
  readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  readonly stopTimeoutSeconds: number;
  readonly enableEcsExec: boolean;
  readonly cpuArchitecture: 'arm64' | 'x86_64';
  readonly tags: Record<string, string>;
}

/** OpenSearch versions whose gzip request handling breaks Temporal's bulk writes. */
export const REFUSED_OPENSEARCH_VERSIONS: readonly string[] = ['2.11', '2.17'];

/**
 * OpenSearch versions allowed: the 2.x line (Temporal supports OpenSearch 2 from server 1.30.1) that
 * aws-cdk-lib 2.276 knows, minus the refused ones. 3.x is not listed: not verified with Temporal 1.31.
 */
export const ALLOWED_OPENSEARCH_VERSIONS: readonly string[] = [
  '2.3', '2.5', '2.7', '2.9', '2.10', '2.13', '2.15', '2.19',
];

/**
 * Retention values CloudWatch Logs accepts (days): every value of aws-cdk-lib's `logs.RetentionDays`
 * except `INFINITE` (never expire is not offered: the platform's logs always expire).
 */
export const LOG_RETENTION_DAYS: readonly number[] = Object.values(logs.RetentionDays)
  .filter((v): v is number => typeof v === 'number' && v !== logs.RetentionDays.INFINITE);

/** Fargate task memory (MiB) allowed for each CPU size. */
export function fargateMemoryOptions(cpu: number): number[] {
  const range = (from: number, to: number, step: number) => {
    const out: number[] = [];
    for (let m = from; m <= to; m += step) out.push(m);
    return out;
  };
  switch (cpu) {
    case 256: return [512, 1024, 2048];
    case 512: return range(1024, 4096, 1024);
    case 1024: return range(2048, 8192, 1024);
    case 2048: return range(4096, 16384, 1024);
    case 4096: return range(8192, 30720, 1024);
    case 8192: return range(16384, 61440, 4096);
    case 16384: return range(32768, 122880, 8192);
    default: return [];
  }
}

const FARGATE_CPUS = [256, 512, 1024, 2048, 4096, 8192, 16384];

const TOP_LEVEL_KEYS: ReadonlyArray<keyof PlatformConfigInput> = [
  'env', 'numHistoryShards', 'temporalVersion', 'uiVersion', 'uiImage', 'serverImage', 'sizing', 'services', 'autoscaling', 'network',
  'dsql', 'opensearch', 'ui', 'logRetentionDays', 'removalPolicies', 'backup', 'archival', 'observability', 'dynamicConfig', 'logLevel',
  'stopTimeoutSeconds', 'enableEcsExec', 'cpuArchitecture', 'tags', 'namespaces', 'searchAttributes', 'namespaceAdmin', 'production', 'security',
];

/** True when n is a positive power of two. */
export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * Dynamic config key that must stay 1 on DSQL: the plugin fences a shard's writes with
 * `SELECT ... FOR UPDATE` on the shard row, so two concurrent writes of one shard conflict at
 * commit. Any other value in `dynamicConfig` is refused.
 */
export const SHARD_IO_CONCURRENCY_KEY = 'history.shardIOConcurrency';

/**
 * Fills defaults into an environment's input and validates every field.
 *
 * @param envName environment name (`-c env=<name>`): lowercase letters, digits and hyphens, 1-16 chars
 * @param input the environment file's export
 * @returns the resolved configuration
 * @throws ConfigError naming the field, the value and what is allowed
 */
export function resolveConfig(envName: string, input: PlatformConfigInput): PlatformConfig {
  str('env', envName, /^[a-z][a-z0-9-]{0,15}$/, 'an environment name of 1-16 lowercase letters, digits or hyphens, starting with a letter');
  const p = (f: string) => `${envName}.${f}`;
  if (!isObject(input)) throw new ConfigError(envName, input, 'an object (PlatformConfigInput)');
  checkKeys(envName, input, TOP_LEVEL_KEYS);

  // env
  const envIn = optObject(p('env'), input.env);
  checkKeys(p('env'), envIn, ['account', 'region']);
  const account = envIn.account === undefined ? undefined : str(p('env.account'), envIn.account, /^\d{12}$/, 'a 12-digit AWS account id');
  const region = envIn.region === undefined ? undefined : str(p('env.region'), envIn.region, /^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region name such as us-east-1');

  // shards
  const shards = input.numHistoryShards;
  if (typeof shards !== 'number' || !isPowerOfTwo(shards) || shards > 16384) {
    throw new ConfigError(p('numHistoryShards'), shards, 'a power of two from 1 to 16384 (it can never change after the first deploy)');
  }

  const temporalVersion = input.temporalVersion === undefined ? '1.31.2'
    : str(p('temporalVersion'), input.temporalVersion, /^\d+\.\d+\.\d+$/, 'a Temporal server version such as 1.31.2');
  const uiVersion = input.uiVersion === undefined ? '2.56.1'
    : str(p('uiVersion'), input.uiVersion, /^\d+\.\d+\.\d+$/, 'a pinned temporalio/ui tag such as 2.56.1 (never latest)');
  if (input.uiImage !== undefined && input.uiVersion !== undefined) {
    throw new ConfigError(p('uiImage'), input.uiImage, 'either uiImage or uiVersion, not both (uiImage replaces uiVersion)');
  }
  const uiImage = input.uiImage === undefined ? `temporalio/ui:${uiVersion}`
    : str(p('uiImage'), input.uiImage, /^[a-z0-9][a-z0-9._\-/:]*[a-z0-9](:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?@sha256:[a-f0-9]{64}$/,
      'an image reference pinned by digest, e.g. temporalio/ui:2.56.1@sha256:<64 hex digits>');
  const serverImage = input.serverImage === undefined ? undefined
    : str(p('serverImage'), input.serverImage, /^[a-z0-9][a-z0-9._\-/:]*[a-z0-9](:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$/,
      'an image reference with an explicit tag or digest, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/temporal-dsql:1.31.2');
  if (serverImage !== undefined && /:latest$/.test(serverImage)) {
    throw new ConfigError(p('serverImage'), serverImage,
      'an image pinned by a version tag or digest, never latest (each task would run whatever latest is when it starts, and cdk diff would not show a change)');
  }

  // sizing
  const sizing = oneOf(p('sizing'), input.sizing, ['small', 'medium', 'large'] as const, 'medium');
  const servicesIn = optObject(p('services'), input.services);
  checkKeys(p('services'), servicesIn, [...TEMPORAL_ROLES, 'ui']);
  const services = {} as Record<PlatformService, ServiceSizing>;
  for (const svc of [...TEMPORAL_ROLES, 'ui'] as PlatformService[]) {
    const o = optObject(p(`services.${svc}`), servicesIn[svc]);
    checkKeys(p(`services.${svc}`), o, ['cpu', 'memoryMiB', 'desiredCount']);
    const base = SIZING_PRESETS[sizing][svc];
    const cpu = o.cpu === undefined ? base.cpu : o.cpu;
    if (typeof cpu !== 'number' || !FARGATE_CPUS.includes(cpu)) {
      throw new ConfigError(p(`services.${svc}.cpu`), cpu, `one of Fargate's CPU sizes ${FARGATE_CPUS.join(', ')}`);
    }
    const memoryMiB = o.memoryMiB === undefined ? base.memoryMiB : o.memoryMiB;
    const mems = fargateMemoryOptions(cpu);
    if (typeof memoryMiB !== 'number' || !mems.includes(memoryMiB)) {
      throw new ConfigError(p(`services.${svc}.memoryMiB`), memoryMiB,
        `a Fargate memory size for cpu ${cpu}: ${mems[0]}-${mems[mems.length - 1]} MiB in steps of ${mems[1] - mems[0]}`);
    }
    const desiredCount = int(p(`services.${svc}.desiredCount`), o.desiredCount === undefined ? base.desiredCount : o.desiredCount, 0, 100);
    services[svc] = { cpu, memoryMiB, desiredCount };
  }

  // autoscaling
  const asIn = optObject(p('autoscaling'), input.autoscaling);
  checkKeys(p('autoscaling'), asIn, ['enabled', 'targetCpuPercent', 'maxCount', 'scaleOutCooldownSeconds', 'scaleInCooldownSeconds']);
  const asPreset = AUTOSCALING_PRESETS[sizing];
  const maxIn = optObject(p('autoscaling.maxCount'), asIn.maxCount);
  checkKeys(p('autoscaling.maxCount'), maxIn, AUTOSCALED_ROLES);
  const autoscalingEnabled = bool(p('autoscaling.enabled'), asIn.enabled, true);
  const roles = {} as Record<AutoscaledRole, { minCount: number; maxCount: number }>;
  for (const role of AUTOSCALED_ROLES) {
    const minCount = services[role].desiredCount;
    const maxCount = int(p(`autoscaling.maxCount.${role}`), maxIn[role] === undefined ? Math.min(100, Math.max(asPreset.maxCount[role], minCount + 1)) : maxIn[role], 1, 100);
    if (autoscalingEnabled && minCount < 1) {
      throw new ConfigError(p(`services.${role}.desiredCount`), minCount, 'at least 1 with autoscaling (zero tasks report no CPU, so nothing would ever scale out), or set autoscaling.enabled: false');
    }
    if (maxCount < minCount) {
      throw new ConfigError(p(`autoscaling.maxCount.${role}`), maxCount, `at least services.${role}.desiredCount (${minCount}), the autoscaling minimum`);
    }
    roles[role] = { minCount, maxCount };
  }
  const autoscaling = {
    enabled: autoscalingEnabled,
    targetCpuPercent: int(p('autoscaling.targetCpuPercent'), asIn.targetCpuPercent === undefined ? DEFAULT_TARGET_CPU_PERCENT : asIn.targetCpuPercent, 20, 90),
    scaleOutCooldownSeconds: int(p('autoscaling.scaleOutCooldownSeconds'), asIn.scaleOutCooldownSeconds ?? asPreset.scaleOutCooldownSeconds, 0, 3600),
    scaleInCooldownSeconds: int(p('autoscaling.scaleInCooldownSeconds'), asIn.scaleInCooldownSeconds ?? asPreset.scaleInCooldownSeconds, 0, 3600),
    roles,
  };

  // network
  const network = resolveNetwork(p, input.network, { account, region });
  const { azCount } = network;

  // dsql
  const dsqlIn = optObject(p('dsql'), input.dsql);
  checkKeys(p('dsql'), dsqlIn, ['deletionProtection', 'kmsKeyArn', 'databaseRole', 'privateLink']);
  const kmsKeyArn = dsqlIn.kmsKeyArn === undefined ? undefined
    : str(p('dsql.kmsKeyArn'), dsqlIn.kmsKeyArn, /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, 'a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)');
  if (kmsKeyArn && region && regionOfArn(kmsKeyArn) !== region) {
    throw new ConfigError(p('dsql.kmsKeyArn'), kmsKeyArn, `a KMS key in env.region ${region} (DSQL only uses a key of the cluster's own Region)`);
  }
  const databaseRole = dsqlIn.databaseRole === undefined ? 'temporal_server'
    : str(p('dsql.databaseRole'), dsqlIn.databaseRole, /^[a-z_][a-z0-9_]{0,62}$/, 'a PostgreSQL role name: lowercase letters, digits, underscores, at most 63 chars');
  if (databaseRole === 'admin') throw new ConfigError(p('dsql.databaseRole'), databaseRole, 'a non-admin role (the servers must not log in as admin)');

  // opensearch
  const osIn = optObject(p('opensearch'), input.opensearch);
  checkKeys(p('opensearch'), osIn, ['engineVersion', 'dataNodeInstanceType', 'dataNodes', 'masterNodes', 'masterNodeInstanceType', 'volumeSizeGiB', 'domainName', 'visibilityIndex', 'multiAzWithStandby']);
  const engineVersion = osIn.engineVersion === undefined ? '2.19' : osIn.engineVersion;
  if (typeof engineVersion !== 'string' || !ALLOWED_OPENSEARCH_VERSIONS.includes(engineVersion)) {
    const why = REFUSED_OPENSEARCH_VERSIONS.includes(engineVersion as string)
      ? ` (${engineVersion} is refused: its gzip request handling breaks Temporal's bulk writes)` : '';
    throw new ConfigError(p('opensearch.engineVersion'), engineVersion, `one of ${ALLOWED_OPENSEARCH_VERSIONS.join(', ')}${why}`);
  }
  const instanceType = /^[a-z][a-z0-9]*\.[a-z0-9]+\.search$/;
  const dataNodeInstanceType = osIn.dataNodeInstanceType === undefined ? 'r7g.large.search'
    : str(p('opensearch.dataNodeInstanceType'), osIn.dataNodeInstanceType, instanceType, 'an OpenSearch instance type such as r7g.large.search');
  if (/^t2\./.test(dataNodeInstanceType)) throw new ConfigError(p('opensearch.dataNodeInstanceType'), dataNodeInstanceType, 'an instance type that supports encryption at rest (not t2)');
  const dataNodes = int(p('opensearch.dataNodes'), osIn.dataNodes === undefined ? azCount : osIn.dataNodes, 1, 80);
  if (dataNodes % azCount !== 0) throw new ConfigError(p('opensearch.dataNodes'), dataNodes, `a multiple of network.azCount (${azCount}) for zone awareness`);
  const masterNodes = (osIn.masterNodes === undefined ? 3 : osIn.masterNodes) as number;
  if (![0, 3, 5].includes(masterNodes)) throw new ConfigError(p('opensearch.masterNodes'), masterNodes, '0, 3 or 5');
  const masterNodeInstanceType = osIn.masterNodeInstanceType === undefined ? 'm7g.large.search'
    : str(p('opensearch.masterNodeInstanceType'), osIn.masterNodeInstanceType, instanceType, 'an OpenSearch instance type such as m7g.large.search');
  const volumeSizeGiB = int(p('opensearch.volumeSizeGiB'), osIn.volumeSizeGiB === undefined ? 100 : osIn.volumeSizeGiB, 10, 16384);
  const domainName = osIn.domainName === undefined ? `temporal-${envName}`
    : str(p('opensearch.domainName'), osIn.domainName, /^[a-z][a-z0-9-]{2,27}$/, '3-28 characters: lowercase letters, digits and hyphens, starting with a letter');
  if (domainName.length > 28) throw new ConfigError(p('opensearch.domainName'), domainName, 'at most 28 characters (set opensearch.domainName for a long environment name)');
  const visibilityIndex = osIn.visibilityIndex === undefined ? `temporal_visibility_v1_${envName.replace(/-/g, '_')}`
    : str(p('opensearch.visibilityIndex'), osIn.visibilityIndex, /^temporal_visibility_v1[a-z0-9_-]*$/,
      'an index name starting with temporal_visibility_v1 (so the visibility index template applies), lowercase letters, digits, _ and -');

  // ui and security (lib/security/config.ts)
  const production = bool(p('production'), input.production, false);
  const { security, ui } = resolveSecurity(p, input.security, input.ui, {
    production, region, dsqlKmsKeyArn: kmsKeyArn, dsqlPrivateLink: bool(p('dsql.privateLink'), dsqlIn.privateLink, true),
  });

  // logs and removal
  const logRetentionDays = input.logRetentionDays === undefined ? 30 : input.logRetentionDays;
  if (!LOG_RETENTION_DAYS.includes(logRetentionDays)) {
    throw new ConfigError(p('logRetentionDays'), logRetentionDays, `one of ${LOG_RETENTION_DAYS.join(', ')}`);
  }
  const rmIn = optObject(p('removalPolicies'), input.removalPolicies);
  checkKeys(p('removalPolicies'), rmIn, ['dsqlCluster', 'visibilityDomain', 'logs']);
  const rp = ['retain', 'destroy'] as const;
  const removalPolicies = {
    dsqlCluster: oneOf(p('removalPolicies.dsqlCluster'), rmIn.dsqlCluster, rp, 'retain'),
    visibilityDomain: oneOf(p('removalPolicies.visibilityDomain'), rmIn.visibilityDomain, rp, 'retain'),
    logs: oneOf(p('removalPolicies.logs'), rmIn.logs, rp, 'retain'),
  };

  // dynamic config (history.shardIOConcurrency is pinned to 1, see SHARD_IO_CONCURRENCY_KEY)
  const dcIn = optObject(p('dynamicConfig'), input.dynamicConfig);
  const dynamicConfig: Record<string, DynamicConfigValue[]> = {};
  for (const [key, list] of Object.entries(dcIn)) {
    const f = p(`dynamicConfig["${key}"]`);
    if (!/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+$/.test(key)) {
      throw new ConfigError(f, key, 'a dynamic config key such as history.persistenceMaxQPS');
    }
    if (!Array.isArray(list) || list.length === 0) throw new ConfigError(f, list, 'a non-empty list of { value, constraints? }');
    list.forEach((item, i) => {
      if (!isObject(item) || !('value' in item) || item.value === undefined) {
        throw new ConfigError(`${f}[${i}]`, item, 'an object { value, constraints? } with a value');
      }
      checkKeys(`${f}[${i}]`, item, ['value', 'constraints']);
      if (item.constraints !== undefined && !isObject(item.constraints)) {
        throw new ConfigError(`${f}[${i}].constraints`, item.constraints, 'an object such as { namespace: "orders" }');
      }
      if (key === SHARD_IO_CONCURRENCY_KEY && item.value !== 1) {
        throw new ConfigError(`${f}[${i}].value`, item.value, `1 only: the shard fence is SELECT ... FOR UPDATE on DSQL, so concurrent writes of one shard would conflict with each other (40001); see docs/temporal-server.md`);
      }
    });
    dynamicConfig[key] = list as DynamicConfigValue[];
  }

  const logLevel = oneOf(p('logLevel'), input.logLevel, ['debug', 'info', 'warn', 'error'] as const, 'info');
  const stopTimeoutSeconds = input.stopTimeoutSeconds === undefined ? 120 : input.stopTimeoutSeconds;
  if (typeof stopTimeoutSeconds !== 'number' || !Number.isInteger(stopTimeoutSeconds) || stopTimeoutSeconds < MIN_STOP_TIMEOUT_SECONDS || stopTimeoutSeconds > 120) {
    throw new ConfigError(p('stopTimeoutSeconds'), stopTimeoutSeconds,
      `an integer from ${MIN_STOP_TIMEOUT_SECONDS} to 120 (a stopping frontend drains open long polls for ${FRONTEND_DRAIN_SECONDS} s; Fargate allows at most 120)`);
  }
  const enableEcsExec = bool(p('enableEcsExec'), input.enableEcsExec, false);
  const cpuArchitecture = oneOf(p('cpuArchitecture'), input.cpuArchitecture, ['arm64', 'x86_64'] as const, 'arm64');
  const tagsIn = optObject(p('tags'), input.tags);
  for (const [k, v] of Object.entries(tagsIn)) {
    if (typeof v !== 'string' || k.length === 0 || k.length > 128 || v.length > 256 || k.startsWith('aws:')) {
      throw new ConfigError(p(`tags["${k}"]`), v, 'a string value (key 1-128 chars not starting with aws:, value at most 256 chars)');
    }
  }

  return {
    envName,
    env: { account, region },
    numHistoryShards: shards,
    temporalVersion,
    uiVersion,
    uiImage,
    serverImage,
    sizing,
    services,
    autoscaling,
    network,
    dsql: {
      deletionProtection: bool(p('dsql.deletionProtection'), dsqlIn.deletionProtection, true),
      kmsKeyArn,
      databaseRole,
      privateLink: bool(p('dsql.privateLink'), dsqlIn.privateLink, true),
    },
    opensearch: {
      engineVersion, dataNodeInstanceType, dataNodes, masterNodes, masterNodeInstanceType, volumeSizeGiB, domainName, visibilityIndex,
      multiAzWithStandby: resolveMultiAzWithStandby(p, osIn.multiAzWithStandby, { azCount, dataNodes, masterNodes, dataNodeInstanceType, masterNodeInstanceType }),
    },
    ui,
    production,
    security,
    logRetentionDays,
    removalPolicies,
    backup: resolveBackup(p, input.backup),
    archival: resolveArchival(p, input.archival),
    observability: resolveObservability(p, input.observability, region),
    ...resolveNamespaces(p, input, { archivalEnabled: resolveArchival(p, input.archival).enabled, authorization: security.auth !== undefined }),
    dynamicConfig,
    logLevel,
    stopTimeoutSeconds,
    enableEcsExec,
    cpuArchitecture,
    tags: tagsIn as Record<string, string>,
  };
}
