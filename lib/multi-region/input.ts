/**
 * The input shape of the `multiRegion` section (lib/multi-region/config.ts checks and resolves it;
 * docs/multi-region.md).
 */

/**
 * Sections an environment may set per Region in `multiRegion.regionOverrides.<region>`: the ones
 * that hold Regional ARNs or Regional addressing. A section given there replaces the environment's
 * section for that Region as a whole (no deep merge). Everything else is shared, in particular
 * `numHistoryShards` (it must be the same for the one database both Regions serve).
 */
export const REGION_OVERRIDE_KEYS = [
  'network', 'ui', 'security', 'opensearch', 'observability', 'namespaceAdmin', 'dsql', 'backup', 'archival', 'serverImage', 'images', 'tags',
] as const;

/** A section name of {@link REGION_OVERRIDE_KEYS}. */
export type RegionOverrideKey = (typeof REGION_OVERRIDE_KEYS)[number];

/**
 * What an environment file gives in `multiRegion`; `O` is the per-Region override type
 * (lib/config.ts `RegionOverrideInput`, the environment's own sections). Kept free of imports so
 * that lib/config.ts can use it without an import cycle.
 */
export interface MultiRegionInputOf<O> {
  /**
   * The two peered Regions, `[active, standby]`, e.g. `['us-east-1', 'us-east-2']`. The active runs
   * the Temporal services at their configured counts; the standby at 0 until a failover.
   */
  readonly regions: readonly string[];
  /**
   * The witness Region: a third Region, different from both, that holds DSQL's transaction log for
   * quorum and has no endpoint (e.g. `us-west-2` for us-east-1 and us-east-2, AWS's own example).
   */
  readonly witnessRegion: string;
  /**
   * The cluster ARN of each Region, by Region, once the first deploy (phase `witness`) created them:
   * the `DsqlClusterArn` output of each `Temporal-<env>-<region>` stack. Kept in the environment
   * file (committed, like `config/<env>.lock.json`) because every later deploy needs both, and a
   * deploy that lost them would ask CloudFormation to unpeer the clusters.
   * @default - none: only phase `witness` can be deployed
   */
  readonly clusterArns?: Readonly<Record<string, string>>;
  /** Desired count of the standby Region's UI (its Temporal services always run 0 tasks until a failover). @default 0 */
  readonly standbyUiDesiredCount?: number;
  /** Per-Region sections (network, certificates, keys, ...), replacing the environment's for that Region. @default {} */
  readonly regionOverrides?: Readonly<Record<string, O>>;
}

