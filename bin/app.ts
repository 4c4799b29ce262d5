#!/usr/bin/env node
/**
 * CDK app entry (`cdk.json`: `npx tsx bin/app.ts`). `-c env=<name>` selects config/<name>.ts
 * (default dev). Main job: `npx cdk synth --all -c env=prod`. An environment with `multiRegion`
 * makes one stack per Region, in the phase `-c multiRegionPhase=witness|peer` selects (default:
 * the whole platform; docs/multi-region.md).
 */
import { ENVIRONMENTS } from '../config';
import { createApp } from '../lib/app';
import { shardLockPath } from '../lib/dsql/shard-lock';
import * as path from 'path';

try {
  const { config, lock } = createApp({ environments: ENVIRONMENTS });
  if (lock === 'created') {
    process.stderr.write(
      `NOTE: pinned numHistoryShards=${config.numHistoryShards} for environment ${config.envName} in ` +
      `${path.relative(process.cwd(), shardLockPath(path.join(__dirname, '..', 'config'), config.envName))}; commit this file.\n`,
    );
  }
} catch (e) {
  // Configuration and input errors: one clear line instead of a stack trace.
  process.stderr.write(`ERROR: ${(e as Error).message}\n`);
  process.exit(1);
}
