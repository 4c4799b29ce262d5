import * as fs from 'fs';
import * as path from 'path';

/**
 * The synth-time guard of `numHistoryShards`.
 *
 * Temporal can never change the history shard count of an existing cluster: the servers refuse to
 * start (or worse, misroute workflows) when the configured count differs from the one the database
 * was initialised with. Each environment therefore has a committed lock file,
 * `config/<env>.lock.json`, written by the first synth of that environment and reviewed with the
 * change that introduces it. Every later synth compares the configured value with the pinned one
 * and fails before anything reaches CloudFormation.
 *
 * The platform stack adds a second, deploy-time guard (an SSM parameter whose logical id and fixed
 * name carry the count; see `TemporalPlatformStack`), so a changed template that bypassed this
 * check still fails in CloudFormation before the ECS services are updated.
 */
export interface ShardLockFile {
  /** Environment name the lock belongs to. */
  readonly environment: string;
  /** The pinned history shard count. */
  readonly numHistoryShards: number;
  /** Human-readable warning kept in the file. */
  readonly note: string;
}

/** Result of {@link checkShardLock}. */
export type ShardLockResult = 'matched' | 'created';

/** Path of the lock file of an environment inside `lockDir`. */
export function shardLockPath(lockDir: string, envName: string): string {
  return path.join(lockDir, `${envName}.lock.json`);
}

/**
 * Compares `numHistoryShards` with the environment's lock file.
 *
 * @param lockDir directory holding `<env>.lock.json` (the repository's `config/`)
 * @param envName environment name
 * @param numHistoryShards the configured shard count
 * @param options.createIfMissing write the lock when none exists (default true)
 * @returns 'matched' when the lock holds the same value, 'created' when it was written now
 * @throws Error when the lock pins another value, when the lock file is malformed, or when it is
 *   missing and `createIfMissing` is false
 */
export function checkShardLock(
  lockDir: string,
  envName: string,
  numHistoryShards: number,
  options: { createIfMissing?: boolean } = {},
): ShardLockResult {
  const file = shardLockPath(lockDir, envName);
  const shown = path.relative(process.cwd(), file) || file;
  if (!fs.existsSync(file)) {
    if (options.createIfMissing === false) {
      throw new Error(`numHistoryShards lock ${shown} does not exist; synthesize environment ${envName} once to create it and commit it`);
    }
    const lock: ShardLockFile = {
      environment: envName,
      numHistoryShards,
      note: 'Pinned by the first synth of this environment. Temporal can never change numHistoryShards after the first deploy. Commit this file; never edit it for a deployed environment.',
    };
    fs.mkdirSync(lockDir, { recursive: true });
    fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
    return 'created';
  }
  let lock: Partial<ShardLockFile>;
  try {
    lock = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`numHistoryShards lock ${shown} is not valid JSON (${(e as Error).message}); restore it from git`);
  }
  if (typeof lock.numHistoryShards !== 'number') {
    throw new Error(`numHistoryShards lock ${shown} has no numeric numHistoryShards; restore it from git`);
  }
  if (lock.numHistoryShards !== numHistoryShards) {
    throw new Error(
      `numHistoryShards of environment ${envName} is ${numHistoryShards}, but ${shown} pins it to ${lock.numHistoryShards}. ` +
      'Temporal can never change the history shard count after the first deploy. ' +
      `Set numHistoryShards back to ${lock.numHistoryShards}. Only for a new environment with an empty database, delete ${shown} and synthesize again.`,
    );
  }
  return 'matched';
}
