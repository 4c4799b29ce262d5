/**
 * A private PostgreSQL 15 instance (Debian's binaries, /usr/lib/postgresql/15/bin) in a fresh
 * directory on a free loopback port, with `pg_stat_statements` loaded. Used by the benchmarks for
 * the "plain PostgreSQL" targets; never touches the system PostgreSQL service.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort, ManagedProcess, startProcess, waitFor } from './process';

/** Directory of the PostgreSQL server binaries. @default /usr/lib/postgresql/15/bin (or `PG_BIN`) */
export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** A running instance. */
export interface LocalPostgres {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Superuser name (trust authentication on loopback). */
  readonly user: 'postgres';
  readonly dataDir: string;
  /** Opens a connected `pg.Client` to `database` (default `postgres`). */
  connect(database?: string): Promise<Client>;
  /** Stops the server (fast shutdown) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startPostgres}. */
export interface LocalPostgresOptions {
  /** Parent directory for the instance. @default os.tmpdir() */
  readonly parentDir?: string;
  /** Extra `-c name=value` settings. */
  readonly settings?: Record<string, string | number>;
  /** Server log file. @default <dataDir>/../postgres.log */
  readonly logFile?: string;
}

/**
 * Initializes and starts PostgreSQL. When running as root, the server runs as the `postgres`
 * system user (PostgreSQL refuses root).
 * @throws Error with the server log when initdb fails or the server is not up within 60 s.
 */
export async function startPostgres(o: LocalPostgresOptions = {}): Promise<LocalPostgres> {
  const base = mkdtempSync(join(o.parentDir ?? tmpdir(), 'pg-'));
  const dataDir = join(base, 'data');
  const sockDir = join(base, 'sock');
  mkdirSync(sockDir);
  let uid: number | undefined;
  let gid: number | undefined;
  if (userInfo().uid === 0) {
    uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(base, uid, gid);
    chownSync(sockDir, uid, gid);
  }
  try {
    execFileSync(join(PG_BIN, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
      uid,
      gid,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    rmSync(base, { recursive: true, force: true });
    throw new Error(`initdb failed in ${dataDir}: ${(e as { stderr?: Buffer }).stderr?.toString() ?? (e as Error).message}`);
  }
  const port = await freePort();
  const settings: Record<string, string | number> = {
    listen_addresses: '127.0.0.1',
    port,
    unix_socket_directories: sockDir,
    shared_preload_libraries: 'pg_stat_statements',
    'pg_stat_statements.max': 10000,
    'pg_stat_statements.track': 'all',
    max_connections: 300,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    ...o.settings,
  };
  const args = ['-D', dataDir];
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
  const logFile = o.logFile ?? join(base, 'postgres.log');
  writeFileSync(logFile, '');
  if (uid !== undefined) chownSync(logFile, uid, gid!);
  const proc: ManagedProcess = startProcess({ name: 'postgres', command: join(PG_BIN, 'postgres'), args, logFile, uid, gid });
  const connect = async (database = 'postgres'): Promise<Client> => {
    const c = new Client({ host: '127.0.0.1', port, user: 'postgres', database });
    await c.connect();
    return c;
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // SIGINT = PostgreSQL "fast" shutdown; the process-group SIGKILL follows after the grace period.
    try {
      process.kill(proc.pid, 'SIGINT');
    } catch {
      // already gone
    }
    await proc.stop(15_000);
    rmSync(base, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `PostgreSQL on 127.0.0.1:${port}`,
      async () => {
        const c = await connect();
        await c.end();
        return true;
      },
      { timeoutMs: 60_000, proc },
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { host: '127.0.0.1', port, user: 'postgres', dataDir, connect, stop };
}
