/**
 * The `multiRegion` section of an environment: one logical Aurora DSQL database on two peered
 * clusters (an active and a standby Region) plus a witness Region, and one platform stack per Region
 * (`Temporal-<env>-<region>`). docs/multi-region.md explains the design and the deploy phases.
 *
 * {@link resolveMultiRegion} checks the section and returns, for each Region, the environment input
 * that `resolveConfig` then resolves as usual (so every per-Region check, e.g. a KMS key or ACM
 * certificate in the stack's Region, still applies). Errors are {@link ConfigError}s naming the
 * field, the value and what is allowed.
 *
 * Facts (AWS documentation, checked 2026-12): `AWS::DSQL::Cluster.MultiRegionProperties` is
 * `{ Clusters: [ARN], WitnessRegion }`, both updatable without interruption; the witness Region
 * cannot be the cluster's own Region (aws-cdk-lib 2.276 `CfnCluster` docs); AWS's CloudFormation
 * recipe ("Configuring Aurora DSQL clusters using AWS CloudFormation", Aurora DSQL User Guide) creates
 * both stacks with only `WitnessRegion` (clusters wait in PENDING_SETUP) and then updates both with
 * both cluster ARNs in `Clusters`.
 */
export { REGION_OVERRIDE_KEYS } from './input';
export type { RegionOverrideInput } from '../config';
import type { PlatformConfigInput, RegionOverrideInput } from '../config';
import type { MultiRegionInputOf } from './input';
import { REGION_OVERRIDE_KEYS } from './input';
import { checkKeys, ConfigError, int, isObject, optObject, str } from '../config-checks';

/** An AWS Region name such as `us-east-1`. */
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
/** A DSQL cluster ARN, with its partition, Region, account and identifier captured (API pattern of MultiRegionProperties.clusters). */
const CLUSTER_ARN = /^arn:(aws(?:-[a-z]+)*):dsql:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):cluster\/([a-z0-9]{26})$/;

/**
 * The deploy phase of a multi-Region environment, from CDK context `-c multiRegionPhase=<phase>`:
 *
 * - `witness` (first deploy, phase 1): each Region's stack holds only its DSQL cluster, with
 *   `MultiRegionProperties.WitnessRegion` only. The clusters wait in PENDING_SETUP and cannot serve
 *   connections, so nothing that connects (schema job, services) is in the stack yet.
 * - `peer` (phase 2): the same cluster-only stacks, with both cluster ARNs
 *   (`multiRegion.clusterArns`) in `Clusters`: the peering change and nothing else.
 * - `platform` (no context; every later deploy): the whole platform in each Region, its cluster
 *   still peered.
 */
export type MultiRegionPhase = 'witness' | 'peer' | 'platform';

/** The phases accepted in `-c multiRegionPhase=` (`platform` is the default: no context). */
export const MULTI_REGION_PHASES: readonly MultiRegionPhase[] = ['witness', 'peer', 'platform'];

/** What an environment file gives in `multiRegion`, with its per-Region overrides typed (lib/multi-region/input.ts). */
export type MultiRegionInput = MultiRegionInputOf<RegionOverrideInput>;

/** The resolved `multiRegion` section, the same for both Regions' stacks. */
export interface MultiRegionConfig {
  /** Active Region. */
  readonly active: string;
  /** Standby Region. */
  readonly standby: string;
  readonly witnessRegion: string;
  readonly phase: MultiRegionPhase;
  /** Cluster ARN by Region; undefined in phase `witness`. */
  readonly clusterArns?: Readonly<Record<string, string>>;
  readonly standbyUiDesiredCount: number;
}

/** One Region of a multi-Region environment: its role, and the environment input for `resolveConfig`. */
export interface RegionPlan {
  readonly region: string;
  readonly role: 'active' | 'standby';
  /** The environment input with this Region's overrides applied, `env.region` set and `multiRegion` removed. */
  readonly input: PlatformConfigInput;
}

/**
 * Checks `multiRegion` and the deploy phase and splits the environment into its two Regions.
 *
 * @param p field path prefix (`<env>.<field>`)
 * @param input the environment's input (with `multiRegion` set)
 * @param phaseContext the raw `-c multiRegionPhase` context value (undefined: `platform`)
 * @throws ConfigError naming the field, the value and what is allowed
 */
export function resolveMultiRegion(
  p: (f: string) => string, input: PlatformConfigInput, phaseContext: unknown,
): { multiRegion: MultiRegionConfig; regions: RegionPlan[] } {
  const mr = optObject(p('multiRegion'), input.multiRegion);
  checkKeys(p('multiRegion'), mr, ['regions', 'witnessRegion', 'clusterArns', 'standbyUiDesiredCount', 'regionOverrides']);

  const regions = mr.regions;
  if (!Array.isArray(regions) || regions.length !== 2 || !regions.every((r) => typeof r === 'string' && REGION.test(r))) {
    throw new ConfigError(p('multiRegion.regions'), regions, 'two AWS Region names, [active, standby], e.g. ["us-east-1", "us-east-2"]');
  }
  const [active, standby] = regions as string[];
  if (active === standby) {
    throw new ConfigError(p('multiRegion.regions'), regions, 'two different Regions (a multi-Region cluster peers clusters of two Regions)');
  }
  const witnessRegion = str(p('multiRegion.witnessRegion'), mr.witnessRegion, REGION, 'an AWS Region name such as us-west-2');
  if (witnessRegion === active || witnessRegion === standby) {
    throw new ConfigError(p('multiRegion.witnessRegion'), witnessRegion,
      `a third Region, different from both peered Regions ${active} and ${standby} (AWS refuses a witness in the cluster's own Region)`);
  }
  const envIn = optObject(p('env'), input.env);
  if (envIn.region !== undefined && envIn.region !== active) {
    throw new ConfigError(p('env.region'), envIn.region, `unset or the active Region ${active}: with multiRegion each stack's Region is one of multiRegion.regions`);
  }
  const standbyUiDesiredCount = mr.standbyUiDesiredCount === undefined ? 0 : int(p('multiRegion.standbyUiDesiredCount'), mr.standbyUiDesiredCount, 0, 10);

  // Phase (CDK context) against the cluster ARNs (configuration).
  if (phaseContext !== undefined && (typeof phaseContext !== 'string' || !(MULTI_REGION_PHASES as readonly string[]).includes(phaseContext))) {
    throw new ConfigError('context multiRegionPhase', phaseContext, `${MULTI_REGION_PHASES.map((x) => `'${x}'`).join(' or ')} (unset means 'platform')`);
  }
  const phase = (phaseContext ?? 'platform') as MultiRegionPhase;
  let clusterArns: Record<string, string> | undefined;
  if (mr.clusterArns !== undefined) {
    const arnsIn = optObject(p('multiRegion.clusterArns'), mr.clusterArns);
    clusterArns = {};
    for (const region of [active, standby]) {
      const f = p(`multiRegion.clusterArns["${region}"]`);
      const m = CLUSTER_ARN.exec(String(arnsIn[region]));
      if (typeof arnsIn[region] !== 'string' || !m) {
        throw new ConfigError(f, arnsIn[region], `the DSQL cluster ARN of ${region} (output DsqlClusterArn of stack Temporal-<env>-${region}), arn:aws:dsql:${region}:<account>:cluster/<26-character id>`);
      }
      if (m[2] !== region) throw new ConfigError(f, arnsIn[region], `a cluster in ${region} (the key names the cluster's Region)`);
      if (envIn.account !== undefined && m[3] !== envIn.account) throw new ConfigError(f, arnsIn[region], `a cluster in env.account ${String(envIn.account)}`);
      clusterArns[region] = arnsIn[region] as string;
    }
    checkKeys(p('multiRegion.clusterArns'), arnsIn, [active, standby]);
    if (clusterArns[active] === clusterArns[standby]) {
      throw new ConfigError(p('multiRegion.clusterArns'), clusterArns, 'two different clusters');
    }
  }
  if (phase === 'witness' && clusterArns) {
    throw new ConfigError('context multiRegionPhase', phase,
      `'peer' or unset: multiRegion.clusterArns is set, so the clusters exist and are (being) peered; phase 'witness' would remove the peering (it is for the first deploy only)`);
  }
  if (phase !== 'witness' && !clusterArns) {
    throw new ConfigError(p('multiRegion.clusterArns'), undefined,
      `the cluster ARN of each Region (outputs DsqlClusterArn) for phase '${phase}'; first deploy the clusters with -c multiRegionPhase=witness (docs/multi-region.md)`);
  }

  // Per-Region inputs.
  const overridesIn = optObject(p('multiRegion.regionOverrides'), mr.regionOverrides);
  checkKeys(p('multiRegion.regionOverrides'), overridesIn, [active, standby]);
  const { multiRegion: _drop, ...base } = input;
  const plans: RegionPlan[] = [active, standby].map((region, i) => {
    const o = optObject(p(`multiRegion.regionOverrides["${region}"]`), overridesIn[region]);
    for (const key of Object.keys(o)) {
      if (!(REGION_OVERRIDE_KEYS as readonly string[]).includes(key)) {
        throw new ConfigError(p(`multiRegion.regionOverrides["${region}"].${key}`), o[key],
          `one of the per-Region sections ${REGION_OVERRIDE_KEYS.join(', ')}; ${key} is shared by both Regions` +
          (key === 'numHistoryShards' ? ' (one database, one shard count)' : ''));
      }
    }
    return {
      region,
      role: i === 0 ? 'active' : 'standby',
      input: { ...base, ...(o as RegionOverrideInput), env: { ...(envIn as { account?: string }), region } },
    } as RegionPlan;
  });

  // The cluster is one database: the same protection in both Regions, never adopted.
  const dsqlOf = (plan: RegionPlan) => (isObject(plan.input.dsql) ? plan.input.dsql : {});
  for (const plan of plans) {
    if (dsqlOf(plan).existingCluster !== undefined) {
      throw new ConfigError(p(`dsql.existingCluster`), dsqlOf(plan).existingCluster, `nothing with multiRegion (${plan.region}): the stacks create and peer their clusters`);
    }
  }
  const protection = plans.map((plan) => dsqlOf(plan).deletionProtection ?? true);
  if (protection[0] !== protection[1]) {
    throw new ConfigError(p(`multiRegion.regionOverrides["${standby}"].dsql.deletionProtection`), protection[1],
      `${protection[0]}, the same as ${active}: both clusters are one database`);
  }
  return {
    multiRegion: { active, standby, witnessRegion, phase, clusterArns, standbyUiDesiredCount },
    regions: plans,
  };
}

/** What a Region's stack needs to know about the multi-Region environment (`TemporalPlatformStack` prop `multiRegion`). */
export interface MultiRegionStackProps {
  /** This stack's role. */
  readonly role: 'active' | 'standby';
  /** The other peered Region. */
  readonly peerRegion: string;
  readonly witnessRegion: string;
  /** Both cluster ARNs (`MultiRegionProperties.Clusters`); undefined only in phase `witness`. */
  readonly clusterArns?: readonly string[];
}

/**
 * Name of the server task role of one Region of a multi-Region environment,
 * `temporal-<env>-<region>-server` (at most 16 + 1 + 20 + 7 + 9 < 64 characters). Fixed, so that
 * each Region's schema job can map the database role to both Regions' task roles: it revokes
 * every mapping it was not given, and the peer's role ARN is another stack's value.
 */
export function serverTaskRoleName(envName: string, region: string): string {
  return `temporal-${envName}-${region}-server`;
}
