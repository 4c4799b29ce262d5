/**
 * The benchmark baseline: upstream Temporal server, the same version as our server's
 * (docker/temporal-server/go.mod; bench/upstream/go.mod pins it and {@link upstreamVersion} checks
 * they agree), with its own `postgres12` persistence plugin and schema, all four roles in one
 * process on free loopback ports. Its schema is applied with upstream's own `temporal-sql-tool`
 * (that is the baseline being measured, not our schema); visibility goes to the same OpenSearch
 * node as our server's, in its own index created by our visibility-index code.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { ManagedProcess, startProcess, tcpOpen, waitFor } from '../local/process';
import { pickServerPorts, singleClusterConfig } from '../local/server-config';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '..');
const MODULE_DIR = join(ROOT, 'bench', 'upstream');
/** The `go.temporal.io/server` version a go.mod requires, e.g. `v1.32.2`; undefined when absent. */
export function requiredTemporalVersion(goModPath: string): string | undefined {
  return /^\s*go\.temporal\.io\/server (v\S+)/m.exec(readFileSync(goModPath, 'utf8'))?.[1];
}

/**
 * The upstream version the baseline runs: bench/upstream/go.mod's, which must equal our server's
 * (docker/temporal-server/go.mod), so a ratio never compares two Temporal versions.
 * @throws Error naming both versions and the command that aligns them, when they differ.
 */
export function upstreamVersion(): string {
  const ours = requiredTemporalVersion(join(ROOT, 'docker', 'temporal-server', 'go.mod'));
  const baseline = requiredTemporalVersion(join(MODULE_DIR, 'go.mod'));
  if (!ours || ours !== baseline) {
    throw new Error(
      `bench/upstream/go.mod requires go.temporal.io/server ${baseline ?? '(none)'} but docker/temporal-server/go.mod ` +
        `requires ${ours ?? '(none)'}; run \`cd bench/upstream && GOTOOLCHAIN=auto go get go.temporal.io/server@${ours} && go mod tidy\``,
    );
  }
  return ours;
}

/** Builds upstream's server and temporal-sql-tool into .cache/bin/upstream-<version> (cached by Go; about 0.5 s when up to date). */
export async function buildUpstream(): Promise<{ server: string; sqlTool: string; schemaDir: string }> {
  const binDir = join(ROOT, '.cache', 'bin', `upstream-${upstreamVersion()}`);
  mkdirSync(binDir, { recursive: true });
  const server = join(binDir, 'temporal-server');
  const sqlTool = join(binDir, 'temporal-sql-tool');
  // GOTOOLCHAIN=auto: the module's go line may ask for a newer Go than the machine's (docs/upgrades.md).
  const opts = { cwd: MODULE_DIR, maxBuffer: 1 << 24, env: { ...process.env, GOTOOLCHAIN: 'auto' } };
  await run('go', ['build', '-o', server, 'go.temporal.io/server/cmd/server'], opts);
  await run('go', ['build', '-o', sqlTool, 'go.temporal.io/server/cmd/tools/sql'], opts);
  const { stdout } = await run('go', ['list', '-m', '-f', '{{.Dir}}', 'go.temporal.io/server'], opts);
  return { server, sqlTool, schemaDir: join(stdout.trim(), 'schema', 'postgresql', 'v12', 'temporal', 'versioned') };
}

/** Options of {@link startUpstreamTemporal}. */
export interface UpstreamTemporalOptions {
  /** PostgreSQL to use (superuser, trust auth on loopback). */
  readonly postgres: { readonly host: string; readonly port: number; readonly user: string };
  /** Database to create for the persistence store. */
  readonly database: string;
  /** OpenSearch visibility: node URL and an index that already exists with Temporal's template. */
  readonly openSearch: { readonly url: string; readonly index: string };
  /** Directory for the config, dynamic config and log. */
  readonly dir: string;
  /** @default 4 */
  readonly numHistoryShards?: number;
  /** Dynamic config YAML text. @default '' */
  readonly dynamicConfig?: string;
  /** Max open connections to PostgreSQL. @default 20 */
  readonly maxConns?: number;
  /** The database and schema already exist (a later round of the same run). @default false */
  readonly skipSchema?: boolean;
}

/** A running upstream server. */
export interface UpstreamTemporal {
  /** Frontend gRPC address, `127.0.0.1:<port>`. */
  readonly address: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * Creates the database and upstream's schema with temporal-sql-tool, writes a config file and
 * starts all four roles. Resolves when the frontend accepts connections.
 * @throws Error with the tool's output or the server's log tail on failure.
 */
export async function startUpstreamTemporal(o: UpstreamTemporalOptions): Promise<UpstreamTemporal> {
  const bin = await buildUpstream();
  const pg = o.postgres;
  const tool = async (...args: string[]) => {
    try {
      await run(bin.sqlTool, ['--plugin', 'postgres12', '--ep', pg.host, '--port', String(pg.port), '--user', pg.user, '--db', o.database, ...args]);
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string };
      throw new Error(`temporal-sql-tool ${args[0]} failed: ${err.stderr ?? ''}${err.stdout ?? ''}`);
    }
  };
  if (!o.skipSchema) {
    await tool('create-database');
    await tool('setup-schema', '-v', '0.0');
    await tool('update-schema', '-d', bin.schemaDir);
  }

  mkdirSync(o.dir, { recursive: true });
  const ports = await pickServerPorts();
  const dynamicConfigFile = join(o.dir, 'dynamicconfig.yaml');
  writeFileSync(dynamicConfigFile, o.dynamicConfig ?? '');
  const config = {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: o.numHistoryShards ?? 4,
      datastores: {
        default: {
          sql: {
            pluginName: 'postgres12',
            databaseName: o.database,
            connectAddr: `${pg.host}:${pg.port}`,
            connectProtocol: 'tcp',
            user: pg.user,
            password: '',
            maxConns: o.maxConns ?? 20,
            maxIdleConns: o.maxConns ?? 20,
            maxConnLifetime: '1h',
          },
        },
        visibility: {
          elasticsearch: {
            version: 'v7',
            url: { scheme: 'http', host: o.openSearch.url.replace(/^https?:\/\//, '') },
            indices: { visibility: o.openSearch.index },
            enableSniff: false,
            enableHealthcheck: false,
          },
        },
      },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    ...singleClusterConfig(ports, dynamicConfigFile),
  };
  const configFile = join(o.dir, 'config.yaml');
  writeFileSync(configFile, stringify(config));
  const proc = startProcess({
    name: 'upstream-temporal',
    command: bin.server,
    args: ['--config-file', configFile, '--allow-no-auth', 'start', '--service', 'frontend', '--service', 'history', '--service', 'matching', '--service', 'worker'],
    logFile: join(o.dir, 'server.log'),
  });
  try {
    await waitFor(`upstream Temporal frontend on 127.0.0.1:${ports.frontend}`, () => tcpOpen(ports.frontend), { timeoutMs: 120_000, proc });
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return { address: `127.0.0.1:${ports.frontend}`, process: proc, stop: () => proc.stop(20_000) };
}
