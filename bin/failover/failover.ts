/**
 * The failover of a multi-Region environment (issue 25 item 2, docs/multi-region.md "Failover and
 * failback runbook"): the step sequence, driven only through the contract in ./types.ts, so the
 * AWS implementation (aws-fleet.ts, aws-fence.ts, database.ts) and the local two-Region rehearsal
 * run the same code.
 *
 * Steps, each printed with its result and its wall time:
 *  1. `fence-old-region`: the old Region's Temporal services to 0 tasks, autoscaling floors to 0
 *     (a floor above 0 would scale them back up), then wait until no task runs.
 *  1b. `deny-old-region` (only with `denyOldRegion`): the database fence (AWS: a Deny for the old
 *     Region's VPC in the DSQL resource policy). The way through when the old Region cannot be reached.
 *  2. `remove-stale-members`: delete the `cluster_membership` rows of hosts that no longer heartbeat.
 *  3. `scale-new-region`: the new Region's services to their configured counts, floors and ceilings.
 *  4. `wait-shards-owned`: until every shard is owned by a live history host of the new Region.
 *  5. `client-endpoint`: the client endpoint switch, printed, and applied when the options carry
 *     `endpointSwitch.apply` (the CLI's Route 53 record).
 *
 * Dry run (the default) reads everything and changes nothing: each step answers 'planned' (or
 * 'already'). Every step is idempotent; a run after a complete one answers 'already' for each.
 * A failed step stops the run: the later steps answer 'skipped'.
 */
import { BlockList, isIPv4 } from 'net';
import {
  ClusterDatabase, DatabaseFence, MemberRow, RegionFleet, RegionUnreachableError, RoleCount, RoleState, ShardRecord, StepResult,
} from './types';

/**
 * Upstream's liveness rule for membership rows: a host is alive when its `last_heartbeat` is at
 * most 20 s old (go.temporal.io/server v1.32.2 common/membership/ringpop/monitor.go,
 * `healthyHostLastHeartbeatCutoff`: 10 s heartbeat, 5 s jitter, 5 s clock skew; hosts bootstrap
 * only from such rows). A stopped host's row stays for 48 h (`upsertMembershipRecordExpiryDefault`).
 */
export const HEARTBEAT_CUTOFF_MS = 20_000;

/** Upstream's numeric role of a history host in `cluster_membership.role` (persistence.ServiceType History). */
export const HISTORY_ROLE = 2;

/** Rows deleted per statement by the AWS database (database.ts): far below DSQL's 3,000 rows per transaction. */
export const MEMBER_DELETE_BATCH = 500;

/** Bad input to {@link runFailover} (the CLI maps it to exit code 2): names the field, the value and what is allowed. */
export class FailoverInputError extends Error {
  constructor(readonly field: string, readonly value: unknown, readonly allowed: string) {
    super(`${field} = ${JSON.stringify(value)}; allowed: ${allowed}`);
    this.name = 'FailoverInputError';
  }
}

/** What {@link runFailover} does. */
export interface FailoverOptions {
  /** The Region that ran the services (fenced). */
  readonly from: string;
  /** The Region that takes over. Must differ from `from`. */
  readonly to: string;
  /** The new Region's configured counts per role (lib/multi-region config: desiredCount, autoscaling min/max). */
  readonly targetCounts: readonly RoleCount[];
  /** false (default of the CLI): read everything, change nothing. */
  readonly execute: boolean;
  /** Also fence the old Region at the database (deps.fence); required to continue when the old Region is unreachable. */
  readonly denyOldRegion?: boolean;
  /** numHistoryShards: shards 1..shardCount must all be owned at the end. */
  readonly shardCount: number;
  /**
   * Which membership rows are the old Region's hosts: a predicate, or an IPv4 CIDR that
   * `rpc_address` falls in (AWS: the old Region's VPC CIDR). When given, a live old-Region row after
   * the fence fails step 2 (the fence did not take), and a shard owned through such a host is not
   * owned by the new Region. Without it every live host counts as the new Region's.
   */
  readonly oldRegionHosts?: ((m: MemberRow) => boolean) | string;
  /** Bound of each wait (old Region stopped, old heartbeats aged out, new Region steady, shards owned), ms. */
  readonly waitTimeoutMs: number;
  /** Poll interval of the waits, ms. @default 2000 */
  readonly pollIntervalMs?: number;
  /** Liveness cutoff of membership rows, ms. @default {@link HEARTBEAT_CUTOFF_MS} */
  readonly heartbeatCutoffMs?: number;
  /**
   * Whether a shard owner's address (`ShardInfo.owner` before the first `-`: the history host's
   * broadcast IP and its gRPC port) is a new-Region history host. @default - its IP is the
   * `rpc_address` of a live history row outside `oldRegionHosts` (on ECS every task has its own IP);
   * processes sharing one IP (the local rehearsal) should pass their own rule
   */
  readonly ownerIsNewRegion?: (ownerAddress: string) => boolean;
  /** Step 5's lines: the client endpoint switch (see aws-endpoint.ts for AWS). @default - a note that none is configured */
  readonly endpointSwitch?: {
    readonly summary: string;
    readonly lines: readonly string[];
    /** Applies the switch on --execute (the Route 53 record); absent: printed only. */
    readonly apply?: () => Promise<{ readonly status: 'done' | 'already'; readonly detail: string }>;
  };
}

/** The parts {@link runFailover} drives. */
export interface FailoverDeps {
  readonly oldFleet: RegionFleet;
  readonly newFleet: RegionFleet;
  /** The shared database (reached through the new Region's endpoint). */
  readonly database: ClusterDatabase;
  /** Required with `denyOldRegion`. */
  readonly fence?: DatabaseFence;
  /** Clock when the database offers none. @default Date.now */
  readonly now?: () => number;
  /** @default setTimeout-based */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Receives each finished step's line and step 5's lines. @default nothing printed */
  readonly print?: (line: string) => void;
}

/** One step's result line: `[status] step (ms): detail`. */
export function formatStep(r: StepResult): string {
  return `${r.status.padEnd(7)} ${r.step.padEnd(20)} ${(r.ms / 1000).toFixed(1).padStart(6)} s  ${r.detail}`;
}

/** `1-3, 7` for [1, 2, 3, 7]; at most `max` ranges, then `... (N shards)`. */
export function compressIds(ids: readonly number[], max = 8): string {
  const sorted = [...ids].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    ranges.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return ranges.length > max ? `${ranges.slice(0, max).join(', ')}, ... (${sorted.length} shards)` : ranges.join(', ');
}

/**
 * A predicate for IPv4 addresses inside `cidr` (Node's `net.BlockList`).
 * @throws FailoverInputError when `cidr` is not an IPv4 CIDR
 */
export function cidrMatcher(cidr: string, field = 'oldRegionHosts'): (m: MemberRow) => boolean {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(cidr);
  if (!m || !isIPv4(m[1]) || Number(m[2]) > 32) throw new FailoverInputError(field, cidr, 'an IPv4 CIDR such as 10.40.0.0/16');
  const list = new BlockList();
  list.addSubnet(m[1], Number(m[2]), 'ipv4');
  return (row) => isIPv4(row.rpcAddress) && list.check(row.rpcAddress, 'ipv4');
}

/** `ip:port` of a membership row (the ring address: IP and membership port). */
export function memberAddress(m: MemberRow): string {
  return `${m.rpcAddress}:${m.rpcPort}`;
}

/**
 * The `ip:port` prefix of a `ShardInfo.owner` (`<ip:port>-<sequence>-<uuid>`), '' when empty. The
 * port is the history service's gRPC port, not the membership port of its `cluster_membership` row
 * (go.temporal.io/server v1.32.2 common/membership/ringpop/factory.go `getHostInfoProvider`
 * replaces the ring port with the service port; seen on our server: owner 127.0.0.1:23907, row
 * 127.0.0.1:21494).
 */
export function ownerAddress(owner: string): string {
  const i = owner.indexOf('-');
  return i < 0 ? owner : owner.slice(0, i);
}

const STEPS = ['fence-old-region', 'deny-old-region', 'remove-stale-members', 'scale-new-region', 'wait-shards-owned', 'client-endpoint'] as const;
type StepName = typeof STEPS[number];
type Outcome = Omit<StepResult, 'step' | 'ms'>;

function describeCounts(c: RoleCount | RoleState): string {
  const floor = c.min !== undefined ? ` [${c.min}-${c.max ?? '?'}]` : '';
  return `${c.desired}${floor}`;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Runs the failover from `options.from` to `options.to`; resolves with one result per step in
 * order (failed steps included: it does not throw for a failed step, only for bad input).
 *
 * What "every shard is owned by the new Region" means (step 4), from what the database shows:
 * every shard 1..shardCount has a row, and
 *  - with `database.shardRecords`: the row's `ShardInfo.owner` names a new-Region history host
 *    (`ownerIsNewRegion`; by default its IP is the `rpc_address` of a `cluster_membership` row of
 *    role history (2) that heartbeats within the cutoff and is not an old-Region host); and,
 *    when this run fenced the old Region, its `range_id` is above the one read right after the fence (upstream's acquisition, `renewRangeLocked`, increments range_id
 *    with a write conditioned on the previous one, so an increase proves a new acquisition);
 *  - without it: range_id above the one read after the fence, and every live history host is a
 *    new-Region host.
 *
 * @throws FailoverInputError for `from` equal to `to`, a bad shard count, timeout or CIDR, or
 *   `denyOldRegion` without `deps.fence`
 */
export async function runFailover(options: FailoverOptions, deps: FailoverDeps): Promise<StepResult[]> {
  if (!options.to || options.to === options.from) {
    throw new FailoverInputError('to', options.to, `a Region other than the one failed over from (${options.from})`);
  }
  if (!Number.isInteger(options.shardCount) || options.shardCount < 1) throw new FailoverInputError('shardCount', options.shardCount, 'numHistoryShards, an integer >= 1');
  if (!(options.waitTimeoutMs > 0)) throw new FailoverInputError('waitTimeoutMs', options.waitTimeoutMs, 'a positive number of milliseconds');
  if (options.denyOldRegion && !deps.fence) throw new FailoverInputError('denyOldRegion', true, 'only with a database fence (deps.fence)');
  const isOld = typeof options.oldRegionHosts === 'string' ? cidrMatcher(options.oldRegionHosts) : options.oldRegionHosts;
  const clock = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const print = deps.print ?? (() => undefined);
  const poll = options.pollIntervalMs ?? 2_000;
  const cutoff = options.heartbeatCutoffMs ?? HEARTBEAT_CUTOFF_MS;
  const dbNow = async () => (deps.database.now ? (await deps.database.now()).getTime() : clock());
  const alive = (m: MemberRow, now: number) => now - m.lastHeartbeat.getTime() <= cutoff;

  const results: StepResult[] = [];
  let failed = false;
  /** range_id per shard read right after this run fenced the old Region; undefined when it did not. */
  let fencedAt: Map<number, bigint> | undefined;
  let oldUnreachable = false;

  const step = async (name: StepName, body: () => Promise<Outcome>) => {
    const start = clock();
    let out: Outcome;
    if (failed) out = { status: 'skipped', detail: 'not run: an earlier step failed' };
    else {
      try { out = await body(); } catch (e) { out = { status: 'failed', detail: errorText(e) }; }
    }
    const r: StepResult = { step: name, ...out, ms: clock() - start };
    if (r.status === 'failed') failed = true;
    results.push(r);
    print(formatStep(r));
  };

  /** Polls `check` until it returns undefined (done) or the timeout passes; returns the last complaint. */
  const waitUntil = async (check: () => Promise<string | undefined>): Promise<string | undefined> => {
    const deadline = clock() + options.waitTimeoutMs;
    for (;;) {
      const complaint = await check();
      if (complaint === undefined || clock() >= deadline) return complaint;
      await sleep(Math.min(poll, Math.max(0, deadline - clock())));
    }
  };

  // 1. Fence the old Region: services and floors to 0, then wait until no task runs.
  await step('fence-old-region', async () => {
    let state: RoleState[];
    try {
      state = await deps.oldFleet.describe();
    } catch (e) {
      if (!(e instanceof RegionUnreachableError)) throw e;
      oldUnreachable = true;
      if (options.denyOldRegion) {
        return { status: 'skipped', detail: `${errorText(e)}; cannot scale it to 0, fencing it at the database instead (next step)` };
      }
      return { status: 'failed', detail: `${errorText(e)}; cannot scale it to 0. If ${options.from} is down, run again with --deny-old-region-vpc to fence it at the database (DSQL resource policy) instead` };
    }
    const toChange = state.filter((r) => r.desired > 0 || (r.min ?? 0) > 0);
    const running = state.filter((r) => r.running > 0);
    if (toChange.length === 0 && running.length === 0) {
      return { status: 'already', detail: `${options.from}: all ${state.length} roles at 0 tasks, floors 0` };
    }
    const plan = toChange.map((r) => `${r.role} ${describeCounts(r)} -> 0${r.min !== undefined ? ` [0-${r.max}]` : ''}`).join(', ');
    if (!options.execute) {
      return { status: 'planned', detail: `${options.from}: would scale ${plan || '(nothing)'} and wait until ${running.reduce((n, r) => n + r.running, 0)} running tasks stop` };
    }
    for (const r of toChange) {
      await deps.oldFleet.scale({ role: r.role, desired: 0, ...(r.min !== undefined ? { min: 0, max: r.max } : {}) });
    }
    await deps.oldFleet.waitSteady(options.waitTimeoutMs);
    return { status: toChange.length ? 'done' : 'already', detail: `${options.from}: ${toChange.length ? `scaled ${plan}; ` : 'already at 0; '}no task runs` };
  });

  // 1b. The database fence (only when asked for).
  if (options.denyOldRegion) {
    await step('deny-old-region', async () => {
      if (!options.execute) return { status: 'planned', detail: `would deny ${options.from}'s connections at the database${oldUnreachable ? ` (${options.from} is unreachable)` : ''}` };
      const r = await deps.fence!.fence(options.from);
      return { status: r === 'applied' ? 'done' : 'already', detail: `${options.from} denied at the database${r === 'already' ? ' (was in place)' : ''}` };
    });
  }
  // Snapshot range_id only when this run changed the fence: a later run's snapshot would postdate the acquisitions.
  if (options.execute && !failed && results.some((r) => r.status === 'done')) {
    fencedAt = await deps.database.shardRangeIds().catch(() => undefined);
  }

  // 2. Remove the membership rows of hosts that no longer heartbeat.
  await step('remove-stale-members', async () => {
    const first = await deps.database.listMembers();
    const now0 = await dbNow();
    const liveOld0 = isOld ? first.filter((m) => isOld(m) && alive(m, now0)) : [];
    if (!options.execute) {
      const dead = first.filter((m) => !alive(m, now0));
      return {
        status: dead.length || liveOld0.length ? 'planned' : 'already',
        detail: `would delete ${dead.length} rows of hosts silent for over ${cutoff / 1000} s` +
          (isOld ? ` and, once they stop heartbeating after the fence, the ${liveOld0.length} rows of live ${options.from} hosts (${liveOld0.map(memberAddress).join(', ') || 'none'})` : '') +
          ` (${first.length} rows now)`,
      };
    }
    // Wait until no old-Region host heartbeats: after the fence their last heartbeat ages past the cutoff.
    let rows = first;
    let now = now0;
    const complaint = !isOld ? undefined : await waitUntil(async () => {
      rows = await deps.database.listMembers();
      now = await dbNow();
      const live = rows.filter((m) => isOld(m) && alive(m, now));
      return live.length ? `still heartbeating: ${live.map(memberAddress).join(', ')}` : undefined;
    });
    if (complaint !== undefined) {
      return {
        status: 'failed',
        detail: `${options.from} hosts ${complaint} (${options.waitTimeoutMs / 1000} s after the fence): the fence did not take. ` +
          `A database fence applies to new connections only (open ones last up to 60 min): run again later, or stop those hosts`,
      };
    }
    const stale = rows.filter((m) => !alive(m, now));
    if (stale.length === 0) return { status: 'already', detail: `no stale rows (${rows.length} rows, all heartbeating)` };
    let deleted = 0;
    for (let i = 0; i < stale.length; i += MEMBER_DELETE_BATCH) {
      deleted += await deps.database.deleteMembers(stale.slice(i, i + MEMBER_DELETE_BATCH).map((m) => m.hostId));
    }
    const oldCount = isOld ? stale.filter(isOld).length : undefined;
    return {
      status: deleted ? 'done' : 'already',
      detail: `deleted ${deleted} rows of hosts silent for over ${cutoff / 1000} s${oldCount !== undefined ? ` (${oldCount} of ${options.from})` : ''}: ` +
        `${stale.slice(0, 6).map(memberAddress).join(', ')}${stale.length > 6 ? ', ...' : ''}`,
    };
  });

  // 3. Scale the new Region to its configured counts.
  await step('scale-new-region', async () => {
    let state: RoleState[];
    try {
      state = await deps.newFleet.describe();
    } catch (e) {
      if (e instanceof RegionUnreachableError) return { status: 'failed', detail: `${errorText(e)}; the new Region must be reachable to take over` };
      throw e;
    }
    const byRole = new Map(state.map((r) => [r.role, r]));
    const missing = options.targetCounts.filter((t) => !byRole.has(t.role));
    if (missing.length) return { status: 'failed', detail: `${options.to} has no service for ${missing.map((t) => t.role).join(', ')} (found ${state.map((r) => r.role).join(', ')})` };
    const differs = (t: RoleCount, r: RoleState) => t.desired !== r.desired
      || (t.min !== undefined && t.min !== r.min) || (t.max !== undefined && t.max !== r.max);
    const toChange = options.targetCounts.filter((t) => differs(t, byRole.get(t.role)!));
    const notRunning = options.targetCounts.filter((t) => byRole.get(t.role)!.running !== t.desired);
    const plan = toChange.map((t) => `${t.role} ${describeCounts(byRole.get(t.role)!)} -> ${describeCounts(t)}`).join(', ');
    if (toChange.length === 0 && notRunning.length === 0) {
      return { status: 'already', detail: `${options.to}: ${options.targetCounts.map((t) => `${t.role} ${describeCounts(t)}`).join(', ')}, all running` };
    }
    if (!options.execute) return { status: 'planned', detail: `${options.to}: would scale ${plan || '(nothing)'} and wait until every role runs its count` };
    for (const t of toChange) await deps.newFleet.scale(t);
    await deps.newFleet.waitSteady(options.waitTimeoutMs);
    return { status: toChange.length ? 'done' : 'already', detail: `${options.to}: ${toChange.length ? `scaled ${plan}` : 'counts were set'}; every role runs its count` };
  });

  // 4. Wait until every shard is owned by a live new-Region history host.
  await step('wait-shards-owned', async () => {
    const assess = async (): Promise<{ unowned: number[]; why: Map<number, string>; summary: string }> => {
      const members = await deps.database.listMembers();
      const now = await dbNow();
      const liveHistory = members.filter((m) => m.role === HISTORY_ROLE && alive(m, now));
      const newHosts = liveHistory.filter((m) => !isOld?.(m));
      const newIps = new Set(newHosts.map((m) => m.rpcAddress));
      const ownedByNew = options.ownerIsNewRegion ?? ((addr: string) => newIps.has(addr.slice(0, addr.lastIndexOf(':'))));
      const liveOldHosts = liveHistory.filter((m) => isOld?.(m)).map(memberAddress);
      const records: Map<number, ShardRecord> = deps.database.shardRecords
        ? await deps.database.shardRecords()
        : new Map([...(await deps.database.shardRangeIds())].map(([id, rangeId]) => [id, { rangeId, owner: '' }]));
      const unowned: number[] = [];
      const why = new Map<number, string>();
      for (let id = 1; id <= options.shardCount; id++) {
        const rec = records.get(id);
        let reason: string | undefined;
        if (!rec) reason = 'no shard row';
        else if (fencedAt && fencedAt.has(id) && rec.rangeId <= fencedAt.get(id)!) reason = `range_id ${rec.rangeId} not above ${fencedAt.get(id)} (not acquired since the fence)`;
        else if (deps.database.shardRecords) {
          if (!ownerAddress(rec.owner) || !ownedByNew(ownerAddress(rec.owner))) reason = `owner ${ownerAddress(rec.owner) || '(none)'} is not a live ${options.to} history host`;
        } else if (!fencedAt) reason = 'ownership unknown: the database reports no owners and this run did not fence';
        else if (liveOldHosts.length) reason = `${options.from} history hosts still live: ${liveOldHosts.join(', ')}`;
        if (reason) { unowned.push(id); why.set(id, reason); }
      }
      return { unowned, why, summary: `${options.shardCount - unowned.length} of ${options.shardCount} shards owned by ${newHosts.length} live ${options.to} history hosts` };
    };
    const first = await assess();
    if (first.unowned.length === 0) return { status: fencedAt ? 'done' : 'already', detail: first.summary };
    if (!options.execute) return { status: 'planned', detail: `would wait until every shard is owned by ${options.to}; now ${first.summary}` };
    let last = first;
    await waitUntil(async () => {
      last = await assess();
      return last.unowned.length ? 'unowned' : undefined;
    });
    if (last.unowned.length === 0) return { status: 'done', detail: last.summary };
    const examples = last.unowned.slice(0, 3).map((id) => `shard ${id}: ${last.why.get(id)}`).join('; ');
    return {
      status: 'failed',
      detail: `after ${options.waitTimeoutMs / 1000} s ${last.unowned.length} shards not owned by ${options.to}: ${compressIds(last.unowned)} (${examples})`,
    };
  });

  // 5. The client endpoint switch, printed.
  await step('client-endpoint', async () => {
    const sw = options.endpointSwitch;
    if (!sw) return { status: 'skipped', detail: 'no client endpoint configured: point clients at the new Region\'s frontend yourself' };
    for (const line of sw.lines) print(line);
    if (!sw.apply) return { status: options.execute ? 'done' : 'planned', detail: `${sw.summary} (printed above; this command changes no DNS)` };
    if (!options.execute) return { status: 'planned', detail: `${sw.summary} (printed above; --execute applies the DNS change)` };
    const r = await sw.apply();
    return { status: r.status, detail: `${sw.summary}: ${r.detail}` };
  });
  return results;
}
