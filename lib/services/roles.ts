/**
 * The Temporal server roles and the shapes every service-related section shares: the role names,
 * the size of one ECS service, the sizing presets and a dynamic-config value. Plain data that imports
 * nothing, so the config sections, the scaling rules and the constructs can all depend on it.
 */

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

/** One dynamic-config value with optional constraints (Temporal's dynamic config file format). */
export interface DynamicConfigValue {
  /** The value (number, string, boolean, list or map). */
  readonly value: unknown;
  /** Constraints such as `{ namespace: 'orders' }` or `{ taskQueueName: 'q' }`. @default - applies everywhere */
  readonly constraints?: Record<string, unknown>;
}
