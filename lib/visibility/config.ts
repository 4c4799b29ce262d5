/**
 * Checks of `opensearch.multiAzWithStandby` (kept out of `lib/config.ts`, which is near its split point).
 */
import { bool, ConfigError } from '../config-checks';

/**
 * Multi-AZ with Standby is valid only with 3 AZs, dedicated master nodes, a data node count that is
 * a multiple of 3 and no T2/T3 instances (OpenSearch Service developer guide, "Multi-AZ with Standby").
 * @returns the resolved flag (default false)
 */
export function resolveMultiAzWithStandby(p: (f: string) => string, v: unknown, o: {
  azCount: number; dataNodes: number; masterNodes: number; dataNodeInstanceType: string; masterNodeInstanceType: string;
}): boolean {
  const on = bool(p('opensearch.multiAzWithStandby'), v, false);
  if (!on) return false;
  const f = p('opensearch.multiAzWithStandby');
  if (o.azCount !== 3) throw new ConfigError(f, v, `false unless network.azCount is 3 (it is ${o.azCount}): Multi-AZ with Standby spans three zones`);
  if (o.masterNodes === 0) throw new ConfigError(f, v, 'false unless opensearch.masterNodes is 3 or 5 (Multi-AZ with Standby needs dedicated masters)');
  if (o.dataNodes % 3 !== 0) throw new ConfigError(f, v, `false unless opensearch.dataNodes is a multiple of 3 (it is ${o.dataNodes})`);
  for (const t of [o.dataNodeInstanceType, o.masterNodeInstanceType]) {
    if (/^t[23]\./.test(t)) throw new ConfigError(f, v, `false with T2/T3 instance types (${t}): Multi-AZ with Standby does not support them`);
  }
  return true;
}
