import * as fs from 'fs';
import * as YAML from 'yaml';
import type { DynamicConfigValue } from './roles';

/**
 * Builds the dynamic config YAML handed to every server role in `TEMPORAL_DYNAMIC_CONFIG`.
 *
 * Reads Temporal's dynamic config file format (a map from key to a list of `{value, constraints}`)
 * from `defaultFile`, then lays the environment's overrides over it: an override key replaces the
 * default's whole list for that key. Keys are sorted so the text (and therefore `cdk diff`) is
 * stable.
 *
 * @param defaultFile path of `docker/temporal-server/config/dynamicconfig/default.yaml`
 * @param overrides the environment's `dynamicConfig` (already validated by `resolveConfig`)
 * @returns YAML text
 * @throws Error when the file is missing, is not valid YAML, or is not a map of lists
 */
export function buildDynamicConfig(defaultFile: string, overrides: Record<string, DynamicConfigValue[]>): string {
  if (!fs.existsSync(defaultFile)) {
    throw new Error(`Default dynamic config ${defaultFile} does not exist`);
  }
  let parsed: unknown;
  try {
    parsed = YAML.parse(fs.readFileSync(defaultFile, 'utf8'));
  } catch (e) {
    throw new Error(`Default dynamic config ${defaultFile} is not valid YAML: ${(e as Error).message}`);
  }
  const base = parsed ?? {};
  if (typeof base !== 'object' || Array.isArray(base)) {
    throw new Error(`Default dynamic config ${defaultFile} must be a map of key -> list of {value, constraints}`);
  }
  for (const [key, list] of Object.entries(base as Record<string, unknown>)) {
    if (!Array.isArray(list)) {
      throw new Error(`Default dynamic config ${defaultFile}: ${key} must be a list of {value, constraints}, got ${JSON.stringify(list)}`);
    }
  }
  const merged: Record<string, unknown> = { ...(base as Record<string, unknown>), ...overrides };
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(merged).sort()) sorted[key] = merged[key];
  return YAML.stringify(sorted, { sortMapEntries: true, lineWidth: 0 });
}
