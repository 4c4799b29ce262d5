/**
 * An environment's configuration as the cost estimate needs it (lib/capacity/cost.ts): resolved as the
 * stack resolves it, and for an environment with `multiRegion`, each Region's configuration (its
 * `regionOverrides` applied), the Region names and the standby's UI count.
 */
import { PlatformConfig, PlatformConfigInput, resolveConfig } from '../config';
import { resolveMultiRegion } from '../multi-region/config';

/** What {@link costEnvironment} returns; the fields after `config` only for a multi-Region environment. */
export interface CostEnvironment {
  /** The (active) Region's resolved configuration. */
  readonly config: PlatformConfig;
  /** The standby Region's resolved configuration. */
  readonly standby?: PlatformConfig;
  readonly names?: { readonly active: string; readonly standby: string; readonly witness: string };
  /** `multiRegion.standbyUiDesiredCount`. */
  readonly standbyUi?: number;
}

/**
 * Resolves an environment's input for the cost estimate.
 * @throws ConfigError naming the field, the value and what is allowed (as `cdk synth` would)
 */
export function costEnvironment(envName: string, input: PlatformConfigInput): CostEnvironment {
  if (!input.multiRegion) return { config: resolveConfig(envName, input) };
  // Before the first deploy there are no cluster ARNs, which only phase `witness` accepts; the
  // phases differ in the peering, not in what is billed, so the estimate reads the configuration as
  // phase `witness` then.
  const phase = input.multiRegion.clusterArns === undefined ? 'witness' : undefined;
  const { multiRegion, regions } = resolveMultiRegion((f) => `${envName}.${f}`, input, phase);
  const active = regions.find((r) => r.role === 'active')!;
  const standby = regions.find((r) => r.role === 'standby')!;
  return {
    config: resolveConfig(envName, active.input),
    standby: resolveConfig(envName, standby.input),
    names: { active: active.region, standby: standby.region, witness: multiRegion.witnessRegion },
    standbyUi: multiRegion.standbyUiDesiredCount,
  };
}
