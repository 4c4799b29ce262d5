/**
 * The service sections of an environment: image versions, sizing (preset and per-service overrides),
 * CPU autoscaling of frontend and matching, the dynamic-config overrides and the graceful stop timeout.
 * Each resolver fills the defaults, checks every value and throws a {@link ConfigError} naming the field,
 * the value received and what is allowed.
 */
import { bool, checkKeys, ConfigError, int, isObject, oneOf, optObject, str } from '../config-checks';
import { DynamicConfigValue, PlatformService, ServiceSizing, SIZING_PRESETS, SizingPreset, TEMPORAL_ROLES } from './roles';
import {
  AUTOSCALED_ROLES, AUTOSCALING_PRESETS, AutoscaledRole, DEFAULT_TARGET_CPU_PERCENT, FRONTEND_DRAIN_SECONDS, MIN_STOP_TIMEOUT_SECONDS,
} from './scaling';

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

/**
 * Dynamic config key that must stay 1 on DSQL: the plugin fences a shard's writes with
 * `SELECT ... FOR UPDATE` on the shard row, so two concurrent writes of one shard conflict at
 * commit. Any other value in `dynamicConfig` is refused.
 */
export const SHARD_IO_CONCURRENCY_KEY = 'history.shardIOConcurrency';

/** The resolved image settings: server version, UI version and image, optional server image. */
export interface ImagesConfig {
  readonly temporalVersion: string;
  readonly uiVersion: string;
  readonly uiImage: string;
  readonly serverImage?: string;
}

/**
 * Resolves `temporalVersion`, `uiVersion`, `uiImage` and `serverImage`.
 * @throws ConfigError naming the field, the value and what is allowed
 */
export function resolveImages(p: (f: string) => string, input: {
  temporalVersion?: unknown; uiVersion?: unknown; uiImage?: unknown; serverImage?: unknown;
}): ImagesConfig {
  const temporalVersion = input.temporalVersion === undefined ? '1.32.2'
    : str(p('temporalVersion'), input.temporalVersion, /^\d+\.\d+\.\d+$/, 'a Temporal server version such as 1.32.2');
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

  return { temporalVersion, uiVersion, uiImage, serverImage };
}

/** The resolved sizing: the preset, each service's size, and the autoscaling of frontend and matching. */
export interface ServicesConfig {
  readonly sizing: SizingPreset;
  readonly services: Readonly<Record<PlatformService, ServiceSizing>>;
  /** Autoscaling; `minCount` is the role's `desiredCount`. */
  readonly autoscaling: AutoscalingConfig;
}

/** Resolved autoscaling of frontend and matching. */
export interface AutoscalingConfig {
  readonly enabled: boolean;
  readonly targetCpuPercent: number;
  readonly scaleOutCooldownSeconds: number;
  readonly scaleInCooldownSeconds: number;
  readonly roles: Readonly<Record<AutoscaledRole, { readonly minCount: number; readonly maxCount: number }>>;
}

/**
 * Resolves `sizing`, `services` and `autoscaling`.
 * @throws ConfigError naming the field, the value and what is allowed
 */
export function resolveServices(p: (f: string) => string, input: {
  sizing?: unknown; services?: unknown; autoscaling?: unknown;
}): ServicesConfig {
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

  return { sizing, services, autoscaling };
}

/**
 * Resolves `dynamicConfig`: every key in Temporal's dotted form, every entry `{ value, constraints? }`;
 * `history.shardIOConcurrency` only 1 ({@link SHARD_IO_CONCURRENCY_KEY}).
 * @throws ConfigError naming the key or entry, the value and what is allowed
 */
export function resolveDynamicConfig(p: (f: string) => string, v: unknown): Record<string, DynamicConfigValue[]> {
  const dcIn = optObject(p('dynamicConfig'), v);
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

  return dynamicConfig;
}

/**
 * Resolves `stopTimeoutSeconds`: an integer from {@link MIN_STOP_TIMEOUT_SECONDS} to 120. @default 120
 * @throws ConfigError naming the field, the value and what is allowed
 */
export function resolveStopTimeout(p: (f: string) => string, v: unknown): number {
  const stopTimeoutSeconds = v === undefined ? 120 : v;
  if (typeof stopTimeoutSeconds !== 'number' || !Number.isInteger(stopTimeoutSeconds) || stopTimeoutSeconds < MIN_STOP_TIMEOUT_SECONDS || stopTimeoutSeconds > 120) {
    throw new ConfigError(p('stopTimeoutSeconds'), stopTimeoutSeconds,
      `an integer from ${MIN_STOP_TIMEOUT_SECONDS} to 120 (a stopping frontend drains open long polls for ${FRONTEND_DRAIN_SECONDS} s; Fargate allows at most 120)`);
  }
  return stopTimeoutSeconds;
}
