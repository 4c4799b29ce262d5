/**
 * Typed, validated configuration of one Temporal-on-DSQL platform environment.
 *
 * An environment file (`config/<env>.ts`) exports a {@link PlatformConfigInput}: every field except
 * `numHistoryShards` is optional and documents its default. {@link resolveConfig} fills the defaults,
 * checks every value and returns a {@link PlatformConfig} with nothing left optional. Invalid input
 * throws a {@link ConfigError} whose message names the field, the value received and what is allowed.
 * Each section is resolved by its own folder (`lib/<concern>/config.ts`: network, dsql, visibility, services,
 * security, observability, namespaces, archival); this file only assembles them, in the order their
 * checks run. The shared checks live in `lib/config-checks.ts`.
 */
import * as logs from 'aws-cdk-lib/aws-logs';
import { ArchivalConfig, ArchivalInput, resolveArchival } from './archival/config';
import { bool, checkKeys, ConfigError, isObject, oneOf, optObject, str } from './config-checks';
import { BackupConfig, BackupInput, resolveBackup } from './dsql/backup-config';
import { DsqlConfig, DsqlInput, resolveDsql } from './dsql/config';
import { NamespaceAdminInput, NamespaceInput, NamespacesConfig, resolveNamespaces, SearchAttributeInput } from './namespaces/config';
import { NetworkInput, ResolvedNetwork, resolveNetwork } from './network/config';
import { ObservabilityConfig, ObservabilityInput, resolveObservability } from './observability/config';
import { resolveSecurity, SecurityConfig, SecurityInput, UiConfig, UiInput } from './security/config';
import {
  AutoscalingConfig, AutoscalingInput, resolveDynamicConfig, resolveImages, resolveServices, resolveStopTimeout,
} from './services/config';
import { ImagesConfig, ImagesInput, resolveImageSources } from './services/images';
import { DynamicConfigValue, PlatformService, ServiceSizing, SizingPreset } from './services/roles';
import { ExampleValue, findExampleValues } from './example-values';
import type { MultiRegionInputOf, RegionOverrideKey } from './multi-region/input';
import { OpenSearchConfig, OpenSearchInput, resolveOpenSearch } from './visibility/config';

export { ConfigError } from './config-checks';
export type { SecurityInput, UiInput } from './security/config';

/**
 * What happens to a stateful resource when it leaves the stack (or the stack is deleted). `retain`
 * keeps it, except that a first deploy which rolls back deletes what it created (CloudFormation's
 * RetainExceptOnCreate; lib/platform-stack.ts names the two exceptions); `destroy` deletes it.
 */
export type RemovalPolicyName = 'retain' | 'destroy';

/** Removal policies of the stateful resources. */
export interface RemovalPoliciesInput {
  /** DSQL cluster. @default 'retain' */
  readonly dsqlCluster?: RemovalPolicyName;
  /** OpenSearch domain. @default 'retain' */
  readonly visibilityDomain?: RemovalPolicyName;
  /** CloudWatch log groups. @default 'retain' */
  readonly logs?: RemovalPolicyName;
}

/**
 * A per-Region override of a multi-Region environment: the sections named in
 * `REGION_OVERRIDE_KEYS` (lib/multi-region/input.ts), each replacing the environment's for that Region.
 */
export type RegionOverrideInput = Partial<Pick<PlatformConfigInput, RegionOverrideKey>>;

/** What an environment file provides. Only `numHistoryShards` is required. */
export interface PlatformConfigInput {
  /** Account and region of the stack. @default - environment-agnostic (resolved at deploy time) */
  readonly env?: { readonly account?: string; readonly region?: string };
  /**
   * History shard count: a power of two, 1-16384. It can never change after the first deploy;
   * `config/<env>.lock.json` pins it (see README, "numHistoryShards is immutable").
   */
  readonly numHistoryShards: number;
  /** Temporal server version the image is built from (recorded as a tag). @default '1.32.2' */
  readonly temporalVersion?: string;
  /** `temporalio/ui` image tag. @default '2.56.1' */
  readonly uiVersion?: string;
  /**
   * Temporal UI image pinned by digest, instead of `uiVersion`: `temporalio/ui:2.56.1@sha256:<64 hex>`
   * (the tag is optional and only for readers) or a mirror of it. An image on Docker Hub or ECR Public goes
   * through the pull-through cache with `images.source: 'pullThroughCache'`; an ECR URI of the account is
   * pulled with pull permissions on its repository; any other registry only with `images.source: 'public'`.
   * @default - `temporalio/ui:<uiVersion>`, a tag without a digest: no digest of that tag could be verified where the default was set
   */
  readonly uiImage?: string;
  /**
   * Temporal server image (`<registry>/<repo>:<tag>`; an ECR URI gets pull permissions).
   * @default - built from `docker/temporal-server/Dockerfile` as a CDK asset; synth fails if it does not exist
   */
  readonly serverImage?: string;
  /**
   * Where the UI and collector images are pulled from, and their digests (lib/services/images.ts,
   * docs/security.md "Images"). @default - ECR pull-through cache in production, the public registries otherwise
   */
  readonly images?: ImagesInput;
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
  /**
   * Two peered Regions and a witness: one stack per Region, `Temporal-<env>-<region>`, on one
   * multi-Region DSQL database (lib/multi-region/config.ts, docs/multi-region.md).
   * @default - single-Region: one stack, `Temporal-<env>`
   */
  readonly multiRegion?: MultiRegionInputOf<RegionOverrideInput>;
}

/** A fully resolved environment: every default filled in, every value checked. */
export interface PlatformConfig extends NamespacesConfig {
  readonly envName: string;
  readonly env: { readonly account?: string; readonly region?: string };
  readonly numHistoryShards: number;
  readonly temporalVersion: string;
  readonly uiVersion: string;
  /** The UI image reference as pulled upstream: `uiImage`, else `temporalio/ui:<uiVersion>`, with `images.uiDigest` when set. */
  readonly uiImage: string;
  readonly serverImage?: string;
  /** Image source and digests; `observability.collectorImage` already carries `images.collectorDigest`. */
  readonly images: ImagesConfig;
  readonly sizing: SizingPreset;
  readonly services: Readonly<Record<PlatformService, ServiceSizing>>;
  /** Autoscaling; `minCount` is the role's `desiredCount`. */
  readonly autoscaling: AutoscalingConfig;
  readonly network: ResolvedNetwork;
  readonly dsql: DsqlConfig;
  readonly opensearch: OpenSearchConfig;
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
  /**
   * Values of the environment's input that belong to documentation examples (lib/example-values.ts):
   * the stack synthesizes with them but CloudFormation refuses to deploy it. Empty for a real config.
   */
  readonly exampleValues: readonly ExampleValue[];
}

/**
 * Retention values CloudWatch Logs accepts (days): every value of aws-cdk-lib's `logs.RetentionDays`
 * except `INFINITE` (never expire is not offered: the platform's logs always expire).
 */
export const LOG_RETENTION_DAYS: readonly number[] = Object.values(logs.RetentionDays)
  .filter((v): v is number => typeof v === 'number' && v !== logs.RetentionDays.INFINITE);

/** True when n is a positive power of two. */
export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

const TOP_LEVEL_KEYS: ReadonlyArray<keyof PlatformConfigInput> = [
  'env', 'numHistoryShards', 'temporalVersion', 'uiVersion', 'uiImage', 'serverImage', 'images', 'sizing', 'services', 'autoscaling', 'network',
  'dsql', 'opensearch', 'ui', 'logRetentionDays', 'removalPolicies', 'backup', 'archival', 'observability', 'dynamicConfig', 'logLevel',
  'stopTimeoutSeconds', 'enableEcsExec', 'cpuArchitecture', 'tags', 'namespaces', 'searchAttributes', 'namespaceAdmin', 'production', 'security',
  'multiRegion',
];

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

  const { temporalVersion, uiVersion, uiImage, serverImage } = resolveImages(p, input);

  // sizing and autoscaling (lib/services/config.ts)
  const { sizing, services, autoscaling } = resolveServices(p, input);

  // network
  const network = resolveNetwork(p, input.network, { account, region });
  const { azCount } = network;

  // dsql (lib/dsql/config.ts)
  const dsql = resolveDsql(p, input.dsql, { region, account });

  // opensearch (lib/visibility/config.ts)
  const opensearch = resolveOpenSearch(p, input.opensearch, { envName, azCount, production: bool(p('production'), input.production, false) });

  // ui and security (lib/security/config.ts)
  const production = bool(p('production'), input.production, false);
  const { security, ui } = resolveSecurity(p, input.security, input.ui, {
    production, region, dsqlKmsKeyArn: dsql.kmsKeyArn, dsqlPrivateLink: dsql.privateLink,
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

  // dynamic config (lib/services/config.ts)
  const dynamicConfig = resolveDynamicConfig(p, input.dynamicConfig);

  const logLevel = oneOf(p('logLevel'), input.logLevel, ['debug', 'info', 'warn', 'error'] as const, 'info');
  const stopTimeoutSeconds = resolveStopTimeout(p, input.stopTimeoutSeconds);
  const enableEcsExec = bool(p('enableEcsExec'), input.enableEcsExec, false);
  const cpuArchitecture = oneOf(p('cpuArchitecture'), input.cpuArchitecture, ['arm64', 'x86_64'] as const, 'arm64');
  const tagsIn = optObject(p('tags'), input.tags);
  for (const [k, v] of Object.entries(tagsIn)) {
    if (typeof v !== 'string' || k.length === 0 || k.length > 128 || v.length > 256 || k.startsWith('aws:')) {
      throw new ConfigError(p(`tags["${k}"]`), v, 'a string value (key 1-128 chars not starting with aws:, value at most 256 chars)');
    }
  }

  const observability = resolveObservability(p, input.observability, region, production);
  // images (lib/services/images.ts): after observability, whose collector image it pins and places
  const images = resolveImageSources(p, input.images, {
    uiImage, collectorImage: observability.collectorImage, collectorUsed: observability.metricsCollector, serverImage, production, region,
  });

  return {
    envName,
    env: { account, region },
    numHistoryShards: shards,
    temporalVersion,
    uiVersion,
    uiImage: images.uiImage,
    serverImage,
    images,
    sizing,
    services,
    autoscaling,
    network,
    dsql,
    opensearch,
    ui,
    production,
    security,
    logRetentionDays,
    removalPolicies,
    backup: resolveBackup(p, input.backup, production),
    archival: resolveArchival(p, input.archival),
    observability: { ...observability, collectorImage: images.collectorImage },
    ...resolveNamespaces(p, input, { archivalEnabled: resolveArchival(p, input.archival).enabled, authorization: security.auth !== undefined }),
    dynamicConfig,
    logLevel,
    stopTimeoutSeconds,
    enableEcsExec,
    cpuArchitecture,
    tags: tagsIn as Record<string, string>,
    exampleValues: findExampleValues(input),
  };
}
