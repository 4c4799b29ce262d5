/**
 * The capacity model for a multi-Region cluster (`npm run capacity -- --wps <n> --regions 2`): the same
 * plan as one Region (lib/capacity/capacity.ts) with the commit latency of a multi-Region cluster,
 * side by side with the single-Region plan, so the cost of the cross-Region commit shows as ratios.
 *
 * Basis: in a multi-Region DSQL cluster reads stay in the Region and each commit synchronises once
 * with the peer Region before it returns (Aurora DSQL user guide, "Multi-Region clusters";
 * /work/shared/DSQL.md, about 20 ms between us-east-1 and us-east-2 by third-party measurement); AWS
 * publishes no latency figure. dsql-local's `dsql-multi-region` profile encodes it as 1.5 ms per
 * round trip and 20 ms per commit (dsql-local/README.md, "Latency model"), and so does this model.
 */
import { CapacityAssumptions, CapacityPlan, DEFAULT_ASSUMPTIONS, HELLO_WORKLOAD, planCapacity, WorkloadProfile } from './capacity';

/** Commit latency of a multi-Region cluster, ms (dsql-local's `dsql-multi-region` profile). */
export const MULTI_REGION_COMMIT_MS = 20;

/** Single- and multi-Region plans for one load, and the ratios between them. */
export interface MultiRegionCapacity {
  /** The plan with single-Region latencies (the assumptions given, commit 5 ms by default). */
  readonly single: CapacityPlan;
  /** The same with the multi-Region commit latency. */
  readonly multi: CapacityPlan;
  /** multi / single workflows per shard (below 1: each shard takes less). */
  readonly workflowsPerShardRatio: number;
  /** multi / single DSQL time per workflow (the latency floor from persistence). */
  readonly msPerWorkflowRatio: number;
}

/**
 * Plans `wps` twice: with `overrides` as given (single-Region), and with the commit latency set to
 * `multiRegionCommitMs` (multi-Region). Shards, history tasks and connection pools of the multi-Region
 * plan are what the active Region needs; the standby needs the same once it takes over.
 *
 * @param multiRegionCommitMs commit latency of the multi-Region cluster, ms @default MULTI_REGION_COMMIT_MS
 * @throws Error as planCapacity, and when multiRegionCommitMs is below the single-Region commit latency
 */
export function planMultiRegion(
  wps: number, workload: WorkloadProfile = HELLO_WORKLOAD, overrides: Partial<CapacityAssumptions> = {}, multiRegionCommitMs = MULTI_REGION_COMMIT_MS,
): MultiRegionCapacity {
  const single = planCapacity(wps, workload, overrides);
  const singleCommit = overrides.commitMs ?? DEFAULT_ASSUMPTIONS.commitMs;
  if (!(multiRegionCommitMs >= singleCommit) || !Number.isFinite(multiRegionCommitMs)) {
    throw new Error(`multi-Region commit latency ${multiRegionCommitMs} ms is not allowed: a number >= the single-Region commit latency (${singleCommit} ms); a cross-Region commit adds a round trip to the peer`);
  }
  const multi = planCapacity(wps, workload, { ...overrides, commitMs: multiRegionCommitMs });
  return {
    single,
    multi,
    workflowsPerShardRatio: multi.shards.workflowsPerShard / single.shards.workflowsPerShard,
    msPerWorkflowRatio: multi.dsql.msPerWorkflow / single.dsql.msPerWorkflow,
  };
}

/**
 * The number of Regions of `npm run capacity -- --regions <n>`: 1, or 2 (an active and a standby Region
 * plus a witness; a DSQL multi-Region cluster peers exactly two Regions). Undefined means 1.
 *
 * @throws Error naming the flag, the value and what is allowed
 */
export function parseRegionCount(v: string | undefined): 1 | 2 {
  if (v === undefined || v === '1') return 1;
  if (v === '2') return 2;
  throw new Error(`--regions ${JSON.stringify(v)} is not allowed: 1 (one Region) or 2 (an active and a standby Region plus a witness: a DSQL multi-Region cluster peers exactly two Regions)`);
}
