/**
 * Test helper for dsql-local, the local Aurora DSQL endpoint (see dsql-local/README.md).
 *
 * ```ts
 * const dsql = await startDsqlLocal();
 * const admin = await dsql.connect();                       // user admin, DbConnectAdmin token
 * await admin.query('CREATE ROLE app WITH LOGIN');
 * await admin.query(`AWS IAM GRANT app TO '${dsql.principal('temporal-server')}'`);
 * const app = await dsql.connect({ user: 'app', principal: 'temporal-server' });
 * await dsql.stop();
 * ```
 *
 * Every instance runs its own PostgreSQL in a temporary directory on random loopback ports, so
 * several test files (and engineers) can run at once.
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import { DsqlSigner } from '@aws-sdk/dsql-signer';
import { Client, ClientConfig, PoolConfig } from 'pg';

/** Repository root (this file is test/support/dsql-local.ts). */
const ROOT = path.resolve(__dirname, '..', '..');
/** Where `bash scripts/dsql-local.sh build` and this helper put the binary. */
export const DSQL_LOCAL_BINARY = path.join(ROOT, '.cache', 'bin', 'dsql-local');

/** Options for {@link startDsqlLocal}. Durations are in seconds or milliseconds as named. */
export interface DsqlLocalOptions {
  /** Host name of the endpoint (certificate SAN, required SNI, token host). @default 'localhost' */
  readonly hostname?: string;
  /** Region tokens must be signed for. @default 'us-east-1' */
  readonly region?: string;
  /** Connections are closed at this age, in seconds (0 = never). @default 3600 (DSQL) */
  readonly maxConnAgeSeconds?: number;
  /** New connections per second; beyond it 53400 (0 = unlimited). @default 100 (DSQL) */
  readonly connRate?: number;
  /** Burst of new connections. @default 1000 (DSQL) */
  readonly connBurst?: number;
  /** Open connections limit; beyond it 53300. @default 10000 */
  readonly maxConns?: number;
  /** Simulated duration of every async index build, in ms. @default 0 */
  readonly indexBuildDelayMs?: number;
  /** Rows changed per transaction; beyond it 54000 (0 = unlimited). @default 3000 (DSQL) */
  readonly txRowLimit?: number;
  /** Bytes written per transaction; beyond it 54000 (0 = unlimited). @default 10485760 (DSQL) */
  readonly txByteLimit?: number;
  /** Transaction age limit in seconds (0 = unlimited). @default 300 (DSQL) */
  readonly txMaxAgeSeconds?: number;
  /** After another session's DDL, every other session's next transaction fails once with OC001. @default true */
  readonly staleSchemaOc001?: boolean;
  /**
   * Concurrency semantics: 'dsql' (no statement waits for another session's transaction; of two
   * conflicting transactions one fails with 40001 OC000) or 'postgres' (row locks make the second
   * writer wait, for comparison). @default 'dsql'
   */
  readonly concurrency?: 'dsql' | 'postgres';
  /** Added latency profile (dsql-local README, "Latency model"). @default 'none' */
  readonly latencyProfile?: LatencyProfile;
  /** Extra command-line flags for the binary (see `dsql-local --help`). @default [] */
  readonly extraArgs?: string[];
}

/** A fake static AWS credential dsql-local accepts, and the IAM principal it stands for. */
export interface DsqlLocalCredential {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly principalArn: string;
  /** true when the principal may use DbConnectAdmin (connect as `admin`). */
  readonly admin: boolean;
}

/** Options for {@link DsqlLocal.connect}. */
export interface ConnectOptions {
  /** PostgreSQL role. @default 'admin' */
  readonly user?: string;
  /**
   * Principal that signs the token: an ARN from {@link DsqlLocal.credentials} or its role name
   * ('admin', 'temporal-server', 'other').
   * @default 'admin' for user admin, 'temporal-server' otherwise
   */
  readonly principal?: string;
  /** Use this password instead of a freshly signed token (for negative tests). */
  readonly password?: string;
  /** Database name. @default 'postgres' */
  readonly database?: string;
  /** TLS server name (SNI). @default the endpoint's hostname */
  readonly servername?: string;
  /** Token lifetime in seconds. @default 900 */
  readonly expiresIn?: number;
}

/** Status and fault state reported by GET /state. */
export interface DsqlLocalState {
  readonly connections: { id: number; user: string; principal: string; connectedAt: string; txStatus: string }[];
  readonly schemaVersion: number;
  readonly indexBuildDelayMs: number;
  readonly faults: Record<string, unknown>;
  /** Concurrency semantics in force (`--concurrency`). */
  readonly concurrency: 'dsql' | 'postgres';
  /** Latency figures in force. */
  readonly latency: LatencySettings;
}

/** The named latency profiles of dsql-local (`--latency-profile`; dsql-local/README.md, "Latency model"). */
export const LATENCY_PROFILES = ['none', 'dsql-single-region', 'dsql-multi-region'] as const;

/** A named latency profile of dsql-local. */
export type LatencyProfile = (typeof LATENCY_PROFILES)[number];

/** Latency figures in force (GET/POST /config/latency). */
export interface LatencySettings {
  /** Added per client round trip, ms. */
  readonly roundTripMs: number;
  /** Added per commit of a transaction that may have written, ms. */
  readonly commitMs: number;
  /** Each delay is drawn from base*(1-jitter)..base*(1+jitter); 0..1. */
  readonly jitter: number;
}

/** Counters of one database role (GET /stats); they only grow. */
export interface RoleStats {
  /** Client round trips: bursts of sync points sent after a ReadyForQuery. */
  readonly roundTrips: number;
  /** Query and Sync messages. */
  readonly syncs: number;
  readonly statements: number;
  /** Transactions ended (explicit blocks and autocommit statements). */
  readonly transactions: number;
  readonly commits: number;
  readonly rollbacks: number;
  /** 40001 errors sent to clients. */
  readonly conflicts: number;
  /** Transactions that lost a row they held to another transaction's write or lock. */
  readonly occWounds: number;
  /** 54000 row-limit refusals sent to clients. */
  readonly rowLimitRefusals: number;
}

/** Optimistic-concurrency code to inject. */
export type OccCode = 'OC000' | 'OC001';

/** A running dsql-local endpoint. */
export interface DsqlLocal {
  /** Loopback address to connect to. */
  readonly host: string;
  /** TCP port of the endpoint. */
  readonly port: number;
  /** Endpoint host name (SNI and token host). */
  readonly hostname: string;
  readonly region: string;
  /** Absolute path of the CA certificate (PEM) that signed the endpoint's certificate. */
  readonly caFile: string;
  /** Base URL of the fault-injection API. */
  readonly controlUrl: string;
  readonly credentials: readonly DsqlLocalCredential[];
  /** Unix-socket directory of the PostgreSQL behind the proxy (direct access, trust auth; debugging and benchmarks). */
  readonly pgSocketDir?: string;
  /** Port naming that socket. */
  readonly pgPort?: number;
  /** PostgreSQL superuser for direct access. */
  readonly pgUser?: string;
  /** ARN of a test principal by role name ('admin', 'temporal-server', 'other'). Throws if unknown. */
  principal(name: string): string;
  /** Signs a DSQL IAM token (DbConnectAdmin for admin, DbConnect otherwise). */
  token(options?: ConnectOptions): Promise<string>;
  /** node-postgres client configuration (TLS with the CA and SNI, fresh token as password). */
  clientConfig(options?: ConnectOptions): Promise<ClientConfig>;
  /**
   * node-postgres pool configuration: like {@link clientConfig} but signs a fresh token for every
   * new connection and retires connections after 50 minutes (DSQL closes them at 60).
   */
  poolConfig(options?: ConnectOptions): PoolConfig;
  /** Opens a connected pg.Client. Rejects with the server's error (e.g. code 28P01). */
  connect(options?: ConnectOptions): Promise<Client>;
  /** Makes statements matching `pattern` (Go regexp) fail with 40001 and the OC code; `times` 0 = until cleared. */
  failStatements(pattern: string, code?: OccCode, times?: number): Promise<void>;
  /** Makes this fraction (0..1) of COMMITs fail with 40001 and the OC code. */
  failCommits(fraction: number, code?: OccCode): Promise<void>;
  /** Closes open connections (all, or one user's); graceful sends a FATAL first. Returns how many. */
  dropConnections(options?: { user?: string; graceful?: boolean }): Promise<number>;
  /** Refuses new connections for `seconds` ('reset' closes the socket, 'error' sends FATAL 08006, 'rate' FATAL 53400). */
  refuseConnections(seconds: number, mode?: 'reset' | 'error' | 'rate'): Promise<void>;
  /** Makes async builds of indexes whose "schema.name" matches `pattern` fail with `message`. */
  failIndexBuilds(pattern: string, message?: string): Promise<void>;
  /** Sets the simulated duration of async index builds. */
  setIndexBuildDelay(ms: number): Promise<void>;
  /** Removes every injected fault. */
  clearFaults(): Promise<void>;
  /** Current connections and faults. */
  state(): Promise<DsqlLocalState>;
  /** Counters per database role (GET /stats). */
  stats(): Promise<Record<string, RoleStats>>;
  /** The same counters in Prometheus text format (GET /metrics). */
  metrics(): Promise<string>;
  /** Changes the latency model at run time (fields left out keep their value). */
  setLatency(settings: Partial<LatencySettings>): Promise<LatencySettings>;
  /** The last 64 KiB of dsql-local's log (stderr): refused statements with their SQL, errors. */
  logs(): string;
  /** Stops the endpoint and its PostgreSQL; resolves when the process has exited. */
  stop(): Promise<void>;
}

/**
 * Builds .cache/bin/dsql-local with `go build` (incremental: fast when nothing changed). A file
 * lock keeps parallel jest workers from building at once. Without `go` on the PATH an existing
 * binary is used as is.
 * @returns the binary's absolute path
 * @throws Error with go's output when the build fails
 */
export function buildDsqlLocal(): string {
  try {
    execFileSync('flock', [path.join(ROOT, '.cache', 'dsql-local-build.lock'), 'go', 'build', '-o', DSQL_LOCAL_BINARY, '.'], {
      cwd: path.join(ROOT, 'dsql-local'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer; message: string };
    // Without a Go toolchain (or flock), fall back to a binary built earlier by setup.
    if (err.code === 'ENOENT' && fs.existsSync(DSQL_LOCAL_BINARY)) return DSQL_LOCAL_BINARY;
    throw new Error(`building dsql-local failed: ${err.stderr?.toString() ?? err.message}`);
  }
  return DSQL_LOCAL_BINARY;
}

function flags(o: DsqlLocalOptions): string[] {
  const a: string[] = [];
  const num = (name: string, v: number | undefined, unit = '') => {
    if (v === undefined) return;
    if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a number >= 0, got ${v}`);
    a.push(`--${name}=${v}${unit}`);
  };
  if (o.hostname !== undefined) a.push(`--hostname=${o.hostname}`);
  if (o.region !== undefined) a.push(`--region=${o.region}`);
  num('max-conn-age', o.maxConnAgeSeconds, 's');
  num('conn-rate', o.connRate);
  num('conn-burst', o.connBurst);
  num('max-conns', o.maxConns);
  num('index-build-delay', o.indexBuildDelayMs, 'ms');
  num('tx-row-limit', o.txRowLimit);
  num('tx-byte-limit', o.txByteLimit);
  num('tx-max-age', o.txMaxAgeSeconds, 's');
  if (o.staleSchemaOc001 !== undefined) a.push(`--stale-schema-oc001=${o.staleSchemaOc001}`);
  if (o.concurrency !== undefined) a.push(`--concurrency=${o.concurrency}`);
  if (o.latencyProfile !== undefined) a.push(`--latency-profile=${o.latencyProfile}`);
  return [...a, ...(o.extraArgs ?? [])];
}

/**
 * Starts dsql-local (building it first if needed) with its own PostgreSQL, and resolves once it
 * accepts connections.
 * @throws Error with the process's stderr when it fails to start within 90 s
 */
export async function startDsqlLocal(options: DsqlLocalOptions = {}): Promise<DsqlLocal> {
  const bin = buildDsqlLocal();
  const child = spawn(bin, ['--exit-with-stdin', ...flags(options)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const log = { text: '' };
  child.stderr!.on('data', (d: Buffer) => {
    log.text = (log.text + d.toString()).slice(-65536);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<ReadyLine>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dsql-local did not start within 90 s:\n${log.text}`)), 90_000);
    const rl = readline.createInterface({ input: child.stdout! });
    rl.once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as ReadyLine);
      } catch {
        reject(new Error(`dsql-local printed an unexpected line: ${line}\n${log.text}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dsql-local exited with code ${code} before it was ready:\n${log.text}`));
    });
  });
  return new Endpoint(ready, child, exited, log);
}

interface ReadyLine {
  host: string;
  port: number;
  hostname: string;
  region: string;
  caFile: string;
  controlUrl: string;
  credentials: DsqlLocalCredential[];
  pgSocketDir?: string;
  pgPort?: number;
  pgUser?: string;
}

class Endpoint implements DsqlLocal {
  readonly host: string;
  readonly port: number;
  readonly hostname: string;
  readonly region: string;
  readonly caFile: string;
  readonly controlUrl: string;
  readonly credentials: readonly DsqlLocalCredential[];
  readonly pgSocketDir?: string;
  readonly pgPort?: number;
  readonly pgUser?: string;
  private readonly ca: string;

  constructor(
    r: ReadyLine,
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
    private readonly log: { text: string },
  ) {
    this.host = r.host;
    this.port = r.port;
    this.hostname = r.hostname;
    this.region = r.region;
    this.caFile = r.caFile;
    this.controlUrl = r.controlUrl;
    this.credentials = r.credentials;
    this.pgSocketDir = r.pgSocketDir;
    this.pgPort = r.pgPort;
    this.pgUser = r.pgUser;
    this.ca = fs.readFileSync(r.caFile, 'utf8');
  }

  principal(name: string): string {
    const c = this.credentials.find((x) => x.principalArn === name || x.principalArn.endsWith(`:role/${name}`));
    if (!c) {
      throw new Error(`unknown principal ${JSON.stringify(name)}; known: ${this.credentials.map((x) => x.principalArn).join(', ')}`);
    }
    return c.principalArn;
  }

  async token(options: ConnectOptions = {}): Promise<string> {
    const user = options.user ?? 'admin';
    const arn = this.principal(options.principal ?? (user === 'admin' ? 'admin' : 'temporal-server'));
    const cred = this.credentials.find((c) => c.principalArn === arn)!;
    const signer = new DsqlSigner({
      hostname: this.hostname,
      region: this.region,
      credentials: { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey },
      expiresIn: options.expiresIn ?? 900,
    });
    return user === 'admin' ? signer.getDbConnectAdminAuthToken() : signer.getDbConnectAuthToken();
  }

  async clientConfig(options: ConnectOptions = {}): Promise<ClientConfig> {
    return {
      host: this.host,
      port: this.port,
      user: options.user ?? 'admin',
      database: options.database ?? 'postgres',
      password: options.password ?? (await this.token(options)),
      ssl: { ca: this.ca, servername: options.servername ?? this.hostname, rejectUnauthorized: true },
      connectionTimeoutMillis: 30_000,
    };
  }

  poolConfig(options: ConnectOptions = {}): PoolConfig {
    return {
      host: this.host,
      port: this.port,
      user: options.user ?? 'admin',
      database: options.database ?? 'postgres',
      password: options.password ?? (() => this.token(options)),
      ssl: { ca: this.ca, servername: options.servername ?? this.hostname, rejectUnauthorized: true },
      connectionTimeoutMillis: 30_000,
      maxLifetimeSeconds: 50 * 60,
    };
  }

  async connect(options: ConnectOptions = {}): Promise<Client> {
    const client = new Client(await this.clientConfig(options));
    // A dropped connection must not crash the test process; the next query reports it.
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  private async control(method: string, route: string, body?: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(this.controlUrl + route, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`dsql-local ${method} ${route}: ${json.error as string}`);
    return json;
  }

  async failStatements(pattern: string, code: OccCode = 'OC000', times = 0): Promise<void> {
    await this.control('POST', '/faults/statements', { pattern, code, times });
  }

  async failCommits(fraction: number, code: OccCode = 'OC000'): Promise<void> {
    await this.control('POST', '/faults/commits', { fraction, code });
  }

  async dropConnections(options: { user?: string; graceful?: boolean } = {}): Promise<number> {
    return (await this.control('POST', '/faults/drop-connections', options)).dropped as number;
  }

  async refuseConnections(seconds: number, mode: 'reset' | 'error' | 'rate' = 'reset'): Promise<void> {
    await this.control('POST', '/faults/refuse-connections', { seconds, mode });
  }

  async failIndexBuilds(pattern: string, message?: string): Promise<void> {
    await this.control('POST', '/faults/index-builds', { pattern, message });
  }

  async setIndexBuildDelay(ms: number): Promise<void> {
    await this.control('POST', '/config/index-build-delay', { ms });
  }

  async clearFaults(): Promise<void> {
    await this.control('DELETE', '/faults');
  }

  async state(): Promise<DsqlLocalState> {
    return (await this.control('GET', '/state')) as unknown as DsqlLocalState;
  }

  async stats(): Promise<Record<string, RoleStats>> {
    return (await this.control('GET', '/stats')).roles as Record<string, RoleStats>;
  }

  async metrics(): Promise<string> {
    const res = await fetch(this.controlUrl + '/metrics');
    if (!res.ok) throw new Error(`dsql-local GET /metrics: HTTP ${res.status}`);
    return res.text();
  }

  async setLatency(settings: Partial<LatencySettings>): Promise<LatencySettings> {
    return (await this.control('POST', '/config/latency', settings)) as unknown as LatencySettings;
  }

  logs(): string {
    return this.log.text;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await this.exited;
    clearTimeout(timer);
  }
}
