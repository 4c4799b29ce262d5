/**
 * The local stack: the whole platform on one machine, no Docker and no AWS.
 *
 *   npm run local          # start, print the addresses, stay up until Ctrl-C (or `npm run local:stop`)
 *   npm run local:stop     # stop a running stack from another terminal
 *   npm run local -- --help
 *
 * What runs (each on free loopback ports):
 *   1. dsql-local with its own PostgreSQL (test/support/dsql-local.ts);
 *   2. an OpenSearch 2.19 node (test/support/opensearch-local.ts);
 *   3. the DSQL schema, applied by the schema custom resource's code (lambda/dsql/schema
 *      `migrate`), with the non-admin server role mapped to dsql-local's `temporal-server` principal;
 *   4. the visibility template and index, applied by the index custom resource's handler
 *      (lambda/visibility/index);
 *   5. our Temporal DSQL server, all four roles in one process (docker/temporal-server), with a
 *      config file written here (the container template's settings on free ports, plus the token
 *      lifetime) and the image's start-up (dynamic config through TEMPORAL_DYNAMIC_CONFIG);
 *   6. the Temporal UI (local/ui-server);
 *   7. the `default` namespace.
 *
 * Programmatic use (the e2e suite and the benchmarks): `startLocalStack(options)` returns the
 * addresses and a `stop()`. Stopping (or this process exiting, or Ctrl-C) stops every child.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { DsqlLocal, DsqlLocalOptions, LATENCY_PROFILES, LatencyProfile, startDsqlLocal } from '../test/support/dsql-local';
import { LocalOpenSearch, startOpenSearchLocal } from '../test/support/opensearch-local';
import { freePorts, isAlive, killGroup, ManagedProcess, startProcess, tcpOpen, waitFor } from './process';
import { archivalServerConfig, LocalArchivalOptions } from './archival';
import { ServerFleet, ServerTopology, startServerFleet } from './roles';
import { ADMIN_PERMISSIONS, applyServerSecurity, LocalAuth, ServerSecurityInput, startLocalAuth, tlsClientOptions } from './auth';
import type { OidcProviderOptions } from './oidc';
import { FRONTEND_SERVER_NAME } from './certs';

const run = promisify(execFile);

/** Repository root. */
export const ROOT = resolve(__dirname, '..');
/** Default directory of the CLI's state file and logs. */
export const DEFAULT_STACK_DIR = join(ROOT, '.local', 'stack');
/** Where the binaries are built. */
export const BIN_DIR = join(ROOT, '.cache', 'bin');
/** Versioned DSQL schema applied by the schema runner (the same directory the CDK construct bundles). */
export const DSQL_SCHEMA_DIR = join(ROOT, 'schema', 'dsql', 'temporal', 'versioned');
/** Database role the servers log in as (never admin, as on AWS). */
export const SERVER_DB_ROLE = 'temporal_server';
/** Visibility index of the local stack. */
export const LOCAL_VISIBILITY_INDEX = 'temporal_visibility_v1_local';

/** Options of {@link startLocalStack}. */
export interface LocalStackOptions {
  /** Directory for logs and generated files; created if missing. @default - a fresh temporary directory under .local/ */
  readonly dir?: string;
  /** dsql-local settings (connection age, token rules, ...). @default - DSQL's real limits */
  readonly dsql?: DsqlLocalOptions;
  /**
   * Lifetime of the IAM tokens the server signs, in seconds (our server's `DSQL_TOKEN_EXPIRY`):
   * shorter than a run proves that new connections get fresh tokens. @default - the server's default
   */
  readonly tokenLifetimeSeconds?: number;
  /** `persistence.numHistoryShards` of the local cluster. @default 4 */
  readonly numHistoryShards?: number;
  /** Frontend gRPC port. @default - a free port */
  readonly temporalPort?: number;
  /** UI HTTP port. @default - a free port */
  readonly uiPort?: number;
  /** Start the UI server. @default true */
  readonly ui?: boolean;
  /** Extra dynamic config (YAML text) appended to the server's. @default '' */
  readonly dynamicConfig?: string;
  /** Server log level. @default 'warn' */
  readonly logLevel?: string;
  /** Progress messages. @default - silent */
  readonly log?: (message: string) => void;
  /**
   * History and visibility archival with upstream's s3store archiver (local/archival.ts), e.g. to a
   * moto server standing in for S3; the bucket must exist first. @default - archival off
   */
  readonly archival?: LocalArchivalOptions;
  /**
   * Authenticated mode (local/auth.ts): a local OpenID provider issues JWTs, the frontend runs
   * Temporal's default authorizer and the internal-frontend, TLS between roles (mutual) and to the
   * frontend with certificates made at start. `false`: plaintext and no authorizer. @default true
   */
  readonly auth?: boolean;
  /** Extra OpenID provider options in authenticated mode: UI clients, users (local/oidc.ts). @default - none */
  readonly oidc?: Partial<Omit<OidcProviderOptions, 'dir'>>;
  /**
   * Server processes: all four roles in one process, or one process per role as on ECS
   * (local/roles.ts). @default 'combined'
   */
  readonly topology?: ServerTopology;
  /** History processes sharing the shards, with `topology: 'per-role'` (1-8). @default 1 */
  readonly historyProcesses?: number;
}

/**
 * How an SDK client reaches the local stack's frontend: the address and, when the stack runs with
 * TLS or frontend authorization, the TLS settings and the request metadata (`authorization:
 * Bearer <token>`). Assignable to both `Connection.connect` (@temporalio/client) and
 * `NativeConnection.connect` (@temporalio/worker) options.
 */
export interface LocalClientOptions {
  /** Frontend gRPC address, `127.0.0.1:<port>`. */
  readonly address: string;
  /** TLS settings (server CA, optional client certificate pair); absent when the frontend is plain gRPC. */
  readonly tls?: {
    readonly serverNameOverride?: string;
    readonly serverRootCACertificate?: Buffer;
    readonly clientCertPair?: { readonly crt: Buffer; readonly key: Buffer };
  };
  /** gRPC metadata sent with every call (the bearer token when authorization is on). */
  readonly metadata?: Record<string, string>;
}

/** A running local stack. */
export interface LocalStack {
  /** Frontend gRPC address for SDKs and the CLI, `127.0.0.1:<port>`. */
  readonly temporalAddress: string;
  /**
   * Connection options of a client with full access to the `default` namespace and the
   * operator APIs (what every test and sample should pass to `Connection.connect` /
   * `NativeConnection.connect`).
   */
  readonly clientOptions: LocalClientOptions;
  /** Namespace created at start-up. */
  readonly namespace: 'default';
  /** Our server's Prometheus endpoint, `http://127.0.0.1:<port>/metrics` (dsql_* counters of the plugin). */
  readonly metricsUrl: string;
  /** Temporal UI, `http://127.0.0.1:<port>` (undefined with `ui: false`). */
  readonly uiUrl?: string;
  /** OpenSearch node URL. */
  readonly openSearchUrl: string;
  /** Visibility index name. */
  readonly visibilityIndex: string;
  /** dsql-local endpoint (connect as admin with `dsql.connect()`; fault injection). */
  readonly dsql: DsqlLocal;
  /** Directory holding logs and generated files. */
  readonly dir: string;
  /** Milliseconds spent in each start-up step, and `total`. */
  readonly timings: Readonly<Record<string, number>>;
  /** Our processes (server, UI) as started, for `local:stop` and diagnostics. */
  readonly processes: readonly ManagedProcess[];
  /** The server processes: kill -9 and restart one by role (fault tests), per-process metrics. */
  readonly servers: ServerFleet;
  /** The OpenSearch node: `pause()` / `resume()` stop and restart it on the same port and data. */
  readonly openSearch: LocalOpenSearch;
  /**
   * Authenticated mode's parts (undefined with `auth: false`): `auth.token(['default:read'])` mints a
   * token, `auth.clientOptions(address, token)` builds client options trusting the stack's CA.
   */
  readonly auth?: LocalAuth;
  /** Stops everything, in reverse order. Idempotent. */
  stop(): Promise<void>;
}

/** Runs `go build` for a module directory (incremental; a file lock serialises parallel builds). */
export async function goBuild(moduleDir: string, pkg: string, out: string): Promise<string> {
  mkdirSync(BIN_DIR, { recursive: true });
  try {
    await run('flock', [join(BIN_DIR, '.go-build.lock'), 'go', 'build', '-o', out, pkg], { cwd: moduleDir, maxBuffer: 1 << 24 });
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

/**
 * Applies the DSQL schema and the server role with the schema custom resource's own code
 * (lambda/dsql/schema `migrate`: the runner, then `ensureServerRole`), as dsql-local's admin
 * principal.
 * @throws MigrationError from the runner, or Error when the migration does not finish in 10 min
 */
export async function applySchema(dsql: DsqlLocal, log?: (m: string) => void): Promise<void> {
  const { migrate } = await import('../lambda/dsql/schema/migrate');
  const { loadVersionedSchema } = await import('../lambda/dsql/schema/schema-dir');
  if (!existsSync(DSQL_SCHEMA_DIR)) throw new Error(`DSQL schema directory ${DSQL_SCHEMA_DIR} does not exist`);
  const admin = dsql.credentials.find((c) => c.admin);
  if (!admin) throw new Error('dsql-local reported no admin credential');
  const result = await migrate({
    connection: {
      hostname: dsql.hostname,
      host: dsql.host,
      port: dsql.port,
      region: dsql.region,
      caFile: dsql.caFile,
      credentials: { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey },
      applicationName: 'local-stack',
    },
    schema: loadVersionedSchema(DSQL_SCHEMA_DIR),
    deadline: Date.now() + 10 * 60_000,
    serverRole: { roleName: SERVER_DB_ROLE, iamArns: [dsql.principal('temporal-server')] },
    log,
  });
  if (!result.complete) throw new Error(`schema migration did not finish within 10 minutes (at ${result.apply.currentVersion})`);
}

/**
 * Creates the visibility template and index with the index custom resource's own handler
 * (lambda/visibility/index), invoked with a Create event as CloudFormation would.
 * @throws the handler's error (short, operator-readable)
 */
export async function applyVisibilityIndex(openSearchUrl: string, indexName: string): Promise<void> {
  const { handler } = await import('../lambda/visibility/index/index');
  const { PROPERTY } = await import('../lambda/visibility/index/properties');
  const { loadVisibilityTemplate } = await import('../lib/visibility/visibility-index');
  const t = loadVisibilityTemplate();
  const props: Record<string, string> = {
    ServiceToken: 'local-stack',
    [PROPERTY.endpoint]: openSearchUrl,
    [PROPERTY.region]: 'us-east-1',
    [PROPERTY.signing]: 'false', // local node: no security plugin
    [PROPERTY.indexName]: indexName,
    [PROPERTY.templateName]: t.name,
    [PROPERTY.templateVersion]: t.version,
    [PROPERTY.templateBody]: t.body,
    [PROPERTY.contentHash]: t.contentHash,
    [PROPERTY.disableAutoCreateIndex]: 'true',
    [PROPERTY.destroyIndexOnDelete]: 'false',
  };
  const quiet = console.log;
  console.log = () => undefined; // the handler logs one JSON line per step for CloudWatch
  try {
    await handler({
      RequestType: 'Create',
      ServiceToken: 'local-stack',
      ResponseURL: 'http://localhost/unused',
      StackId: 'arn:aws:cloudformation:us-east-1:000000000000:stack/local/00000000-0000-0000-0000-000000000000',
      RequestId: 'local-stack',
      LogicalResourceId: 'VisibilityIndex',
      ResourceType: 'Custom::TemporalVisibilityIndex',
      ResourceProperties: props as never,
    });
  } finally {
    console.log = quiet;
  }
}

/**
 * Registers `namespace` (retention 1 day) unless it exists, and waits until the frontend serves it.
 * @throws Error when the frontend does not accept it within `timeoutMs`
 */
export async function ensureNamespace(
  target: string | LocalClientOptions,
  namespace: string,
  timeoutMs = 60_000,
): Promise<void> {
  const options: LocalClientOptions = typeof target === 'string' ? { address: target } : target;
  const address = options.address;
  const connection = await Connection.connect(options);
  try {
    try {
      await connection.workflowService.registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: msToTs('1 day'),
        description: 'Created by the local stack',
      });
    } catch (e) {
      // 6 = ALREADY_EXISTS
      if ((e as { code?: number }).code !== 6) throw e;
    }
    await waitFor(
      `namespace ${namespace} on ${address}`,
      async () => {
        await connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1 });
        return true;
      },
      { timeoutMs, intervalMs: 500 },
    );
  } finally {
    await connection.close();
  }
}

/** The ports our all-in-one server process listens on. */
export interface ServerPorts {
  readonly frontend: number;
  readonly history: number;
  readonly matching: number;
  readonly worker: number;
  readonly frontendMembership: number;
  readonly historyMembership: number;
  readonly matchingMembership: number;
  readonly workerMembership: number;
  readonly frontendHttp: number;
  readonly metrics: number;
}

/**
 * The parts of a Temporal server config that describe one local, single-cluster deployment of all
 * four roles on loopback: per-role gRPC/membership ports (frontend also HTTP), the cluster metadata
 * of a cluster named `active`, no archival, and the dynamic config file. Shared by our server's
 * config and the benchmark's upstream server, so both run the same topology.
 * @returns the `services`, `clusterMetadata`, `dcRedirectionPolicy`, `archival`, `namespaceDefaults`
 *   and `dynamicConfigClient` keys of a server config
 */
export function singleClusterConfig(p: ServerPorts, dynamicConfigFile: string): Record<string, unknown> {
  const rpc = (grpcPort: number, membershipPort: number, httpPort?: number) => ({
    rpc: { grpcPort, membershipPort, bindOnIP: '127.0.0.1', ...(httpPort ? { httpPort } : {}) },
  });
  const disabled = { history: { state: 'disabled' }, visibility: { state: 'disabled' } };
  return {
    services: {
      frontend: rpc(p.frontend, p.frontendMembership, p.frontendHttp),
      history: rpc(p.history, p.historyMembership),
      matching: rpc(p.matching, p.matchingMembership),
      worker: rpc(p.worker, p.workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: 'frontend',
          rpcAddress: `127.0.0.1:${p.frontend}`,
          httpAddress: `127.0.0.1:${p.frontendHttp}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: disabled,
    namespaceDefaults: { archival: disabled },
    dynamicConfigClient: { filepath: dynamicConfigFile, pollInterval: '10s' },
  };
}

/** Picks free ports for the server; `frontend` may be fixed by the caller. */
export async function pickServerPorts(frontend?: number): Promise<ServerPorts> {
  const p = await freePorts(10);
  return {
    frontend: frontend ?? p[0],
    history: p[1],
    matching: p[2],
    worker: p[3],
    frontendMembership: p[4],
    historyMembership: p[5],
    matchingMembership: p[6],
    workerMembership: p[7],
    frontendHttp: p[8],
    metrics: p[9],
  };
}

/** Options of {@link writeServerConfig}. */
export interface ServerConfigInput {
  /** Where the config file and the dynamic config file are written. */
  readonly dir: string;
  readonly ports: ServerPorts;
  /**
   * Persistence: dsql-local (IAM tokens, TLS), an Aurora DSQL endpoint as database role `user`
   * (local/real-cluster.ts) or a plain PostgreSQL (password, no TLS; benchmarks only).
   */
  readonly persistence:
    | { readonly kind: 'dsql-local'; readonly dsql: DsqlLocal; readonly tokenLifetimeSeconds?: number }
    | { readonly kind: 'dsql'; readonly hostname: string; readonly port: number; readonly region: string; readonly caFile?: string; readonly user: string }
    | { readonly kind: 'postgres'; readonly host: string; readonly port: number; readonly user: string; readonly database: string };
  readonly openSearchUrl: string;
  readonly visibilityIndex: string;
  /** @default 4 */
  readonly numHistoryShards?: number;
  /** Dynamic config YAML merged over docker/temporal-server/config/dynamicconfig/default.yaml. @default '' */
  readonly dynamicConfig?: string;
  /** @default 'warn' */
  readonly logLevel?: string;
  /** Max open connections of the process. @default 20 */
  readonly maxConns?: number;
  /**
   * The dsql plugin's pipelined transactions (connectAttributes `pipeline`; docs/temporal-server.md,
   * "Pipelined transactions"). @default true
   */
  readonly pipeline?: boolean;
  /** Archival to S3 (local/archival.ts). @default - off */
  readonly archival?: LocalArchivalOptions;
  /**
   * Authorization, TLS and internal-frontend (local/auth.ts). @default - none: plaintext, no
   * authorizer (the env then carries TEMPORAL_ALLOW_PLAINTEXT and TEMPORAL_ALLOW_NO_AUTH)
   */
  readonly security?: ServerSecurityInput;
}

/**
 * Writes our server's config for an all-in-one local process: the `dsql` persistence plugin and
 * the OpenSearch visibility store (the settings of docker/temporal-server/config/config_template.yaml),
 * on the given loopback ports, Prometheus metrics on `ports.metrics`; unlike the image's
 * env-driven template it can also set the IAM token lifetime (`connectAttributes.tokenLifetime`).
 * The dynamic config is the image's default (docker/temporal-server/config/dynamicconfig/default.yaml)
 * with `dynamicConfig` merged over it, handed to the server's start-up in `TEMPORAL_DYNAMIC_CONFIG`
 * (validated and written to `TEMPORAL_DYNAMIC_CONFIG_FILE`, as in the container).
 * @returns the config file path and the environment the server needs with it
 */
export function writeServerConfig(o: ServerConfigInput): { configFile: string; env: NodeJS.ProcessEnv } {
  const p = o.ports;
  mkdirSync(o.dir, { recursive: true });
  const dynamic = {
    ...(parseYaml(readFileSync(join(ROOT, 'docker', 'temporal-server', 'config', 'dynamicconfig', 'default.yaml'), 'utf8')) ?? {}),
    ...(parseYaml(o.dynamicConfig ?? '') ?? {}),
  };
  const dynamicConfigFile = join(o.dir, 'dynamicconfig.yaml');
  const dynamicYaml = stringifyYaml(dynamic);
  writeFileSync(dynamicConfigFile, dynamicYaml);
  let sql: Record<string, unknown>;
  if (o.persistence.kind === 'dsql-local' || o.persistence.kind === 'dsql') {
    const pers = o.persistence;
    const d = pers.kind === 'dsql' ? pers
      : { hostname: pers.dsql.hostname, port: pers.dsql.port, region: pers.dsql.region, caFile: pers.dsql.caFile, user: SERVER_DB_ROLE };
    sql = {
      pluginName: 'dsql',
      databaseName: 'postgres',
      // The host is the name tokens are signed for and the TLS SNI; dsql-local listens on loopback.
      connectAddr: `${d.hostname}:${d.port}`,
      connectProtocol: 'tcp',
      user: d.user,
      maxConns: o.maxConns ?? 20,
      maxIdleConns: o.maxConns ?? 20,
      tls: { enabled: true, caFile: d.caFile, serverName: d.hostname },
      connectAttributes: {
        region: d.region,
        ...(pers.kind === 'dsql-local' && pers.tokenLifetimeSeconds ? { tokenLifetime: `${pers.tokenLifetimeSeconds}s` } : {}),
        ...(o.pipeline === false ? { pipeline: 'off' } : {}),
      },
    };
  } else {
    const pg = o.persistence;
    sql = {
      pluginName: 'dsql',
      databaseName: pg.database,
      connectAddr: `${pg.host}:${pg.port}`,
      connectProtocol: 'tcp',
      user: pg.user,
      password: 'trust', // the benchmark PostgreSQL trusts loopback; the plugin needs a password to allow plain TCP
      maxConns: o.maxConns ?? 20,
      maxIdleConns: o.maxConns ?? 20,
      connectAttributes: { sslmode: 'disable', ...(o.pipeline === false ? { pipeline: 'off' } : {}) },
    };
  }
  const config = {
    log: { stdout: true, level: o.logLevel ?? 'warn' },
    persistence: {
      defaultStore: 'dsql',
      visibilityStore: 'opensearch',
      numHistoryShards: o.numHistoryShards ?? 4,
      datastores: {
        dsql: { sql },
        opensearch: {
          elasticsearch: {
            version: 'v7',
            url: { scheme: 'http', host: o.openSearchUrl.replace(/^https?:\/\//, '') },
            indices: { visibility: o.visibilityIndex },
            enableSniff: false,
            enableHealthcheck: false,
          },
        },
      },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' },
      metrics: { prometheus: { framework: 'tally', timerType: 'histogram', listenAddress: `127.0.0.1:${p.metrics}` } },
    },
    ...singleClusterConfig(p, dynamicConfigFile),
    ...(o.archival ? archivalServerConfig(o.archival) : {}),
  };
  const env: NodeJS.ProcessEnv = {
    TEMPORAL_DYNAMIC_CONFIG: dynamicYaml,
    TEMPORAL_DYNAMIC_CONFIG_FILE: dynamicConfigFile,
    TEMPORAL_BROADCAST_ADDRESS: '127.0.0.1',
    // Without `security` this config has no TLS and no authorizer: the server refuses that unless told (docs/server-container.md).
    TEMPORAL_ALLOW_PLAINTEXT: 'true',
    TEMPORAL_ALLOW_NO_AUTH: 'true',
  };
  if (o.security) applyServerSecurity(config, env, o.security);
  const file = join(o.dir, 'config.yaml');
  writeFileSync(file, stringifyYaml(config));
  return { configFile: file, env };
}

/** A running server process. */
export interface ServerHandle {
  readonly address: string;
  readonly metricsUrl: string;
  readonly process: ManagedProcess;
}

/**
 * Starts our server (all four roles) with `configFile` and resolves when the frontend's port
 * accepts connections and `GetSystemInfo` succeeds.
 * @param env extra environment (AWS credentials for token signing)
 * @throws Error with the server's log tail when it exits or is not up within `timeoutMs`
 */
export async function startServer(
  binary: string,
  configFile: string,
  ports: ServerPorts,
  logFile: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = 180_000,
): Promise<ServerHandle> {
  const proc = startProcess({
    name: 'temporal-dsql-server',
    command: binary,
    args: ['--config-file', configFile, 'start'],
    env: { ...process.env, ...env },
    logFile,
  });
  const address = `127.0.0.1:${ports.frontend}`;
  try {
    await waitFor(`Temporal frontend on ${address}`, () => tcpOpen(ports.frontend), { timeoutMs, proc });
    await waitFor(
      `Temporal frontend on ${address} (GetSystemInfo)`,
      async () => {
        // GetSystemInfo needs no token; with TLS on (TEMPORAL_TLS_DIR), trust the stack's CA.
        const tls = env.TEMPORAL_TLS_DIR ? tlsClientOptions(address, env.TEMPORAL_TLS_DIR).tls : undefined;
        const c = await Connection.connect({ address, connectTimeout: 5000, tls });
        try {
          await c.workflowService.getSystemInfo({});
          return true;
        } finally {
          await c.close();
        }
      },
      { timeoutMs, proc, intervalMs: 500 },
    );
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return { address, metricsUrl: `http://127.0.0.1:${ports.metrics}/metrics`, process: proc };
}

/** Sums the Prometheus counter samples named `name` (any labels) from a /metrics endpoint. */
export async function readCounter(metricsUrl: string, name: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([0-9.eE+-]+)$/.exec(line.trim());
    if (m && m[1] === name) sum += Number(m[3]);
  }
  return sum;
}

/** Times an async step into `timings[name]`. */
async function timed<T>(timings: Record<string, number>, name: string, fn: () => Promise<T>): Promise<T> {
  const t = Date.now();
  try {
    return await fn();
  } finally {
    timings[name] = Date.now() - t;
  }
}

/**
 * The UI server's flags in authenticated mode: the stack's CA and the frontend's name, and an admin
 * token (file 0600 in `dir`) it sends with every call, so the UI works without a login.
 */
async function uiAuthArgs(auth: LocalAuth | undefined, dir: string): Promise<string[]> {
  if (!auth) return [];
  const tokenFile = join(dir, 'ui-token');
  writeFileSync(tokenFile, await auth.token(ADMIN_PERMISSIONS), { mode: 0o600 });
  return ['-tls-ca-file', join(auth.tls.dir, 'ca.pem'), '-tls-server-name', FRONTEND_SERVER_NAME, '-auth-token-file', tokenFile];
}

/**
 * Starts the whole local stack (see the file comment) and resolves when the `default` namespace
 * accepts requests. On failure everything already started is stopped and the error names the
 * step and carries the failing process's log tail.
 */
export async function startLocalStack(o: LocalStackOptions = {}): Promise<LocalStack> {
  const log = o.log ?? (() => undefined);
  const started = Date.now();
  const timings: Record<string, number> = {};
  mkdirSync(join(ROOT, '.local'), { recursive: true });
  const dir = o.dir ?? mkdtempSync(join(ROOT, '.local', 'stack-'));
  mkdirSync(dir, { recursive: true });
  const stops: Array<() => Promise<void>> = [];
  const processes: ManagedProcess[] = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch((e) => log(`stop: ${(e as Error).message}`));
    stops.length = 0;
  };
  try {
    log('building the server and UI; starting dsql-local and OpenSearch');
    const builds = Promise.all([
      timed(timings, 'buildServer', buildTemporalServer),
      o.ui === false ? Promise.resolve('') : timed(timings, 'buildUi', buildUiServer),
    ]);
    // dsql-local, then the DSQL schema through the schema custom resource's runner.
    const dsqlP = timed(timings, 'dsqlLocal', () => startDsqlLocal(o.dsql)).then(async (d) => {
      try {
        log(`dsql-local on ${d.host}:${d.port}; applying the DSQL schema (lambda/dsql/schema)`);
        await timed(timings, 'schema', () => applySchema(d));
        return d;
      } catch (e) {
        await d.stop();
        throw e;
      }
    });
    // OpenSearch, then the template and index through the index custom resource's handler.
    const osP = timed(timings, 'openSearch', () => startOpenSearchLocal()).then(async (n) => {
      try {
        log(`OpenSearch on ${n.url}; applying the visibility template and index (lambda/visibility/index)`);
        await timed(timings, 'visibilityIndex', () => applyVisibilityIndex(n.url, LOCAL_VISIBILITY_INDEX));
        return n;
      } catch (e) {
        await n.stop();
        throw e;
      }
    });
    const [dsqlR, osR, buildsR] = await Promise.allSettled([dsqlP, osP, builds]);
    if (dsqlR.status === 'fulfilled') stops.push(() => dsqlR.value.stop());
    if (osR.status === 'fulfilled') stops.push(() => osR.value.stop());
    for (const r of [dsqlR, osR, buildsR]) if (r.status === 'rejected') throw r.reason;
    const dsql = (dsqlR as PromiseFulfilledResult<DsqlLocal>).value;
    const os = (osR as PromiseFulfilledResult<LocalOpenSearch>).value;
    const [serverBin, uiBin] = (buildsR as PromiseFulfilledResult<string[]>).value;

    let auth: LocalAuth | undefined;
    if (o.auth !== false) {
      log('authenticated mode: starting the OpenID provider, making the TLS certificates (local/auth.ts)');
      const a = await timed(timings, 'auth', () => startLocalAuth(dir, o.oidc));
      auth = a;
      stops.push(() => a.stop());
    }
    // Picked after the OpenID provider has bound its port; internal-frontend's apart from the
    // server's (none of those is bound before the server starts).
    const ports = await pickServerPorts(o.temporalPort);
    let security: ServerSecurityInput | undefined;
    if (auth) {
      const [grpc, membership, http] = await freePorts(3, Object.values(ports));
      // TLS files re-read every 5 s (1 m in the image) so a test sees a renewed certificate quickly.
      security = { tlsDir: auth.tls.dir, jwksUris: [auth.oidc.jwksUri], audience: auth.oidc.audience, internalFrontend: { grpc, membership, http }, tlsRefresh: '5s' };
    }
    const serverConfig: ServerConfigInput = {
      dir,
      ports,
      persistence: { kind: 'dsql-local', dsql, tokenLifetimeSeconds: o.tokenLifetimeSeconds },
      openSearchUrl: os.url,
      visibilityIndex: LOCAL_VISIBILITY_INDEX,
      numHistoryShards: o.numHistoryShards,
      dynamicConfig: o.dynamicConfig,
      logLevel: o.logLevel,
      archival: o.archival,
      security,
    };
    const cred = dsql.credentials.find((c) => c.principalArn === dsql.principal('temporal-server'))!;
    log(`starting the Temporal DSQL server (frontend, history, matching, worker; topology ${o.topology ?? 'combined'})`);
    const fleet = await timed(timings, 'server', () =>
      startServerFleet({
        binary: serverBin,
        config: serverConfig,
        logDir: dir,
        topology: o.topology,
        historyProcesses: o.historyProcesses,
        env: {
          AWS_ACCESS_KEY_ID: cred.accessKeyId,
          AWS_SECRET_ACCESS_KEY: cred.secretAccessKey,
          AWS_SESSION_TOKEN: '',
          AWS_REGION: dsql.region,
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_PROFILE: '',
        },
      }),
    );
    const server = { address: fleet.address, metricsUrl: fleet.metricsUrl };
    processes.push(...fleet.members.map((m) => m.process));
    stops.push(() => fleet.stop(20_000));

    let uiUrl: string | undefined;
    if (o.ui !== false) {
      const uiPort = o.uiPort ?? (await freePorts(1))[0];
      const ui = startProcess({
        name: 'temporal-ui-server',
        command: uiBin,
        args: ['-temporal-address', server.address, '-port', String(uiPort), '-namespace', 'default', ...(await uiAuthArgs(auth, dir))],
        logFile: join(dir, 'temporal-ui.log'),
      });
      processes.push(ui);
      stops.push(() => ui.stop(5_000));
      uiUrl = `http://127.0.0.1:${uiPort}`;
      await timed(timings, 'ui', () => waitFor(`Temporal UI on ${uiUrl}`, async () => (await fetch(`${uiUrl}/`)).ok, { timeoutMs: 60_000, proc: ui }));
    }

    const clientOptions: LocalClientOptions = auth ? auth.clientOptions(server.address, await auth.token(ADMIN_PERMISSIONS)) : { address: server.address };
    await timed(timings, 'namespace', () => ensureNamespace(clientOptions, 'default'));
    timings.total = Date.now() - started;
    let stopped: Promise<void> | undefined;
    return {
      temporalAddress: server.address,
      clientOptions,
      metricsUrl: server.metricsUrl,
      namespace: 'default',
      uiUrl,
      openSearchUrl: os.url,
      visibilityIndex: LOCAL_VISIBILITY_INDEX,
      dsql,
      dir,
      timings,
      processes,
      servers: fleet,
      openSearch: os,
      auth,
      stop: () => (stopped ??= stopAll()),
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Command line: `npm run local` (up), `npm run local:stop` (down), `status`.

/** Contents of <dir>/stack.json while a CLI stack runs. */
export interface StackState {
  /** Pid of the orchestrator (the `npm run local` Node process). */
  readonly pid: number;
  readonly startedAt: string;
  readonly temporalAddress: string;
  readonly uiUrl?: string;
  readonly openSearchUrl: string;
  readonly visibilityIndex: string;
  readonly dsqlEndpoint: string;
  /** Direct children of the orchestrator (dsql-local, OpenSearch JVM, server, UI) at start-up. */
  readonly children: ReadonlyArray<{ readonly pid: number; readonly command: string }>;
  /**
   * Authenticated mode: the SDK environment configuration a client needs (TEMPORAL_TLS_SERVER_CA_CERT_PATH,
   * TEMPORAL_TLS_SERVER_NAME) and the file holding an admin token for TEMPORAL_API_KEY (0600).
   */
  readonly clientEnv?: Readonly<Record<string, string>>;
  readonly tokenFile?: string;
}

const USAGE = `Usage: npm run local [-- options]       start the local stack and stay up until Ctrl-C
       npm run local:stop                 stop a stack started by npm run local
       npx tsx local/stack.ts status      print the addresses of a running stack
       npm run local -- --dsql-endpoint HOST --region R   the same against a real Aurora DSQL cluster (below)

Options of up:
  --dir DIR              logs, generated config and stack.json (default .local/stack)
  --temporal-port N      frontend gRPC port (default: a free port)
  --ui-port N            UI port (default: a free port)
  --no-ui                do not start the UI
  --num-history-shards N numHistoryShards (default 4)
  --latency-profile P    dsql-local's added latency: none (default), dsql-single-region, dsql-multi-region
  --no-auth              plaintext and no authorizer (default: TLS, a local OpenID provider and the JWT authorizer)
`;

/** Direct children of `pid` with their command lines (Linux /proc). */
export function childrenOf(pid: number): Array<{ pid: number; command: string }> {
  const out: Array<{ pid: number; command: string }> = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    let list = '';
    try {
      list = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const c of list.split(/\s+/).filter(Boolean)) {
      let command = '';
      try {
        command = readFileSync(`/proc/${c}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 200);
      } catch {
        continue;
      }
      out.push({ pid: Number(c), command });
    }
  }
  return out;
}

function readState(dir: string): StackState | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'stack.json'), 'utf8')) as StackState;
  } catch {
    return undefined;
  }
}

function portArg(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 32767) {
    throw new Error(`--${name} must be an integer port from 1 to 32767 (Temporal stores ports as SMALLINT), got '${value}'`);
  }
  return n;
}

function printAddresses(s: StackState, seconds?: number): void {
  const lines = [
    seconds === undefined ? 'Local stack is running:' : `Local stack is up after ${seconds.toFixed(1)} s:`,
    `  Temporal frontend (gRPC)  ${s.temporalAddress}      export TEMPORAL_ADDRESS=${s.temporalAddress}`,
    `  Temporal UI               ${s.uiUrl ?? '(not started)'}`,
    `  OpenSearch                ${s.openSearchUrl}   index ${s.visibilityIndex}`,
    `  dsql-local                ${s.dsqlEndpoint}`,
    `  namespace                 default`,
    ...(s.clientEnv && s.tokenFile
      ? [
          '  Authenticated mode (TLS, JWT authorizer); SDK clients and samples need:',
          ...Object.entries(s.clientEnv).map(([k, val]) => `    export ${k}=${val}`),
          `    export TEMPORAL_API_KEY=$(cat ${s.tokenFile})   # admin token (temporal-system:admin, default:admin)`,
        ]
      : []),
    'Stop with Ctrl-C or `npm run local:stop`.',
  ];
  console.log(lines.join('\n'));
}

async function up(argv: string[]): Promise<number> {
  // A real Aurora DSQL cluster instead of dsql-local (local/real-cluster.ts).
  if (argv.some((a) => a === '--dsql-endpoint' || a.startsWith('--dsql-endpoint='))) return (await import('./real-cluster')).upRealCluster(argv);
  const { values: v } = parseArgs({
    args: argv,
    options: {
      dir: { type: 'string' },
      'temporal-port': { type: 'string' },
      'ui-port': { type: 'string' },
      'no-ui': { type: 'boolean' },
      'num-history-shards': { type: 'string' },
      'latency-profile': { type: 'string' },
      'no-auth': { type: 'boolean' },
    },
  });
  const latencyProfile = v['latency-profile'];
  if (latencyProfile !== undefined && !(LATENCY_PROFILES as readonly string[]).includes(latencyProfile)) {
    throw new Error(`--latency-profile must be one of ${LATENCY_PROFILES.join(', ')}, got '${latencyProfile}'`);
  }
  const dir = resolve(v.dir ?? DEFAULT_STACK_DIR);
  const existing = readState(dir);
  if (existing && isAlive(existing.pid)) {
    console.error(`A local stack is already running (pid ${existing.pid}) with state in ${dir}:`);
    printAddresses(existing);
    return 1;
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let shards: number | undefined;
  if (v['num-history-shards'] !== undefined) {
    shards = Number(v['num-history-shards']);
    if (!Number.isInteger(shards) || shards < 1 || shards > 16384) {
      throw new Error(`--num-history-shards must be an integer from 1 to 16384, got '${v['num-history-shards']}'`);
    }
  }
  // Ctrl-C during start-up: exit at once; the exit hook kills our processes and dsql-local and
  // OpenSearch stop when their stdin (a pipe from this process) closes.
  const abort = () => process.exit(130);
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  const t = Date.now();
  const stack = await startLocalStack({
    dir,
    temporalPort: portArg('temporal-port', v['temporal-port']),
    uiPort: portArg('ui-port', v['ui-port']),
    ui: !v['no-ui'],
    numHistoryShards: shards,
    dsql: latencyProfile === undefined ? undefined : { latencyProfile: latencyProfile as LatencyProfile },
    auth: !v['no-auth'],
    log: (m) => console.log(`[local] ${m}`),
  });
  let tokenFile: string | undefined;
  if (stack.auth) {
    tokenFile = join(dir, 'client-token');
    writeFileSync(tokenFile, await stack.auth.token(ADMIN_PERMISSIONS), { mode: 0o600 });
  }
  process.removeListener('SIGINT', abort);
  process.removeListener('SIGTERM', abort);
  const state: StackState = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    temporalAddress: stack.temporalAddress,
    uiUrl: stack.uiUrl,
    openSearchUrl: stack.openSearchUrl,
    visibilityIndex: stack.visibilityIndex,
    dsqlEndpoint: `${stack.dsql.hostname}:${stack.dsql.port} (CA ${stack.dsql.caFile}, fault API ${stack.dsql.controlUrl})`,
    children: childrenOf(process.pid),
    ...(stack.auth
      ? {
          clientEnv: {
            TEMPORAL_ADDRESS: stack.temporalAddress,
            TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(stack.auth.tls.dir, 'ca.pem'),
            TEMPORAL_TLS_SERVER_NAME: FRONTEND_SERVER_NAME,
          },
          tokenFile,
        }
      : {}),
  };
  writeFileSync(join(dir, 'stack.json'), JSON.stringify(state, null, 2));
  process.on('exit', () => rmSync(join(dir, 'stack.json'), { force: true }));
  writeFileSync(join(dir, 'timings.json'), JSON.stringify(stack.timings, null, 2));
  printAddresses(state, (Date.now() - t) / 1000);
  console.log(`Logs: ${dir}`);
  await new Promise<void>((resolveSignal) => {
    process.once('SIGINT', () => resolveSignal());
    process.once('SIGTERM', () => resolveSignal());
  });
  // Ctrl-C reaches npm and tsx too; when they exit first our stdout is a closed pipe: keep going.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  // A second Ctrl-C: stop now (the exit hook kills our processes; dsql-local and OpenSearch follow their stdin).
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));
  console.log('[local] stopping');
  const s = Date.now();
  await stack.stop();
  rmSync(join(dir, 'stack.json'), { force: true });
  console.log(`[local] stopped in ${((Date.now() - s) / 1000).toFixed(1)} s`);
  return 0;
}

async function down(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({ args: argv, options: { dir: { type: 'string' } } });
  const dir = resolve(v.dir ?? DEFAULT_STACK_DIR);
  const state = readState(dir);
  if (!state) {
    console.log(`No local stack state in ${dir}: nothing to stop.`);
    return 0;
  }
  const deadline = Date.now() + 90_000;
  if (isAlive(state.pid)) {
    console.log(`Stopping the local stack (pid ${state.pid})...`);
    process.kill(state.pid, 'SIGTERM');
    while (isAlive(state.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (isAlive(state.pid)) {
      console.log(`pid ${state.pid} did not stop within 90 s: killing it`);
      process.kill(state.pid, 'SIGKILL');
    }
  }
  // Whatever the orchestrator left behind (it was killed with SIGKILL, or crashed).
  const childDeadline = Date.now() + 30_000;
  let survivors = state.children.filter((c) => isAlive(c.pid));
  while (survivors.length > 0 && Date.now() < childDeadline) {
    await new Promise((r) => setTimeout(r, 200));
    survivors = survivors.filter((c) => isAlive(c.pid));
  }
  for (const c of survivors) {
    console.log(`killing leftover process ${c.pid} (${c.command})`);
    killGroup(c.pid, 'SIGKILL');
  }
  const killDeadline = Date.now() + 10_000;
  while (survivors.some((c) => isAlive(c.pid)) && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 100));
  const stuck = survivors.filter((c) => isAlive(c.pid));
  if (stuck.length > 0) {
    console.error(`still running after SIGKILL: ${stuck.map((c) => `${c.pid} (${c.command})`).join(', ')}`);
    return 1;
  }
  rmSync(join(dir, 'stack.json'), { force: true });
  console.log('Local stack stopped.');
  return 0;
}

async function status(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({ args: argv, options: { dir: { type: 'string' } } });
  const state = readState(resolve(v.dir ?? DEFAULT_STACK_DIR));
  if (!state || !isAlive(state.pid)) {
    console.log('No local stack is running.');
    return 1;
  }
  printAddresses(state);
  return 0;
}

if (require.main === module) {
  const [command = 'up', ...rest] = process.argv.slice(2);
  const commands: Record<string, (a: string[]) => Promise<number>> = { up, down, stop: down, status };
  if (command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    console.log((require('./real-cluster') as typeof import('./real-cluster')).REAL_CLUSTER_USAGE);
    process.exit(0);
  }
  const fn = commands[command] ?? (command.startsWith('--') ? up : undefined);
  if (!fn) {
    console.error(`unknown command '${command}'; allowed: up, down, status\n\n${USAGE}`);
    process.exit(2);
  }
  fn(command.startsWith('--') ? [command, ...rest] : rest).then(
    (code) => process.exit(code),
    (e) => {
      console.error(`[local] ${(e as Error).message}`);
      process.exit(1);
    },
  );
}
