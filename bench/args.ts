/**
 * Command-line arguments of `npm run bench` (bench/run.ts), apart so that they can be tested
 * without starting anything.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LATENCY_PROFILES, LatencyProfile, LatencySettings } from '../test/support/dsql-local';
import { ROOT } from '../local/paths';

/** Parsed arguments; see bench/run.ts for what each does. */
export interface BenchArgs {
  idle: number;
  shards: number;
  latencyProfile: LatencyProfile;
  /** Also run `ours-dsql-multi-region`: ours-dsql's server on the same dsql-local with {@link MULTI_REGION_LATENCY}. */
  multiRegion: boolean;
  concurrency: number;
  workflows: number;
  warmup: number;
  rounds: number;
  out: string;
}

/**
 * dsql-local's `dsql-multi-region` profile (dsql-local/latency.go, README "Latency model"): reads stay
 * in the Region (1.5 ms per round trip), each commit waits for the peer Region (20 ms), jitter 0.3.
 * The bench sets it at run time (POST /config/latency) for the multi-Region row, so both rows share
 * one dsql-local and one database.
 */
export const MULTI_REGION_LATENCY: LatencySettings = { roundTripMs: 1.5, commitMs: 20, jitter: 0.3 };

/**
 * Parses `npm run bench` arguments.
 * @throws Error naming the flag, the value and what is allowed
 */
export function parseBenchArgs(argv: string[]): BenchArgs {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      concurrency: { type: 'string' },
      workflows: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      idle: { type: 'string' },
      shards: { type: 'string' },
      'latency-profile': { type: 'string' },
      'multi-region': { type: 'boolean' },
      out: { type: 'string' },
    },
  });
  const int = (name: string, value: string | undefined, def: number, min: number, max: number) => {
    if (value === undefined) return def;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got '${value}'`);
    return n;
  };
  const latencyProfile = latencyProfileArg(v['latency-profile']);
  const multiRegion = v['multi-region'] ?? false;
  if (multiRegion && latencyProfile !== 'dsql-single-region') {
    throw new Error(`--multi-region compares the dsql-multi-region latency with dsql-single-region in the same run: --latency-profile must be dsql-single-region (or unset), got '${latencyProfile}'`);
  }
  return {
    concurrency: int('concurrency', v.concurrency, 10, 1, 200),
    workflows: int('workflows', v.workflows, 300, 10, 100_000),
    warmup: int('warmup', v.warmup, 30, 0, 10_000),
    rounds: int('rounds', v.rounds, 2, 1, 10),
    idle: int('idle', v.idle, 10, 1, 600),
    shards: int('shards', v.shards, 4, 1, 16384),
    latencyProfile,
    multiRegion,
    out: v.out ?? join(ROOT, '.cache', 'bench', `results-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
  };
}

function latencyProfileArg(value: string | undefined): LatencyProfile {
  if (value === undefined) return 'dsql-single-region';
  if (!(LATENCY_PROFILES as readonly string[]).includes(value)) {
    throw new Error(`--latency-profile must be one of ${LATENCY_PROFILES.join(', ')}, got '${value}'`);
  }
  return value as LatencyProfile;
}
