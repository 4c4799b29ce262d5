/**
 * Which Temporal roles scale with load and how, and the shutdown timings that keep a scale-in from
 * cutting long polls short. Plain data (no constructs): `lib/config.ts` validates against it and
 * `lib/services/temporal-services.ts` applies it. Reasons in docs/capacity.md, "Autoscaling".
 */
import type { DynamicConfigValue, SizingPreset, TemporalRole } from './roles';

/**
 * Roles that scale on CPU. Both are stateless towards their callers: a frontend task only serves
 * RPCs, and matching task queue partitions move to another owner through the membership ring.
 */
export const AUTOSCALED_ROLES = ['frontend', 'matching'] as const satisfies readonly TemporalRole[];

/** A role that autoscales. */
export type AutoscaledRole = (typeof AUTOSCALED_ROLES)[number];

/**
 * Why the other roles keep a fixed task count (written into docs/capacity.md and the README).
 */
export const FIXED_ROLE_REASONS: Readonly<Record<Exclude<TemporalRole, AutoscaledRole>, string>> = {
  history: 'history owns the shards: every task added or removed moves shards between tasks (each moved shard is closed, '
    + 'fenced and reloaded, its workflows stall meanwhile), so CPU-driven scaling would trade short spikes for shard '
    + 'churn; its count follows the capacity model (npm run capacity) and is changed deliberately',
  worker: 'the internal worker runs Temporal\'s own system workflows (scavengers, batch, replication), whose work does '
    + 'not follow the user\'s workflow rate; two small tasks suffice',
};

/** How long a long poll waits at most, seconds (`matching.longPollExpirationInterval`, 1 min). */
export const LONG_POLL_SECONDS = 60;

/**
 * Seconds a stopping frontend keeps serving the RPCs it already has (`frontend.shutdownDrainDuration`):
 * a long poll plus 5 s. Upstream's default is 0 (then 1 s), which cuts every open poll at once.
 */
export const FRONTEND_DRAIN_SECONDS = LONG_POLL_SECONDS + 5;

/**
 * Smallest graceful stop timeout of the server containers, seconds: the frontend's drain plus 5 s to
 * stop the rest before ECS sends SIGKILL.
 */
export const MIN_STOP_TIMEOUT_SECONDS = FRONTEND_DRAIN_SECONDS + 5;

/**
 * Seconds the NLB keeps a deregistered frontend target draining before ECS stops the task: longer
 * than a long poll, so no new connection reaches a task about to stop.
 */
export const FRONTEND_DEREGISTRATION_DELAY_SECONDS = LONG_POLL_SECONDS + 15;

/** Dynamic config the platform sets under the environment's own `dynamicConfig` (which wins). */
export const SHUTDOWN_DYNAMIC_CONFIG: Readonly<Record<string, DynamicConfigValue[]>> = {
  'frontend.shutdownDrainDuration': [{ value: `${FRONTEND_DRAIN_SECONDS}s` }],
};

/** Autoscaling of one sizing preset. */
export interface AutoscalingPreset {
  /** Most tasks of each autoscaled role (the least is its `desiredCount`). */
  readonly maxCount: Readonly<Record<AutoscaledRole, number>>;
  /** Seconds after a scale-out before another scale-out. */
  readonly scaleOutCooldownSeconds: number;
  /** Seconds after a scale-in before another scale-in. */
  readonly scaleInCooldownSeconds: number;
}

/** Target average CPU utilisation of the autoscaled roles, percent (the capacity model's 0.6). */
export const DEFAULT_TARGET_CPU_PERCENT = 60;

/**
 * Autoscaling per sizing preset. `medium` and `large`: `maxCount` is how many of the preset's tasks the
 * capacity model needs at twice the preset's target load, at least one above the minimum
 * (`autoscalingMaxCount`, lib/capacity/capacity.ts, pinned by test/cdk/capacity.test.ts); `small`
 * (development) may double its single task. Scale-out after 60 s
 * (a task takes up to its 180 s health check start period to serve, so waiting longer only adds lag),
 * scale-in slowly: every matching scale-in moves task queue partitions, every frontend scale-in drains
 * long polls for 65 s.
 */
export const AUTOSCALING_PRESETS: Readonly<Record<SizingPreset, AutoscalingPreset>> = {
  small: { maxCount: { frontend: 2, matching: 2 }, scaleOutCooldownSeconds: 120, scaleInCooldownSeconds: 900 },
  medium: { maxCount: { frontend: 3, matching: 3 }, scaleOutCooldownSeconds: 60, scaleInCooldownSeconds: 600 },
  large: { maxCount: { frontend: 5, matching: 7 }, scaleOutCooldownSeconds: 60, scaleInCooldownSeconds: 300 },
};

/**
 * The load (workflows/s of the hello workload) the `medium` and `large` presets are the capacity
 * model's answer for; `small` is a development size, not sized for a load.
 */
export const PRESET_TARGET_WORKFLOWS_PER_SECOND: Readonly<Record<'medium' | 'large', number>> = {
  medium: 100,
  large: 400,
};
