/**
 * Builds the Go binaries the local stack runs (our Temporal DSQL server and the UI server) into
 * .cache/bin with `go build` (incremental; a file lock serialises parallel builds).
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BIN_DIR, ROOT } from './paths';

const run = promisify(execFile);

/** Runs `go build` for a module directory (incremental; a file lock serialises parallel builds). */
export async function goBuild(moduleDir: string, pkg: string, out: string): Promise<string> {
  mkdirSync(BIN_DIR, { recursive: true });
  try {
    // GOTOOLCHAIN=auto: docker/temporal-server/go.mod's go line asks for a newer Go than the
    // machine's; the go command fetches that toolchain from the Go module proxy (not with local).
    const env = { ...process.env, GOTOOLCHAIN: 'auto' };
    await run('flock', [join(BIN_DIR, '.go-build.lock'), 'go', 'build', '-o', out, pkg], { cwd: moduleDir, env, maxBuffer: 1 << 24 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`go build ${pkg} in ${moduleDir} failed: ${err.stderr || err.message}`);
  }
  return out;
}

/** Builds the Temporal UI server (local/ui-server) into .cache/bin. */
export function buildUiServer(): Promise<string> {
  return goBuild(join(ROOT, 'local', 'ui-server'), '.', join(BIN_DIR, 'temporal-ui-server'));
}

/** Builds our Temporal DSQL server (docker/temporal-server) into .cache/bin. */
export function buildTemporalServer(): Promise<string> {
  return goBuild(join(ROOT, 'docker', 'temporal-server'), './cmd/temporal-dsql-server', join(BIN_DIR, 'temporal-dsql-server'));
}

