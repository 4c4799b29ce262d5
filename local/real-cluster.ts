/**
 * The local stack against a real Aurora DSQL cluster:
 *
 *   npm run local -- --dsql-endpoint <id>.dsql.<region>.on.aws --region <region>
 *
 * runs our server (all four roles), the UI and a local OpenSearch node on this machine, with the
 * DSQL cluster of the caller's account as persistence, signed with the caller's AWS credentials
 * (the SDK's default provider chain: environment, profile, SSO, ...). Before it starts anything it
 * prints what it will do and checks the cluster's schema version; then it
 *   1. applies our DSQL schema with the schema custom resource's runner (lambda/dsql/schema
 *      `migrate`), as `admin` (`dsql:DbConnectAdmin`);
 *   2. creates a database role of the caller's own (`local_<IAM name>`, never the deployed
 *      servers' `temporal_server`, whose other mappings the runner would revoke), grants it the
 *      servers' privileges and maps it to the caller's IAM role or user (`AWS IAM GRANT`);
 *   3. starts the server as that role (`dsql:DbConnect`), the UI and OpenSearch, and registers `default`.
 * A cluster whose schema is newer than ours, or that running servers elsewhere use (live rows in
 * `cluster_membership`), is refused before anything changes.
 *
 * The same path runs against dsql-local in test/e2e/real-cluster.test.ts, whose TLS (SNI, its own
 * CA) and SigV4 token checks stand in for the real endpoint's.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { DsqlConnectionOptions } from '../lambda/dsql/schema/connection';
import { applyVisibilityIndex } from './apply';
import { buildTemporalServer, buildUiServer } from './build';
import { ensureNamespace, LocalClientOptions } from './client';
import { DEFAULT_STACK_DIR, DSQL_SCHEMA_DIR, LOCAL_VISIBILITY_INDEX } from './paths';
import { startServer } from './server';
import { pickServerPorts, writeServerConfig } from './server-config';
import { childrenOf, StackState } from './state';
import { LocalOpenSearch, startOpenSearchLocal } from '../test/support/opensearch-local';
import { ManagedProcess } from './process';
import { startUi, withStartupScope } from './startup';

/** Options of {@link planRealCluster} and {@link startRealClusterStack}. */
export interface RealClusterOptions {
  /** Cluster endpoint host name, `<cluster-id>.dsql.<region>.on.aws` (TLS SNI and the host tokens are signed for). */
  readonly endpoint: string;
  /** The cluster's Region. */
  readonly region: string;
  /** Address to dial instead of `endpoint` (dsql-local: 127.0.0.1). @default - `endpoint` */
  readonly host?: string;
  /** @default 5432 */
  readonly port?: number;
  /** PEM CA bundle that signed the endpoint's certificate (dsql-local). @default - the system roots */
  readonly caFile?: string;
  /** The caller's credentials. @default - `fromNodeProviderChain()` of @aws-sdk/credential-providers */
  readonly credentials?: AwsCredentialIdentityProvider;
  /**
   * IAM role or user ARN the caller's database role is mapped to.
   * @default - from STS GetCallerIdentity with the same credentials (an assumed role becomes its role ARN)
   */
  readonly iamArn?: string;
  /** Database role to create and map. @default - `local_<role or user name>` (see {@link localRoleName}) */
  readonly databaseRole?: string;
  /** Directory for logs and generated files. @default - a fresh directory under .local/ */
  readonly dir?: string;
  /** Start the UI. @default true */
  readonly ui?: boolean;
  readonly temporalPort?: number;
  readonly uiPort?: number;
  /** `numHistoryShards`; must equal the cluster's if it already ran Temporal. @default 4 */
  readonly numHistoryShards?: number;
  /** Progress lines (the plan is printed through it before anything changes). @default - silent */
  readonly log?: (message: string) => void;
}

/** What the real-cluster mode will do, computed (read-only) before it does anything. */
export interface RealClusterPlan {
  readonly endpoint: string;
  readonly region: string;
  /** The caller's identity as STS reports it (or the given ARN). */
  readonly callerArn: string;
  /** IAM ARN the database role is mapped to. */
  readonly iamArn: string;
  readonly databaseRole: string;
  /** Schema version recorded in the cluster; undefined for an empty cluster. */
  readonly schemaFrom?: string;
  /** Our latest schema version (schema/dsql/temporal/versioned). */
  readonly schemaTo: string;
}

/** The cluster's schema is newer than the one in this checkout. */
export class SchemaTooNewError extends Error {
  constructor(public readonly clusterVersion: string, public readonly ourVersion: string, endpoint: string) {
    super(`The cluster ${endpoint} has schema version ${clusterVersion}, newer than this checkout's ${ourVersion} ` +
      `(schema/dsql/temporal/versioned). A server built from this checkout may not understand it: update this checkout ` +
      `(git pull) or use another cluster. Nothing was changed.`);
    this.name = 'SchemaTooNewError';
  }
}

/**
 * Temporal servers elsewhere (a deployed platform) are live on the cluster. A local server would
 * join their membership ring (upstream finds peers in `cluster_membership`), take history shards
 * and be unreachable to them at 127.0.0.1.
 */
export class ClusterInUseError extends Error {
  constructor(public readonly members: readonly string[], endpoint: string) {
    super(`The cluster ${endpoint} is in use by running Temporal servers (${members.join(', ')} heartbeated within the last ` +
      `${LIVE_MEMBER_SECONDS} s). A local server would join their membership ring and take history shards from them. ` +
      'Use a cluster of its own (or stop those servers). Nothing was changed.');
    this.name = 'ClusterInUseError';
  }
}

/** A member is live when its last heartbeat is this recent (upstream's healthyHostLastHeartbeatCutoff, common/membership/ringpop/monitor.go). */
export const LIVE_MEMBER_SECONDS = 20;

/**
 * Live members of the cluster's membership ring that are not on loopback (local runs broadcast
 * 127.0.0.1), as `address:port (role n)`; empty when the table does not exist yet.
 */
async function liveRemoteMembers(connection: DsqlConnectionOptions): Promise<string[]> {
  const { connectDsql } = await import('../lambda/dsql/schema/connection');
  const c = await connectDsql(connection);
  try {
    const t = await c.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'cluster_membership'`);
    if (t.rowCount === 0) return [];
    const r = await c.query(
      `SELECT rpc_address, rpc_port, role FROM cluster_membership
        WHERE last_heartbeat > (now() AT TIME ZONE 'UTC') - interval '${LIVE_MEMBER_SECONDS} seconds' AND rpc_address NOT LIKE '127.%'
        ORDER BY rpc_address, rpc_port`);
    return r.rows.map((m) => `${m.rpc_address}:${m.rpc_port} (role ${m.role})`);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * The IAM ARN a database role is mapped to for `callerArn`: an IAM user or role as is; an STS
 * assumed-role session (`arn:aws:sts::<acct>:assumed-role/<role>/<session>`) as its role,
 * `arn:aws:iam::<acct>:role/<role>` (a role with a path needs `--iam-arn`: STS does not report it).
 * @throws Error for other identities (root, federated users), asking for `--iam-arn`
 */
export function mappingArnOf(callerArn: string): string {
  const assumed = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([\w+=,.@-]+)\/[^/]+$/.exec(callerArn);
  if (assumed) return `arn:${assumed[1]}:iam::${assumed[2]}:role/${assumed[3]}`;
  if (/^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]+$/.test(callerArn)) return callerArn;
  throw new Error(`cannot map the caller ${callerArn} to a database role: DSQL maps IAM roles and users only. ` +
    'Use credentials of an IAM role or user, or pass --iam-arn arn:aws:iam::<account>:role/<name>.');
}

/**
 * The default database role of an IAM ARN: `local_` and the role or user name in lower case, every
 * character outside a-z, 0-9 and _ replaced by _, cut to PostgreSQL's 63 characters.
 */
export function localRoleName(iamArn: string): string {
  const name = iamArn.split('/').pop() ?? 'caller';
  return `local_${name.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/** The schema runner's connection as the caller (admin). */
function adminConnection(o: RealClusterOptions, credentials: AwsCredentialIdentityProvider): DsqlConnectionOptions {
  return {
    hostname: o.endpoint, host: o.host, port: o.port ?? 5432, region: o.region, caFile: o.caFile, credentials,
    applicationName: 'local-stack-real-cluster',
  };
}

async function defaultCredentials(): Promise<AwsCredentialIdentityProvider> {
  const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
  return fromNodeProviderChain();
}

async function callerIdentity(region: string, credentials: AwsCredentialIdentityProvider): Promise<string> {
  const { STSClient, GetCallerIdentityCommand } = await import('@aws-sdk/client-sts');
  const sts = new STSClient({ region, credentials });
  try {
    const r = await sts.send(new GetCallerIdentityCommand({}));
    if (!r.Arn) throw new Error('STS GetCallerIdentity returned no ARN');
    return r.Arn;
  } catch (e) {
    throw new Error(`could not find out who you are (STS GetCallerIdentity in ${region}): ${(e as Error).message}. ` +
      'Check your AWS credentials (environment, AWS_PROFILE, aws sso login), or pass --iam-arn arn:aws:iam::<account>:role/<name>.');
  } finally {
    sts.destroy();
  }
}

/**
 * Works out what the real-cluster mode will do, changing nothing: the caller's identity, the
 * database role, and the schema versions (read with an admin connection, which also proves the
 * credentials, the TLS endpoint and `dsql:DbConnectAdmin`).
 * @throws SchemaTooNewError when the cluster's schema is newer than ours; ClusterInUseError when
 *   servers off this machine heartbeat in its membership table; the connection's error
 *   (TLS, a refused token: `28000`/`28P01`) when the endpoint does not accept the caller
 */
export async function planRealCluster(o: RealClusterOptions): Promise<RealClusterPlan> {
  if (!o.endpoint) throw new Error('--dsql-endpoint is required: the cluster endpoint, <cluster-id>.dsql.<region>.on.aws');
  if (!o.region) throw new Error('--region is required: the cluster\'s Region');
  const credentials = o.credentials ?? (await defaultCredentials());
  const callerArn = o.iamArn ?? (await callerIdentity(o.region, credentials));
  const iamArn = mappingArnOf(callerArn);
  const databaseRole = o.databaseRole ?? localRoleName(iamArn);
  const { SchemaRunner } = await import('../lambda/dsql/schema/runner');
  const { compareVersions, loadVersionedSchema } = await import('../lambda/dsql/schema/schema-dir');
  const schema = loadVersionedSchema(DSQL_SCHEMA_DIR);
  const status = await new SchemaRunner({ connection: adminConnection(o, credentials), schema }).status();
  if (status.currentVersion && compareVersions(status.currentVersion, schema.latestVersion) > 0) {
    throw new SchemaTooNewError(status.currentVersion, schema.latestVersion, o.endpoint);
  }
  const members = await liveRemoteMembers(adminConnection(o, credentials));
  if (members.length > 0) throw new ClusterInUseError(members, o.endpoint);
  return { endpoint: o.endpoint, region: o.region, callerArn, iamArn, databaseRole, schemaFrom: status.currentVersion, schemaTo: schema.latestVersion };
}

/** The plan in operator words, one line each. */
export function describePlan(p: RealClusterPlan): string[] {
  const schema = p.schemaFrom === undefined ? `apply the schema from scratch up to version ${p.schemaTo}`
    : p.schemaFrom === p.schemaTo ? `schema already at version ${p.schemaTo}: nothing to apply`
      : `migrate the schema from version ${p.schemaFrom} to ${p.schemaTo}`;
  return [
    `Aurora DSQL cluster ${p.endpoint} (${p.region}), as ${p.callerArn}:`,
    `  1. ${schema} (lambda/dsql/schema runner, as admin)`,
    `  2. create database role ${p.databaseRole} with the servers' privileges and map it to ${p.iamArn}` +
      ` (other IAM mappings of ${p.databaseRole} are revoked)`,
    `  3. run the Temporal server as ${p.databaseRole}, a local OpenSearch node and (without --no-ui) the UI on this machine`,
  ];
}

/** A running real-cluster stack. */
export interface RealClusterStack {
  readonly plan: RealClusterPlan;
  readonly temporalAddress: string;
  /** What SDK clients connect with. */
  readonly clientOptions: LocalClientOptions;
  readonly uiUrl?: string;
  readonly openSearchUrl: string;
  readonly visibilityIndex: string;
  readonly dir: string;
  readonly processes: readonly ManagedProcess[];
  /** Stops the server, UI and OpenSearch (the cluster and its data stay). Idempotent. */
  stop(): Promise<void>;
}

/**
 * The server's AWS environment: with explicit `credentials`, those (static; for tests); else none
 * added, so the server's own default chain (Go SDK) finds the caller's identity as this process did
 * (environment, profile, SSO) and refreshes it.
 */
async function serverAwsEnv(o: RealClusterOptions): Promise<NodeJS.ProcessEnv> {
  if (!o.credentials) return { AWS_REGION: o.region };
  const c: AwsCredentialIdentity = await o.credentials();
  return { AWS_ACCESS_KEY_ID: c.accessKeyId, AWS_SECRET_ACCESS_KEY: c.secretAccessKey, AWS_SESSION_TOKEN: c.sessionToken ?? '', AWS_REGION: o.region, AWS_PROFILE: '' };
}

/**
 * Plans (and logs the plan), applies the schema and the caller's database role, then starts the
 * server, OpenSearch and the UI against the cluster.
 * @throws SchemaTooNewError before anything changes; MigrationError from the runner; Error with a
 *   process's log tail when the server or UI does not come up (everything started is stopped)
 */
export async function startRealClusterStack(o: RealClusterOptions): Promise<RealClusterStack> {
  const log = o.log ?? (() => undefined);
  const credentials = o.credentials ?? (await defaultCredentials());
  const plan = await planRealCluster({ ...o, credentials });
  for (const line of describePlan(plan)) log(line);

  return withStartupScope({ dir: o.dir, prefix: 'real-cluster', log }, async (scope) => {
    const { dir, processes } = scope;
    const builds = Promise.all([buildTemporalServer(), o.ui === false ? Promise.resolve('') : buildUiServer()]);
    const osP = startOpenSearchLocal().then(async (n: LocalOpenSearch) => {
      scope.onStop(() => n.stop());
      await applyVisibilityIndex(n.url, LOCAL_VISIBILITY_INDEX);
      return n;
    });
    const { migrate } = await import('../lambda/dsql/schema/migrate');
    const { loadVersionedSchema } = await import('../lambda/dsql/schema/schema-dir');
    log(`applying the schema and role ${plan.databaseRole}`);
    const result = await migrate({
      connection: adminConnection(o, credentials),
      schema: loadVersionedSchema(DSQL_SCHEMA_DIR),
      deadline: Date.now() + 15 * 60_000,
      serverRole: { roleName: plan.databaseRole, iamArns: [plan.iamArn] },
      log: (m) => log(`schema: ${m}`),
    });
    if (!result.complete) throw new Error(`the schema migration did not finish within 15 minutes (at ${result.apply.currentVersion}); run again to resume`);
    log(`schema at ${result.apply.currentVersion} (${result.apply.outcome}); role ${plan.databaseRole} ready`);
    const [os, [serverBin, uiBin]] = await Promise.all([osP, builds]);

    const ports = await pickServerPorts(o.temporalPort);
    const { configFile, env: configEnv } = writeServerConfig({
      dir,
      ports,
      persistence: { kind: 'dsql', hostname: o.endpoint, port: o.port ?? 5432, region: o.region, caFile: o.caFile, user: plan.databaseRole },
      openSearchUrl: os.url,
      visibilityIndex: LOCAL_VISIBILITY_INDEX,
      numHistoryShards: o.numHistoryShards,
    });
    log(`starting the Temporal server as ${plan.databaseRole}`);
    const server = await startServer(serverBin, configFile, ports, join(dir, 'temporal-server.log'), { ...configEnv, ...(await serverAwsEnv(o)) });
    processes.push(server.process);
    scope.onStop(() => server.process.stop(20_000));

    const uiUrl = o.ui === false ? undefined : await startUi(scope, { binary: uiBin, temporalAddress: server.address, port: o.uiPort });
    const clientOptions: LocalClientOptions = { address: server.address };
    await ensureNamespace(clientOptions, 'default');
    let stopped: Promise<void> | undefined;
    return {
      plan, temporalAddress: server.address, clientOptions, uiUrl, openSearchUrl: os.url, visibilityIndex: LOCAL_VISIBILITY_INDEX, dir, processes,
      stop: () => (stopped ??= scope.stopAll()),
    };
  });
}

/** Usage of the real-cluster mode (part of `npm run local -- --help`). */
export const REAL_CLUSTER_USAGE = `Real Aurora DSQL cluster (your AWS credentials, default provider chain):
  --dsql-endpoint HOST   the cluster endpoint, <cluster-id>.dsql.<region>.on.aws (instead of dsql-local)
  --region REGION        the cluster's Region
  --dsql-port N          the endpoint's port (default 5432)
  --iam-arn ARN          IAM role/user to map the database role to (default: STS GetCallerIdentity)
  --database-role NAME   database role to create and map (default: local_<IAM name>)
`;

/**
 * `npm run local -- --dsql-endpoint <host> --region <region> [--iam-arn ARN] [--database-role NAME]
 * [--dir D] [--temporal-port N] [--ui-port N] [--no-ui] [--num-history-shards N]`: prints the plan,
 * starts, prints the addresses and runs until Ctrl-C (or `npm run local:stop`).
 * @returns the process exit code
 */
export async function upRealCluster(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      'dsql-endpoint': { type: 'string' }, 'dsql-port': { type: 'string' }, region: { type: 'string' }, 'iam-arn': { type: 'string' }, 'database-role': { type: 'string' },
      dir: { type: 'string' }, 'temporal-port': { type: 'string' }, 'ui-port': { type: 'string' }, 'no-ui': { type: 'boolean' },
      'num-history-shards': { type: 'string' },
    },
  });
  const num = (name: string, value: string | undefined, max: number): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--${name} must be an integer from 1 to ${max}, got '${value}'`);
    return n;
  };
  const dir = resolve(v.dir ?? DEFAULT_STACK_DIR);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const t = Date.now();
  const stack = await startRealClusterStack({
    endpoint: v['dsql-endpoint'] ?? '',
    port: num('dsql-port', v['dsql-port'], 65535),
    region: v.region ?? '',
    iamArn: v['iam-arn'],
    databaseRole: v['database-role'],
    dir,
    ui: !v['no-ui'],
    temporalPort: num('temporal-port', v['temporal-port'], 32767),
    uiPort: num('ui-port', v['ui-port'], 32767),
    numHistoryShards: num('num-history-shards', v['num-history-shards'], 16384),
    log: (m) => console.log(`[local] ${m}`),
  });
  const state: StackState = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    temporalAddress: stack.temporalAddress,
    uiUrl: stack.uiUrl,
    openSearchUrl: stack.openSearchUrl,
    visibilityIndex: stack.visibilityIndex,
    dsqlEndpoint: `${stack.plan.endpoint}:${v['dsql-port'] ?? 5432} (Aurora DSQL, ${stack.plan.region}, role ${stack.plan.databaseRole})`,
    children: childrenOf(process.pid),
  };
  writeFileSync(join(dir, 'stack.json'), JSON.stringify(state, null, 2));
  process.on('exit', () => rmSync(join(dir, 'stack.json'), { force: true }));
  console.log([
    `Local stack on Aurora DSQL is up after ${((Date.now() - t) / 1000).toFixed(1)} s:`,
    `  Temporal frontend (gRPC)  ${stack.temporalAddress}      export TEMPORAL_ADDRESS=${stack.temporalAddress}`,
    `  Temporal UI               ${stack.uiUrl ?? '(not started)'}`,
    `  OpenSearch                ${stack.openSearchUrl}   index ${stack.visibilityIndex}`,
    `  Aurora DSQL               ${state.dsqlEndpoint}`,
    'Stop with Ctrl-C or `npm run local:stop`.',
  ].join('\n'));
  await new Promise<void>((r) => {
    process.once('SIGINT', () => r());
    process.once('SIGTERM', () => r());
  });
  process.stdout.on('error', () => undefined);
  console.log('[local] stopping (the cluster and its data stay)');
  await stack.stop();
  return 0;
}
