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
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DsqlLocal, DsqlLocalOptions, startDsqlLocal } from '../test/support/dsql-local';
import { LocalOpenSearch, startOpenSearchLocal } from '../test/support/opensearch-local';
import { applySchema, applyVisibilityIndex } from './apply';
import { LocalArchivalOptions } from './archival';
import { ADMIN_PERMISSIONS, LocalAuth, ServerSecurityInput, startLocalAuth } from './auth';
import { buildTemporalServer, buildUiServer } from './build';
import { FRONTEND_SERVER_NAME } from './certs';
import { ensureNamespace, LocalClientOptions } from './client';
import type { OidcProviderOptions } from './oidc';
import { LOCAL_VISIBILITY_INDEX } from './paths';
import { freePorts, ManagedProcess, ProcessWrapper } from './process';
import { ServerFleet, ServerTopology, startServerFleet } from './roles';
import { pickServerPorts, ServerConfigInput } from './server-config';
import { startUi, withStartupScope } from './startup';

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
  /**
   * A prebuilt server binary to run instead of building docker/temporal-server (e.g. the upgrade
   * rehearsal's previous version, local/build.ts buildPreviousTemporalServer). @default - built from
   * the working tree into .cache/bin/temporal-dsql-server
   */
  readonly serverBinary?: string;
  /** History processes sharing the shards, with `topology: 'per-role'` (1-8). @default 1 */
  readonly historyProcesses?: number;
  /**
   * Extra environment of every server process, over the stack's own. A `TEMPORAL_DYNAMIC_CONFIG_FILE`
   * here also becomes the config's `dynamicConfigClient.filepath` (the server writes the file there
   * at start), e.g. the task definition's paths (lib/services/read-only.ts SERVER_RUNTIME_ENV).
   * @default - none
   */
  readonly serverEnv?: Readonly<Record<string, string>>;
  /** Rewrites the server processes' command lines (a read-only sandbox, local/read-only.ts). @default - none */
  readonly wrapServer?: ProcessWrapper;
  /** Rewrites the UI server's command line. @default - none */
  readonly wrapUi?: ProcessWrapper;
  /**
   * An OpenSearch node the caller started and prepared (template and index `LOCAL_VISIBILITY_INDEX`
   * applied), e.g. the secured node of test/support/opensearch-secured.ts, and the URL the servers
   * use for it (e.g. a proxy adding a principal's credentials). The stack neither applies the index
   * to it nor stops it. @default - a fresh opensearch-local node, index applied by the stack
   */
  readonly openSearch?: { readonly node: LocalOpenSearch; readonly serverUrl: string };
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
  /**
   * Stops every server process (the writers), leaving dsql-local, OpenSearch and the rest running:
   * step 1 of the restore runbook (docs/operations.md). Idempotent.
   */
  stopServers(): Promise<void>;
  /**
   * Starts the server processes again, with the same ports, topology, security and dynamic config,
   * connecting to `dsql` (a restored database; the stack's `dsql` then returns it) or to the current
   * dsql-local. The local counterpart of `dsql.existingCluster`: the servers' persistence endpoint
   * is the only thing that changes. The caller owns a `dsql` it passes (and stops it).
   * @throws Error when servers are running (call {@link stopServers} first)
   */
  startServers(o?: { dsql?: DsqlLocal }): Promise<void>;
  /** Stops everything, in reverse order. Idempotent. */
  stop(): Promise<void>;
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
  return withStartupScope({ dir: o.dir, prefix: 'stack', log }, async (scope) => {
    const { dir, processes } = scope;
    log('building the server and UI; starting dsql-local and OpenSearch');
    const builds = Promise.all([
      o.serverBinary ? Promise.resolve(o.serverBinary) : timed(timings, 'buildServer', buildTemporalServer),
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
    const osP = o.openSearch ? Promise.resolve(o.openSearch.node) : timed(timings, 'openSearch', () => startOpenSearchLocal()).then(async (n) => {
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
    if (dsqlR.status === 'fulfilled') scope.onStop(() => dsqlR.value.stop());
    if (osR.status === 'fulfilled' && !o.openSearch) scope.onStop(() => osR.value.stop());
    for (const r of [dsqlR, osR, buildsR]) if (r.status === 'rejected') throw r.reason;
    const dsql = (dsqlR as PromiseFulfilledResult<DsqlLocal>).value;
    const os = (osR as PromiseFulfilledResult<LocalOpenSearch>).value;
    const [serverBin, uiBin] = (buildsR as PromiseFulfilledResult<string[]>).value;

    let auth: LocalAuth | undefined;
    if (o.auth !== false) {
      log('authenticated mode: starting the OpenID provider, making the TLS certificates (local/auth.ts)');
      const a = await timed(timings, 'auth', () => startLocalAuth(dir, o.oidc));
      auth = a;
      scope.onStop(() => a.stop());
    }
    // Picked after the OpenID provider has bound its port; internal-frontend's apart from the
    // server's (none of those is bound before the server starts).
    const ports = await pickServerPorts(o.temporalPort);
    let security: ServerSecurityInput | undefined;
    if (auth) {
      const [grpc, membership, http] = await freePorts(3, Object.values(ports));
      // TLS files re-read every 5 s (1 m in the image) so a test sees a renewed certificate quickly.
      security = { tlsDir: auth.tls.dir, jwksUris: [auth.oidc.jwksUri], audience: auth.oidc.audience, issuer: auth.oidc.issuer, internalFrontend: { grpc, membership, http }, tlsRefresh: '5s' };
    }
    // Everything but the database; startFleet adds the persistence of the dsql-local it is given.
    const serverConfig: Omit<ServerConfigInput, 'persistence'> = {
      dir,
      ports,
      openSearchUrl: o.openSearch?.serverUrl ?? os.url,
      visibilityIndex: LOCAL_VISIBILITY_INDEX,
      numHistoryShards: o.numHistoryShards,
      dynamicConfig: o.dynamicConfig,
      logLevel: o.logLevel,
      archival: o.archival,
      security,
      dynamicConfigFile: o.serverEnv?.TEMPORAL_DYNAMIC_CONFIG_FILE,
    };
    /** Starts the fleet on `db`: the config's persistence and the signing credential follow it. */
    const startFleet = (db: DsqlLocal) => {
      const cred = db.credentials.find((c) => c.principalArn === db.principal('temporal-server'))!;
      return startServerFleet({
        binary: serverBin,
        config: { ...serverConfig, persistence: { kind: 'dsql-local', dsql: db, tokenLifetimeSeconds: o.tokenLifetimeSeconds } },
        logDir: dir,
        topology: o.topology,
        historyProcesses: o.historyProcesses,
        env: {
          AWS_ACCESS_KEY_ID: cred.accessKeyId,
          AWS_SECRET_ACCESS_KEY: cred.secretAccessKey,
          AWS_SESSION_TOKEN: '',
          AWS_REGION: db.region,
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_PROFILE: '',
          ...o.serverEnv,
        },
        wrap: o.wrapServer,
      });
    };
    log(`starting the Temporal DSQL server (frontend, history, matching, worker; topology ${o.topology ?? 'combined'})`);
    const fleet = await timed(timings, 'server', () => startFleet(dsql));
    const server = { address: fleet.address, metricsUrl: fleet.metricsUrl };
    processes.push(...fleet.members.map((m) => m.process));
    // The current fleet and database: startServers() replaces both.
    const current: { fleet: ServerFleet; running: boolean; dsql: DsqlLocal } = { fleet, running: true, dsql };
    scope.onStop(() => (current.running ? current.fleet.stop(20_000) : Promise.resolve()));

    const uiUrl = o.ui === false ? undefined : await timed(timings, 'ui', async () =>
      startUi(scope, { binary: uiBin, temporalAddress: server.address, port: o.uiPort, extraArgs: await uiAuthArgs(auth, dir), wrap: o.wrapUi }));

    const clientOptions: LocalClientOptions = auth ? auth.clientOptions(server.address, await auth.token(ADMIN_PERMISSIONS)) : { address: server.address };
    await timed(timings, 'namespace', () => ensureNamespace(clientOptions, 'default'));
    timings.total = Date.now() - started;
    let stopped: Promise<void> | undefined;
    const stack: LocalStack = {
      temporalAddress: server.address,
      clientOptions,
      metricsUrl: server.metricsUrl,
      namespace: 'default',
      uiUrl,
      openSearchUrl: os.url,
      visibilityIndex: LOCAL_VISIBILITY_INDEX,
      get dsql() {
        return current.dsql;
      },
      dir,
      timings,
      processes,
      get servers() {
        return current.fleet;
      },
      openSearch: os,
      auth,
      stopServers: async () => {
        if (!current.running) return;
        current.running = false;
        await current.fleet.stop(20_000);
      },
      startServers: async (so = {}) => {
        if (current.running) throw new Error('startServers: the servers are running; call stopServers() first');
        const db = so.dsql ?? current.dsql;
        log(`starting the Temporal DSQL server again, on dsql-local ${db.host}:${db.port}`);
        current.fleet = await startFleet(db);
        current.dsql = db;
        current.running = true;
        processes.push(...current.fleet.members.map((m) => m.process));
      },
      stop: () => (stopped ??= scope.stopAll()),
    };
    return stack;
  });
}

