/**
 * The checks every section of the configuration is built from ({@link ConfigError} and small typed
 * readers), shared by `lib/config.ts` and the per-section files (`lib/network/config.ts`).
 *
 * Why not a schema library (zod): the plain type and enum checks would be shorter in zod, but they
 * are the small part. Most rules cross fields (zones vs `azCount` and `env.region`, ARNs vs the
 * Region, `existingVpc` vs `cidr`/`natGateways`, Fargate memory per CPU, data nodes per zone,
 * client CIDRs covering IPv4) and would become `superRefine` callbacks holding this same code, and
 * keeping every message in the form `Invalid configuration: <env>.<field> = <value>; allowed: ...`
 * needs a custom message per check anyway. A new dependency for no fewer lines: not done.
 */

/** Thrown for invalid configuration; the message names the field, the value and what is allowed. */
export class ConfigError extends Error {
  constructor(
    /** Dotted path of the offending field, e.g. `prod.opensearch.engineVersion`. */
    public readonly field: string,
    value: unknown,
    allowed: string,
  ) {
    super(`Invalid configuration: ${field} = ${show(value)}; allowed: ${allowed}`);
    this.name = 'ConfigError';
  }
}

function show(value: unknown): string {
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** Throws for the first key of `obj` that is not in `allowed`. */
export function checkKeys(field: string, obj: object, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(`${field}.${key}`, (obj as Record<string, unknown>)[key], `one of the known fields ${allowed.join(', ')}`);
    }
  }
}

/** True for a plain object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An optional section: `{}` when absent, else it must be an object. */
export function optObject(field: string, v: unknown): Record<string, unknown> {
  if (v === undefined) return {};
  if (!isObject(v)) throw new ConfigError(field, v, 'an object');
  return v;
}

/** An integer from `min` to `max` (inclusive). */
export function int(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(field, v, `an integer from ${min} to ${max}`);
  }
  return v;
}

/** An optional boolean with its default. */
export function bool(field: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new ConfigError(field, v, 'true or false');
  return v;
}

/** An optional string out of `allowed`, with its default. */
export function oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(field, v, allowed.map((a) => `'${a}'`).join(' or '));
  }
  return v as T;
}

/** A string matching `pattern`; `allowed` describes it for the error message. */
export function str(field: string, v: unknown, pattern: RegExp, allowed: string): string {
  if (typeof v !== 'string' || !pattern.test(v)) throw new ConfigError(field, v, allowed);
  return v;
}

/** An IPv4 CIDR block, `a.b.c.d/n`. */
export const CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/([0-9]|[12]\d|3[0-2])$/;

/** An availability zone name such as `us-east-1a` (its Region followed by one letter). */
export const AZ = /^[a-z]{2}(-[a-z]+)+-\d[a-z]$/;

/** The Region of an availability zone name: `us-east-1a` is in `us-east-1`. */
export function regionOfZone(zone: string): string {
  return zone.slice(0, -1);
}

/** The Region field of an ARN (`arn:<partition>:<service>:<region>:...`), or undefined. */
export function regionOfArn(arn: string): string | undefined {
  return arn.split(':')[3] || undefined;
}
