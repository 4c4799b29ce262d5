/**
 * Capacity model: from a target load (workflows/s) and a workload profile to history shards, task
 * counts and sizes per role, DSQL load, connections and OpenSearch sizing. Pure functions; the
 * formulas, their calibration and their assumptions are written out in docs/capacity.md, and
 * `npm run capacity -- --wps <n>` prints them (bin/capacity.ts).
 *
 * Units are in the names: `...PerSecond`, `...Ms` (milliseconds), `vcpu` (1 vCPU = 1024 Fargate CPU
 * units), `cpuSecondsPerWorkflow` (vCPU-seconds of CPU time per workflow), `GiB`.
 */
import type { ServiceSizing, TemporalRole } from '../services/roles';

/** What one workflow of a workload costs. Per workflow, measured (docs/benchmarks.md) or estimated. */
export interface WorkloadProfile {
  /** Short name (`hello`). */
  readonly name: string;
  /** Where the figures come from (printed with the answer). */
  readonly source: string;
  /** SQL statements per workflow (BEGIN/COMMIT included). */
  readonly statementsPerWorkflow: number;
  /** Client round trips to DSQL per workflow (a pipelined batch counts once). */
  readonly roundTripsPerWorkflow: number;
  /** Write transactions committed per workflow (each pays DSQL's commit latency once). */
  readonly commitsPerWorkflow: number;
  /** CPU time per workflow of each server role, in vCPU-seconds. */
  readonly cpuSecondsPerWorkflow: Readonly<Record<TemporalRole, number>>;
  /** OpenSearch documents written per workflow (visibility start, close and retention delete). */
  readonly visibilityWritesPerWorkflow: number;
}

/**
 * Total CPU time of all four roles per hello workflow, an upper bound in vCPU-seconds: the all-in-one
 * server ran 55.2 workflows/s (ours-pg, concurrency 50, 64 shards, docs/benchmarks.md, 2026-11-25) on
 * a 2-vCPU machine that it shared with PostgreSQL, OpenSearch and the SDK worker, so it used at most
 * 2 / 55.2 vCPU-s each.
 */
export const HELLO_CPU_SECONDS_UPPER_BOUND = 2 / 55.2;

/**
 * How the CPU of one workflow splits over the roles: the proportions of the reference deployment
 * (iw/temporal-dsql-deploy-ecs, 150 workflows/s: history 32, frontend 8, matching 6, worker 1 vCPU),
 * the only per-role split available; our benchmark runs all roles in one process.
 */
export const ROLE_CPU_SHARE: Readonly<Record<TemporalRole, number>> = {
  history: 32 / 47,
  frontend: 8 / 47,
  matching: 6 / 47,
  worker: 1 / 47,
};

/**
 * The hello-activity workload of `npm run bench` (one workflow, one activity), with pipelining on,
 * from docs/benchmarks.md (2026-11-25, the highest of the four runs, 4 and 64 shards): 54.9 client
 * round trips per workflow (99.8 with pipelining off); 99.0 statements and 18.4 BEGIN/COMMIT (so 9.2
 * write transactions), counted with pipelining off because pg_stat_statements misses pipelined
 * BEGIN/COMMIT (pipelining changes neither which statements run nor their order).
 */
export const HELLO_WORKLOAD: WorkloadProfile = {
  name: 'hello',
  source: 'docs/benchmarks.md 2026-11-25 (hello-activity, ours-dsql, pipelining on); CPU: upper bound from ours-pg at 55.2 wf/s on 2 vCPU, split like the reference deployment',
  statementsPerWorkflow: 99.0,
  roundTripsPerWorkflow: 54.9,
  commitsPerWorkflow: 18.4 / 2,
  cpuSecondsPerWorkflow: {
    history: HELLO_CPU_SECONDS_UPPER_BOUND * ROLE_CPU_SHARE.history,
    frontend: HELLO_CPU_SECONDS_UPPER_BOUND * ROLE_CPU_SHARE.frontend,
    matching: HELLO_CPU_SECONDS_UPPER_BOUND * ROLE_CPU_SHARE.matching,
    worker: HELLO_CPU_SECONDS_UPPER_BOUND * ROLE_CPU_SHARE.worker,
  },
  visibilityWritesPerWorkflow: 3,
};

/** The knobs of the model; every one has a default in {@link DEFAULT_ASSUMPTIONS}. */
export interface CapacityAssumptions {
  /** DSQL latency of one client round trip, ms (dsql-local profile `dsql-single-region`). */
  readonly roundTripMs: number;
  /** DSQL latency added by one commit, ms (same profile). */
  readonly commitMs: number;
  /** CPU utilisation the task counts are sized for (0-1); also the autoscaling target. */
  readonly targetCpuUtilization: number;
  /** Highest fraction of time one shard may be busy writing (0-1); queueing grows fast above it. */
  readonly maxShardUtilization: number;
  /** Shards are sized for this multiple of the target load (they can never change). */
  readonly shardGrowthFactor: number;
  /** At least this many shards per history task at the grown load (spreads shards evenly). */
  readonly minShardsPerHistoryTask: number;
  /** Smallest task count of frontend, history and matching (one task may fail or be replaced). */
  readonly minTasksPerRole: number;
  /** DSQL connections each server process may open (`DSQL_MAX_CONNS`). */
  readonly maxConnsPerTask: number;
  /** Highest fraction of a history task's connections busy on average (0-1), so bursts find a free one. */
  readonly maxPoolUtilization: number;
  /** New DSQL connections per second each process may open (`DSQL_CONNECT_RATE`). */
  readonly connectRatePerTask: number;
  /** Burst of the per-process connection limiter (`connectBurst`). */
  readonly connectBurstPerTask: number;
  /** Mean connection age before the plugin replaces it, seconds (55 min minus up to 5 min jitter). */
  readonly meanConnectionAgeSeconds: number;
  /**
   * Statements per second one shard costs with no workflow running (its queues and upkeep), an upper
   * bound: ours-dsql's idle windows measured 6.0-11.0 statements/s in total with 4 shards and 8.1-9.5
   * with 64, so 60 more shards added at most (9.5 - 6.0) / 60 = 0.058 statements/s each.
   */
  readonly idleStatementsPerShardPerSecond: number;
  /** Visibility retention (namespace retention), days. */
  readonly retentionDays: number;
  /** Stored size of one visibility document, KiB. */
  readonly visibilityDocKiB: number;
  /** Index operations per second one data node takes at comfortable load (r7g.large.search). */
  readonly indexOpsPerDataNode: number;
  /** Availability zones (OpenSearch data nodes come in multiples). */
  readonly azCount: number;
}

/** The assumptions the CLI and the presets use unless told otherwise (docs/capacity.md says why). */
export const DEFAULT_ASSUMPTIONS: CapacityAssumptions = {
  roundTripMs: 1.5,
  commitMs: 5,
  targetCpuUtilization: 0.6,
  maxShardUtilization: 0.5,
  shardGrowthFactor: 4,
  minShardsPerHistoryTask: 32,
  minTasksPerRole: 2,
  maxConnsPerTask: 20,
  maxPoolUtilization: 0.5,
  connectRatePerTask: 5,
  connectBurstPerTask: 20,
  meanConnectionAgeSeconds: 52.5 * 60,
  idleStatementsPerShardPerSecond: (9.5 - 6.0) / 60,
  retentionDays: 7,
  visibilityDocKiB: 1,
  indexOpsPerDataNode: 1000,
  azCount: 3,
};

/** DSQL's fixed limits (/work/shared/DSQL.md, "Limits"). */
export const DSQL_LIMITS = {
  /** New connections per second per cluster. */
  newConnectionsPerSecond: 100,
  /** Burst of new connections per cluster. */
  newConnectionsBurst: 1000,
  /** Connections per cluster (raisable). */
  connections: 10000,
} as const;

/** Largest shard count the platform accepts. */
export const MAX_SHARDS = 16384;

/** The smallest power of two that is >= n (1 for n <= 1). */
export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * DSQL time one workflow spends in sequence, ms: `roundTrips × roundTripMs + commits × commitMs`.
 * It is both the floor of a workflow's latency from persistence and, conservatively (every round
 * trip counted as if it held the shard's write lock), how long the workflow keeps its shard busy.
 */
export function dsqlMsPerWorkflow(w: WorkloadProfile, a: Pick<CapacityAssumptions, 'roundTripMs' | 'commitMs'>): number {
  return w.roundTripsPerWorkflow * a.roundTripMs + w.commitsPerWorkflow * a.commitMs;
}

/**
 * Workflows/s one shard can take: `maxShardUtilization / (dsqlMsPerWorkflow / 1000)`. A shard's writes
 * are serialised (`history.shardIOConcurrency` 1), so its throughput is bound by DSQL latency, not CPU.
 */
export function workflowsPerShard(w: WorkloadProfile, a: CapacityAssumptions): number {
  return a.maxShardUtilization / (dsqlMsPerWorkflow(w, a) / 1000);
}

/** vCPU a role needs at `wps`: `wps × cpuSecondsPerWorkflow[role] / targetCpuUtilization`. */
export function vcpuNeeded(role: TemporalRole, wps: number, w: WorkloadProfile, a: CapacityAssumptions): number {
  return (wps * w.cpuSecondsPerWorkflow[role]) / a.targetCpuUtilization;
}

/**
 * Task size (Fargate CPU units) for a role needing `vcpu`: history 1 vCPU up to 2 vCPU needed, 2 vCPU
 * up to 8, then 4; frontend and matching 1 vCPU up to 4 needed, then 2; worker 0.5 vCPU. Bigger tasks
 * for bigger loads keep task counts moderate (membership ring, shard moves); 4 vCPU caps the share
 * of the load one failed task takes with it.
 */
export function taskCpuUnits(role: TemporalRole, vcpu: number): number {
  switch (role) {
    case 'history': return vcpu <= 2 ? 1024 : vcpu <= 8 ? 2048 : 4096;
    case 'frontend':
    case 'matching': return vcpu <= 4 ? 1024 : 2048;
    case 'worker': return 512;
  }
}

/**
 * History tasks the DSQL connections need at `wps`: `ceil(busyConnections / (maxConnsPerTask × maxPoolUtilization))`
 * with `busyConnections = wps × dsqlMsPerWorkflow / 1000` (Little's law), counted as if history did all
 * the DSQL work (conservative).
 */
export function historyTasksForConnections(wps: number, w: WorkloadProfile, a: CapacityAssumptions): number {
  const busy = (wps * dsqlMsPerWorkflow(w, a)) / 1000;
  return Math.ceil(busy / (a.maxConnsPerTask * a.maxPoolUtilization) - 1e-9);
}

/**
 * Size of one role at `wps`: `cpu` from {@link taskCpuUnits}, memory 2 GiB per vCPU (Fargate's
 * smallest ratio from 1 vCPU), `desiredCount = max(minTasks, ceil(vcpuNeeded / (cpu / 1024)))`, for
 * history also at least {@link historyTasksForConnections}; the internal worker role runs
 * `minTasksPerRole` tasks of 0.5 vCPU / 1 GiB whatever the load (it runs Temporal's own system
 * workflows, whose work does not follow the user's workflow rate).
 */
export function roleSizing(role: TemporalRole, wps: number, w: WorkloadProfile, a: CapacityAssumptions): ServiceSizing {
  const need = vcpuNeeded(role, wps, w, a);
  const cpu = taskCpuUnits(role, need);
  const memoryMiB = role === 'worker' ? 1024 : cpu * 2;
  if (role === 'worker') return { cpu, memoryMiB, desiredCount: a.minTasksPerRole };
  const forCpu = Math.ceil(need / (cpu / 1024) - 1e-9);
  const forConnections = role === 'history' ? historyTasksForConnections(wps, w, a) : 0;
  return { cpu, memoryMiB, desiredCount: Math.max(a.minTasksPerRole, forCpu, forConnections) };
}

/**
 * History shard count: the next power of two (at most {@link MAX_SHARDS}) of the larger of
 * `ceil(grownWps / workflowsPerShard)` (DSQL latency) and `minShardsPerHistoryTask × historyTasks(grownWps)`
 * (even spread), where `grownWps = wps × shardGrowthFactor`: the count can never change after the
 * first deploy, so it is sized for growth.
 */
export function historyShards(wps: number, w: WorkloadProfile, a: CapacityAssumptions): number {
  const grown = wps * a.shardGrowthFactor;
  const forLatency = Math.ceil(grown / workflowsPerShard(w, a));
  const forSpread = a.minShardsPerHistoryTask * roleSizing('history', grown, w, a).desiredCount;
  return Math.min(MAX_SHARDS, nextPowerOfTwo(Math.max(forLatency, forSpread)));
}

/**
 * Most tasks autoscaling may run for a role whose task size is fixed (a preset's): enough tasks of
 * `cpu` units for the vCPU the role needs at `peakWps`, and at least one above `minCount` for load the
 * model does not see (idle pollers, bursts): `max(minCount + 1, ceil(vcpuNeeded / (cpu / 1024)))`.
 */
export function autoscalingMaxCount(role: TemporalRole, cpu: number, minCount: number, peakWps: number, w: WorkloadProfile = HELLO_WORKLOAD,
  a: CapacityAssumptions = DEFAULT_ASSUMPTIONS): number {
  return Math.max(minCount + 1, Math.ceil(vcpuNeeded(role, peakWps, w, a) / (cpu / 1024) - 1e-9));
}

/** The model's answer for one target load. */
export interface CapacityPlan {
  readonly workflowsPerSecond: number;
  readonly workload: string;
  readonly assumptions: CapacityAssumptions;
  /** History shards (power of two). */
  readonly numHistoryShards: number;
  /** Workflows/s one shard can take, and the shards' utilisation at the target load (0-1). */
  readonly shards: { readonly workflowsPerShard: number; readonly utilizationAtTarget: number };
  /** Size per role at the target load. */
  readonly services: Readonly<Record<TemporalRole, ServiceSizing>>;
  /** vCPU needed per role at the target load (before rounding to tasks). */
  readonly vcpuNeeded: Readonly<Record<TemporalRole, number>>;
  /** History tasks the DSQL connections alone would need (history's count is the larger of this and CPU's). */
  readonly historyTasksForConnections: number;
  /** DSQL load at the target. */
  readonly dsql: {
    readonly statementsPerSecond: number;
    readonly roundTripsPerSecond: number;
    readonly commitsPerSecond: number;
    /** Persistence time of one workflow in sequence, ms (latency floor). */
    readonly msPerWorkflow: number;
    /** Statements per second the shards cost with no workflow running (upper bound). */
    readonly shardUpkeepStatementsPerSecond: number;
    /** Connections busy on average (Little's law: workflows/s × seconds of DSQL time per workflow). */
    readonly busyConnections: number;
    /** Of those, per history task if history did all the DSQL work (conservative); compare with maxConnsPerTask. */
    readonly busyConnectionsPerHistoryTask: number;
    /** Connections the server tasks may open: tasks × maxConnsPerTask. */
    readonly connectionPool: number;
    /** New connections/s in steady state (connections replaced at their age limit). */
    readonly steadyNewConnectionsPerSecond: number;
    /** New connections/s when every server task starts at once (first deploy, full replacement). */
    readonly startupNewConnectionsPerSecond: number;
    /** Server tasks that may start at once and stay within 100 new connections/s. */
    readonly maxTasksStartingAtOnce: number;
  };
  /** OpenSearch visibility at the target. */
  readonly opensearch: {
    readonly indexOpsPerSecond: number;
    readonly dataNodes: number;
    /** EBS volume per data node, GiB (one replica, at most half full). */
    readonly volumeSizeGiB: number;
  };
}

/** Rounds `n` up to a multiple of `m`. */
function roundUpTo(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/**
 * The whole plan for a target load: shards, sizes per role, DSQL load and connections, OpenSearch.
 *
 * @param wps target load, workflows started (and completed) per second
 * @param workload what one workflow costs @default HELLO_WORKLOAD
 * @param overrides assumptions to change @default DEFAULT_ASSUMPTIONS
 */
export function planCapacity(wps: number, workload: WorkloadProfile = HELLO_WORKLOAD, overrides: Partial<CapacityAssumptions> = {}): CapacityPlan {
  if (!(wps > 0) || !Number.isFinite(wps)) throw new Error(`workflows/s must be a positive number, got ${wps}`);
  const a: CapacityAssumptions = { ...DEFAULT_ASSUMPTIONS, ...overrides };
  for (const [k, v] of Object.entries(a)) {
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) throw new Error(`assumption ${k} must be a positive number, got ${v}`);
  }
  for (const k of ['targetCpuUtilization', 'maxShardUtilization', 'maxPoolUtilization'] as const) {
    if (a[k] > 1) throw new Error(`assumption ${k} is a fraction from 0 to 1, got ${a[k]}`);
  }
  const roles: TemporalRole[] = ['frontend', 'history', 'matching', 'worker'];
  const services = Object.fromEntries(roles.map((r) => [r, roleSizing(r, wps, workload, a)])) as Record<TemporalRole, ServiceSizing>;
  const need = Object.fromEntries(roles.map((r) => [r, vcpuNeeded(r, wps, workload, a)])) as Record<TemporalRole, number>;
  const shards = historyShards(wps, workload, a);
  const ms = dsqlMsPerWorkflow(workload, a);
  const tasks = roles.reduce((n, r) => n + services[r].desiredCount, 0);
  const pool = tasks * a.maxConnsPerTask;
  const indexOps = wps * workload.visibilityWritesPerWorkflow;
  const dataNodes = roundUpTo(Math.max(a.azCount, Math.ceil(indexOps / a.indexOpsPerDataNode)), a.azCount);
  // Documents kept: one per workflow for the retention period; two copies (one replica); disks at most half full.
  const storedGiB = (wps * 86400 * a.retentionDays * a.visibilityDocKiB * 2) / 2 ** 20 / 0.5;
  return {
    workflowsPerSecond: wps,
    workload: workload.name,
    assumptions: a,
    numHistoryShards: shards,
    shards: { workflowsPerShard: workflowsPerShard(workload, a), utilizationAtTarget: (wps / shards) * (ms / 1000) },
    services,
    vcpuNeeded: need,
    historyTasksForConnections: historyTasksForConnections(wps, workload, a),
    dsql: {
      statementsPerSecond: wps * workload.statementsPerWorkflow,
      roundTripsPerSecond: wps * workload.roundTripsPerWorkflow,
      commitsPerSecond: wps * workload.commitsPerWorkflow,
      msPerWorkflow: ms,
      shardUpkeepStatementsPerSecond: shards * a.idleStatementsPerShardPerSecond,
      busyConnections: wps * (ms / 1000),
      busyConnectionsPerHistoryTask: (wps * (ms / 1000)) / services.history.desiredCount,
      connectionPool: pool,
      steadyNewConnectionsPerSecond: pool / a.meanConnectionAgeSeconds,
      startupNewConnectionsPerSecond: tasks * a.connectRatePerTask,
      maxTasksStartingAtOnce: Math.min(
        Math.floor(DSQL_LIMITS.newConnectionsPerSecond / a.connectRatePerTask),
        Math.floor(DSQL_LIMITS.newConnectionsBurst / a.connectBurstPerTask),
      ),
    },
    opensearch: {
      indexOpsPerSecond: indexOps,
      dataNodes,
      volumeSizeGiB: Math.max(10, Math.ceil(storedGiB / dataNodes)),
    },
  };
}

/**
 * Reads a workload profile from JSON text (the CLI's `--workload <file>`): every field of
 * {@link WorkloadProfile}, numbers positive; `cpuSecondsPerWorkflow` for all four roles.
 *
 * @throws Error naming the field and the value
 */
export function parseWorkload(json: string, fallbackName: string): WorkloadProfile {
  let o: any;
  try {
    o = JSON.parse(json);
  } catch (e) {
    throw new Error(`workload file is not valid JSON: ${(e as Error).message}`);
  }
  const num = (field: string, v: unknown) => {
    if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new Error(`workload ${field} must be a number >= 0, got ${JSON.stringify(v)}`);
    return v;
  };
  const cpu = o?.cpuSecondsPerWorkflow ?? {};
  return {
    name: typeof o?.name === 'string' ? o.name : fallbackName,
    source: typeof o?.source === 'string' ? o.source : fallbackName,
    statementsPerWorkflow: num('statementsPerWorkflow', o?.statementsPerWorkflow),
    roundTripsPerWorkflow: num('roundTripsPerWorkflow', o?.roundTripsPerWorkflow),
    commitsPerWorkflow: num('commitsPerWorkflow', o?.commitsPerWorkflow),
    cpuSecondsPerWorkflow: {
      history: num('cpuSecondsPerWorkflow.history', cpu.history),
      frontend: num('cpuSecondsPerWorkflow.frontend', cpu.frontend),
      matching: num('cpuSecondsPerWorkflow.matching', cpu.matching),
      worker: num('cpuSecondsPerWorkflow.worker', cpu.worker),
    },
    visibilityWritesPerWorkflow: num('visibilityWritesPerWorkflow', o?.visibilityWritesPerWorkflow),
  };
}
