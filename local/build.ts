/**
 * Builds the Go binaries the local stack runs (our Temporal DSQL server and the UI server) into
 * .cache/bin with `go build` (incremental; a file lock serialises parallel builds).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BIN_DIR, ROOT } from './paths';

const run = promisify(execFile);

/**
 * Runs `go build` for a module directory (incremental; a file lock serialises parallel builds).
 * `extraArgs` go before `-o` (e.g. `-modfile=...`).
 * @throws Error with go's stderr when the build fails
 */
export async function goBuild(moduleDir: string, pkg: string, out: string, extraArgs: readonly string[] = []): Promise<string> {
  mkdirSync(BIN_DIR, { recursive: true });
  try {
    // GOTOOLCHAIN=auto: docker/temporal-server/go.mod's go line asks for a newer Go than the
    // machine's; the go command fetches that toolchain from the Go module proxy (not with local).
    const env = { ...process.env, GOTOOLCHAIN: 'auto' };
    await run('flock', [join(BIN_DIR, '.go-build.lock'), 'go', 'build', ...extraArgs, '-o', out, pkg], { cwd: moduleDir, env, maxBuffer: 1 << 24 });
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


/** Directory of the previous upstream pins' go.mod/go.sum pairs (`<version>.mod`, `<version>.sum`). */
export const UPGRADE_MODFILE_DIR = join(ROOT, 'docker', 'temporal-server', 'upgrade');

/**
 * The upstream versions with a go.mod of their own in {@link UPGRADE_MODFILE_DIR}, e.g.
 * `['v1.31.2']`: the previous pins the upgrade rehearsal (test/upgrade) starts from.
 */
export function previousServerVersions(): string[] {
  if (!existsSync(UPGRADE_MODFILE_DIR)) return [];
  return readdirSync(UPGRADE_MODFILE_DIR).filter((f) => f.endsWith('.mod')).map((f) => f.slice(0, -'.mod'.length)).sort();
}

/**
 * Builds our Temporal DSQL server against a previous upstream pin: today's plugin sources with
 * `docker/temporal-server/upgrade/<version>.mod` (and its `.sum`) in place of go.mod
 * (`go build -modfile`), into `.cache/bin/temporal-dsql-server-<version>`. The old binary of the
 * upgrade rehearsal: what the platform ran before the bump, upstream-wise. The first build takes
 * minutes on 2 cores (scripts/setup.d/50-local-stack.sh does it); later ones are incremental.
 * @param version - e.g. `v1.31.2`; must have a `.mod` file
 * @throws Error naming the versions present when there is no such file, or go's stderr
 */
export function buildPreviousTemporalServer(version: string): Promise<string> {
  const versions = previousServerVersions();
  if (!versions.includes(version)) {
    return Promise.reject(new Error(`no go.mod for upstream ${version} in ${UPGRADE_MODFILE_DIR} (present: ${versions.join(', ') || 'none'})`));
  }
  // Build tag upstream_v<major>_<minor>: the few files that differ between upstream versions
  // (e.g. dsql/currentcheck_first_run_v131.go); scripts/setup.d/50-local-stack.sh sets the same.
  const tag = version.replace(/^v(\d+)\.(\d+)\..*$/, 'upstream_v$1_$2');
  return goBuild(join(ROOT, 'docker', 'temporal-server'), './cmd/temporal-dsql-server', join(BIN_DIR, `temporal-dsql-server-${version}`), [`-modfile=upgrade/${version}.mod`, '-tags', tag]);
}
