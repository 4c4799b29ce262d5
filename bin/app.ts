#!/usr/bin/env node
/**
 * CDK app entry (`cdk.json`: `npx tsx bin/app.ts`). `-c env=<name>` selects config/<name>.ts
 * (default dev). Main job: `npx cdk synth --all -c env=prod`.
 */
import { ENVIRONMENTS } from '../config';
import { createPlatformApp } from '../lib/app';
import { shardLockPath } from '../lib/dsql/shard-lock';
import * as path from 'path';

try {
  const { config, lock } = createPlatformApp({ environments: ENVIRONMENTS });
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
