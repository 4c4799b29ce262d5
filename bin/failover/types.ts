/**
 * The contract of the multi-Region failover (issue 25, docs/multi-region.md): the parts the
 * failover command drives, each with one implementation against AWS (ECS, Application Auto
 * Scaling, the DSQL control plane) and one for the local two-Region rehearsal (server processes
 * on one dsql-local database). The command (bin/failover/failover.ts) only talks to these
 * interfaces, so the rehearsal exercises the same step sequence the operator runs.
 */

/** The Temporal server roles that hold or route shards; each is one ECS service per Region. */
export type TemporalRole = 'frontend' | 'internal-frontend' | 'history' | 'matching' | 'worker';

/** Desired task count of one role, with the autoscaling floor and ceiling when the role has them. */
export interface RoleCount {
  readonly role: TemporalRole;
  /** Tasks (AWS) or processes (local) the Region should run. */
  readonly desired: number;
  /** Autoscaling floor; undefined when the role has no scalable target. */
  readonly min?: number;
  /** Autoscaling ceiling; undefined when the role has no scalable target. */
  readonly max?: number;
}

/** What a Region runs now, per role. */
export interface RoleState extends RoleCount {
  /** Tasks or processes running now. */
  readonly running: number;
}

/** Thrown by a {@link RegionFleet} whose Region's control plane cannot be reached. */
export class RegionUnreachableError extends Error {
  constructor(readonly region: string, readonly cause?: unknown) {
    super(`Region ${region} cannot be reached: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'RegionUnreachableError';
  }
}

/** The Temporal services of one Region. Every method is idempotent. */
export interface RegionFleet {
  readonly region: string;
  /** Current counts of every role. Throws RegionUnreachableError. */
  describe(): Promise<RoleState[]>;
  /** Sets one role's desired count (and floor/ceiling when given). Throws RegionUnreachableError. */
  scale(count: RoleCount): Promise<void>;
  /** Resolves once every role runs its desired count; rejects after `timeoutMs` naming the roles that do not. */
  waitSteady(timeoutMs: number): Promise<void>;
}

/**
 * A fence at the database for a Region that cannot be scaled to 0 (AWS: a Deny statement for the
 * Region's VPC in the DSQL cluster's resource policy; local: the Region's login refused).
 */
export interface DatabaseFence {
  /** Applies the fence; 'already' when it was in place. */
  fence(region: string): Promise<'applied' | 'already'>;
}

/** One `cluster_membership` row (schema/dsql/temporal/versioned/v1.0/schema.sql). */
export interface MemberRow {
  /** host_id, UUID text. */
  readonly hostId: string;
  readonly rpcAddress: string;
  readonly rpcPort: number;
  /** Upstream's numeric service role (membership.ServiceRole... in go.temporal.io/server). */
  readonly role: number;
  readonly lastHeartbeat: Date;
  readonly recordExpiry: Date;
}

/** The shared database's membership and shard tables, as the failover needs them. */
export interface ClusterDatabase {
  listMembers(): Promise<MemberRow[]>;
  /** Deletes the given hosts' rows; returns rows deleted. Bounded by the number of hosts (< 3,000). */
  deleteMembers(hostIds: readonly string[]): Promise<number>;
  /** range_id of every shard (shard_id, 1-based, to range_id). */
  shardRangeIds(): Promise<Map<number, bigint>>;
  /**
   * range_id and recorded owner of every shard. Optional: without it the failover judges ownership
   * from range_id and live membership alone (see {@link ShardRecord}).
   */
  shardRecords?(): Promise<Map<number, ShardRecord>>;
  /** The database's clock (`SELECT now()`); optional, the failover falls back to its own clock. */
  now?(): Promise<Date>;
}

/**
 * One row of `shards` as the failover reads it. `owner` is upstream's `ShardInfo.owner` (field 3
 * of the Proto3 blob in `shards.data`), written by the history host that last acquired or updated
 * the shard: `<membership address>:<membership port>-<sequence>-<uuid>` (go.temporal.io/server
 * v1.32.2 service/history/shard/context_impl.go, `newContext` and `loadShardMetadata`). The prefix
 * before the first `-` is the host's broadcast IP and its history gRPC port: the IP is the
 * `rpc_address` of its `cluster_membership` row, the port is not that row's `rpc_port` (the ring's).
 */
export interface ShardRecord {
  readonly rangeId: bigint;
  /** Empty when the blob has no owner (a shard row created but never acquired). */
  readonly owner: string;
}

/** The outcome of one printed step. 'planned' is a dry run's answer. */
export interface StepResult {
  readonly step: string;
  readonly status: 'done' | 'already' | 'planned' | 'skipped' | 'failed';
  /** One line: what was found or changed. */
  readonly detail: string;
  /** Wall time of the step, ms. */
  readonly ms: number;
}
