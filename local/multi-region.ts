/**
 * The local two-Region rehearsal (issue 25 item 4, docs/multi-region.md "Local rehearsal"): two
 * "Regions" of our server on ONE dsql-local database (peered DSQL clusters are one logical
 * database) with the `dsql-multi-region` latency profile, and the local implementations of the
 * failover contract (bin/failover/types.ts):
 *
 * - {@link LocalRegionFleet}: a Region's server process (all roles in one process) as a
 *   RegionFleet; `setReachable(false)` makes its control calls throw RegionUnreachableError;
 * - {@link LocalDatabaseFence}: the Region's database login refused (its IAM mapping revoked,
 *   `AWS IAM REVOKE`) and its open sessions closed: the local analogue of a Deny for the Region's
 *   VPC in the DSQL resource policy;
 * - {@link ClientEndpoint}: the clients' one address (the NLB behind a Route 53 failover record): a
 *   TCP forwarder to the active Region's frontend, which can be cut (scenario b) and switched.
 *
 * How the Regions are kept apart: Region A's processes bind and advertise 127.0.0.2, Region B's
 * 127.0.0.3 (so `cluster_membership.rpc_address` tells them apart); each Region logs in as its own
 * database role mapped to its own IAM principal (A `temporal_server` / role `temporal-server`, B
 * `temporal_server_b` / role `other`), so dsql-local's per-role counters are per-Region commit
 * counters; each Region has its own visibility index in one OpenSearch node (two domains on AWS).
 * What differs from AWS: loopback addresses reach each other, so A's hosts COULD gossip with B's
 * (on AWS the VPCs are not peered); A's ring only learns of B through the database, which the fence
 * closes before B starts. A cut client network answers with a reset here (a black hole on AWS).
 */
import { Connection } from '@temporalio/client';
import { createServer, Server, Socket } from 'node:net';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { readFileSync, writeFileSync } from 'node:fs';
import type { DatabaseFence, RegionFleet, RoleCount, RoleState, TemporalRole } from '../bin/failover/types';
import { RegionUnreachableError } from '../bin/failover/types';
import { DsqlLocal, LatencyProfile, startDsqlLocal } from '../test/support/dsql-local';
import { LocalOpenSearch, startOpenSearchLocal } from '../test/support/opensearch-local';
import { applySchema, applyVisibilityIndex } from './apply';
import { buildTemporalServer } from './build';
import { ensureNamespace } from './client';
import { SERVER_DB_ROLE } from './paths';
import { killGroup, ManagedProcess, startProcess, waitFor } from './process';
import { pickServerPorts, ServerPorts, writeServerConfig } from './server-config';

/** One local "Region": its addresses, its login and its visibility index. */
export interface LocalRegionSpec {
  /** Region name, e.g. 'region-a'. */
  readonly name: string;
  /** Loopback address its processes bind and advertise, e.g. '127.0.0.2'. */
  readonly ip: string;
  /** Database role its servers log in as. */
  readonly dbRole: string;
  /** dsql-local principal (role name) its servers sign tokens with. */
  readonly principal: string;
  /** Its OpenSearch visibility index. */
  readonly visibilityIndex: string;
}

/** The two Regions of the rehearsal: A active, B standby. */
export const REHEARSAL_REGIONS: readonly [LocalRegionSpec, LocalRegionSpec] = [
  { name: 'region-a', ip: '127.0.0.2', dbRole: SERVER_DB_ROLE, principal: 'temporal-server', visibilityIndex: 'temporal_visibility_v1_region_a' },
  { name: 'region-b', ip: '127.0.0.3', dbRole: 'temporal_server_b', principal: 'other', visibilityIndex: 'temporal_visibility_v1_region_b' },
];

/** The roles a combined local process runs (one RoleState each). */
export const LOCAL_ROLES: readonly TemporalRole[] = ['frontend', 'history', 'matching', 'worker'];

/** A Region's server process: config written, started and stopped on demand. */
export class LocalRegion {
  private proc?: ManagedProcess;
  private starts = 0;

  constructor(
    readonly spec: LocalRegionSpec,
    readonly ports: ServerPorts,
    private readonly binary: string,
    private readonly configFile: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly logDir: string,
  ) {}

  /** Frontend gRPC address, `<ip>:<port>`. */
  get frontendAddress(): string {
    return `${this.spec.ip}:${this.ports.frontend}`;
  }
  /** Prometheus endpoint of the process. */
  get metricsUrl(): string {
    return `http://${this.spec.ip}:${this.ports.metrics}/metrics`;
  }
  /** The current (or last) process. */
  get process(): ManagedProcess | undefined {
    return this.proc;
  }
  /** True while the process runs. */
  get running(): boolean {
    return !!this.proc && !this.proc.hasExited();
  }

  /**
   * Starts the process (no-op when running) and resolves when GetSystemInfo answers.
   * @throws Error with the log tail when it exits or is not up within `timeoutMs`
   */
  async start(timeoutMs = 180_000): Promise<void> {
    if (this.running) return;
    const proc = startProcess({
      name: `temporal-${this.spec.name}`,
      command: this.binary,
      args: ['--config-file', this.configFile, 'start'],
      env: { ...process.env, ...this.env },
      logFile: join(this.logDir, `${this.spec.name}-${this.starts++}.log`),
    });
    this.proc = proc;
    await waitFor(`${this.spec.name} frontend on ${this.frontendAddress}`, async () => {
      const c = await Connection.connect({ address: this.frontendAddress, connectTimeout: 2000 });
      try {
        await c.workflowService.getSystemInfo({});
        return true;
      } finally {
        await c.close();
      }
    }, { timeoutMs, proc, intervalMs: 300 });
  }

  /** `kill -9` of the process group; resolves when it has exited. */
  async kill(): Promise<void> {
    if (!this.running) return;
    killGroup(this.proc!.pid, 'SIGKILL');
    await this.proc!.exited;
  }

  /** Graceful stop (SIGTERM, SIGKILL after `graceMs`), as ECS stops a task. */
  async stop(graceMs = 10_000): Promise<void> {
    await this.proc?.stop(graceMs);
  }
}

/**
 * The clients' one address: forwards TCP to the active Region's frontend. `route(undefined)` cuts
 * the clients off (existing connections reset, new ones refused: scenario b's cut network);
 * `route(address)` is the endpoint switch of the failover (Route 53 failover record).
 */
export class ClientEndpoint {
  private target?: { host: string; port: number };
  private readonly pairs = new Set<Socket>();
  /** Switches so far, with their epoch ms. */
  readonly switches: Array<{ at: number; to: string }> = [];

  private constructor(private readonly server: Server, readonly address: string) {}

  /** Listens on 127.0.0.1 (free port) and forwards to `target` (`host:port`). */
  static async start(target: string): Promise<ClientEndpoint> {
    let self: ClientEndpoint | undefined;
    const server = createServer((client) => self!.accept(client));
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const port = (server.address() as { port: number }).port;
    self = new ClientEndpoint(server, `127.0.0.1:${port}`);
    self.route(target);
    return self;
  }

  /** Where clients go now (`host:port`), or undefined while cut. */
  get current(): string | undefined {
    return this.target ? `${this.target.host}:${this.target.port}` : undefined;
  }

  /** Routes new connections to `target` (or nobody) and resets the open ones. */
  route(target: string | undefined): void {
    if (target !== undefined && !/^\d+\.\d+\.\d+\.\d+:\d+$/.test(target)) {
      throw new Error(`target must be '<ipv4>:<port>', got '${target}'`);
    }
    const [host, port] = target?.split(':') ?? [];
    this.target = target ? { host, port: Number(port) } : undefined;
    this.switches.push({ at: Date.now(), to: target ?? 'cut' });
    for (const s of this.pairs) s.destroy();
    this.pairs.clear();
  }

  private accept(client: Socket): void {
    if (!this.target) {
      client.destroy();
      return;
    }
    const upstream = new Socket();
    upstream.connect(this.target.port, this.target.host);
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(client);
      this.pairs.delete(upstream);
    };
    for (const s of [client, upstream]) {
      this.pairs.add(s);
      s.on('error', close);
      s.on('close', close);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Stops listening and resets every connection. */
  async stop(): Promise<void> {
    this.route(undefined);
    await new Promise<void>((res) => this.server.close(() => res()));
  }
}

/** A Region's server process as a failover {@link RegionFleet}: scale sets 0 or 1 per role. */
export class LocalRegionFleet implements RegionFleet {
  private reachable = true;
  private readonly desired = new Map<TemporalRole, number>();

  constructor(readonly target: LocalRegion) {
    for (const r of LOCAL_ROLES) this.desired.set(r, target.running ? 1 : 0);
  }

  get region(): string {
    return this.target.spec.name;
  }

  /** false: every control call throws RegionUnreachableError (the Region's control plane is cut off). */
  setReachable(reachable: boolean): void {
    this.reachable = reachable;
  }

  private check(): void {
    if (!this.reachable) throw new RegionUnreachableError(this.region, new Error('control plane cut off (local rehearsal)'));
  }

  async describe(): Promise<RoleState[]> {
    this.check();
    const running = this.target.running ? 1 : 0;
    return LOCAL_ROLES.map((role) => ({ role, desired: this.desired.get(role) ?? 0, running }));
  }

  /**
   * Sets one role's count. The local process runs every role, so it runs while any role wants 1
   * and stops (gracefully) when all want 0. internal-frontend is accepted and ignored (plaintext).
   * @throws Error when `desired` is not 0 or 1; RegionUnreachableError when cut off
   */
  async scale(count: RoleCount): Promise<void> {
    this.check();
    if (count.desired !== 0 && count.desired !== 1) {
      throw new Error(`desired of ${count.role} in ${this.region} must be 0 or 1 (one local process per Region), got ${count.desired}`);
    }
    if (count.role === 'internal-frontend') return;
    this.desired.set(count.role, count.desired);
    const want = [...this.desired.values()].some((d) => d > 0);
    if (!want && this.target.running) await this.target.stop();
  }

  async waitSteady(timeoutMs: number): Promise<void> {
    this.check();
    const want = [...this.desired.values()].some((d) => d > 0);
    if (want) await this.target.start(timeoutMs);
    else if (this.target.running) await this.target.stop();
  }
}

/**
 * The database fence of a local Region: revokes the IAM mapping of its database role
 * (`AWS IAM REVOKE`, new logins refused with 28P01) and closes its open sessions. The fence's
 * effect on a live Region is counted by {@link LocalDatabaseFence.sessionsClosed}.
 */
export class LocalDatabaseFence implements DatabaseFence {
  /** Sessions closed by the last applied fence. */
  sessionsClosed = 0;

  constructor(private readonly dsql: DsqlLocal, private readonly regions: readonly LocalRegionSpec[]) {}

  async fence(region: string): Promise<'applied' | 'already'> {
    const spec = this.regions.find((r) => r.name === region);
    if (!spec) throw new Error(`region must be one of ${this.regions.map((r) => r.name).join(', ')}, got '${region}'`);
    const arn = this.dsql.principal(spec.principal);
    const admin = await this.dsql.connect();
    try {
      const mapped = await admin.query('SELECT 1 FROM sys.iam_pg_role_mappings WHERE pg_role_name = $1 AND arn = $2', [spec.dbRole, arn]);
      const sessions = (await this.dsql.state()).connections.filter((c) => c.user === spec.dbRole).length;
      if (mapped.rows.length === 0 && sessions === 0) return 'already';
      if (mapped.rows.length > 0) await admin.query(`AWS IAM REVOKE ${spec.dbRole} FROM '${arn}'`);
    } finally {
      await admin.end();
    }
    this.sessionsClosed = await this.dsql.dropConnections({ user: spec.dbRole });
    return 'applied';
  }
}

/** Options of {@link startLocalRegions}. */
export interface LocalRegionsOptions {
  /** Logs and configs. */
  readonly dir: string;
  /** @default 4 */
  readonly numHistoryShards?: number;
  /** @default 'dsql-multi-region' */
  readonly latencyProfile?: LatencyProfile;
  /** Extra dynamic config YAML of both Regions. @default '' */
  readonly dynamicConfig?: string;
  readonly log?: (m: string) => void;
}

/** The running rehearsal: one database, one OpenSearch node, A running, B configured at 0. */
export interface LocalRegions {
  readonly dsql: DsqlLocal;
  readonly openSearch: LocalOpenSearch;
  readonly a: LocalRegion;
  readonly b: LocalRegion;
  /** The clients' address (routed to A at start). */
  readonly endpoint: ClientEndpoint;
  stop(): Promise<void>;
}

/** The parts of a written server config that name the address a process binds and advertises. */
interface BindableConfig {
  services: Record<string, { rpc: { bindOnIP: string } }>;
  global: { membership: { broadcastAddress: string }; metrics: { prometheus: { listenAddress: string } } };
  clusterMetadata: { clusterInformation: Record<string, { rpcAddress: string; httpAddress: string }> };
}

/** Rewrites a written server config so the process binds and advertises `ip` (the stack's is 127.0.0.1). */
function bindConfigTo(configFile: string, ip: string): void {
  const c = parseYaml(readFileSync(configFile, 'utf8')) as BindableConfig;
  for (const s of Object.values(c.services)) s.rpc.bindOnIP = ip;
  c.global.membership.broadcastAddress = ip;
  c.global.metrics.prometheus.listenAddress = c.global.metrics.prometheus.listenAddress.replace('127.0.0.1', ip);
  for (const info of Object.values(c.clusterMetadata.clusterInformation)) {
    info.rpcAddress = info.rpcAddress.replace('127.0.0.1', ip);
    info.httpAddress = info.httpAddress.replace('127.0.0.1', ip);
  }
  writeFileSync(configFile, stringifyYaml(c));
}

/**
 * Starts the rehearsal: dsql-local (latency profile), the schema with both Regions' logins,
 * OpenSearch with both Regions' indexes, Region A's process and the `default` namespace; Region B
 * is configured, not started. Everything started is stopped on failure.
 */
export async function startLocalRegions(o: LocalRegionsOptions): Promise<LocalRegions> {
  const log = o.log ?? (() => undefined);
  const stops: Array<() => Promise<unknown>> = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const [binary, dsql, os] = await Promise.all([
      buildTemporalServer(),
      startDsqlLocal({ latencyProfile: o.latencyProfile ?? 'dsql-multi-region' }).then((d) => (stops.push(() => d.stop()), d)),
      startOpenSearchLocal().then((n) => (stops.push(() => n.stop()), n)),
    ]);
    log(`dsql-local ${dsql.host}:${dsql.port}, OpenSearch ${os.url}`);
    // The index handler silences console.log while it runs: one index at a time.
    const indexes = (async () => {
      for (const r of REHEARSAL_REGIONS) await applyVisibilityIndex(os.url, r.visibilityIndex);
    })();
    await Promise.all([applySchema(dsql).then(() => grantRegionLogin(dsql, REHEARSAL_REGIONS[1])), indexes]);
    const portsA = await pickServerPorts();
    const portsB = await pickServerPorts();
    const [a, b] = REHEARSAL_REGIONS.map((spec, i) => {
      const ports = i === 0 ? portsA : portsB;
      const dir = join(o.dir, spec.name);
      const { configFile, env } = writeServerConfig({
        dir,
        ports,
        persistence: { kind: 'dsql', hostname: dsql.hostname, port: dsql.port, region: dsql.region, caFile: dsql.caFile, user: spec.dbRole },
        openSearchUrl: os.url,
        visibilityIndex: spec.visibilityIndex,
        numHistoryShards: o.numHistoryShards ?? 4,
        dynamicConfig: o.dynamicConfig,
      });
      bindConfigTo(configFile, spec.ip);
      const cred = dsql.credentials.find((c) => c.principalArn === dsql.principal(spec.principal))!;
      return new LocalRegion(spec, ports, binary, configFile, {
        ...env,
        TEMPORAL_BROADCAST_ADDRESS: spec.ip,
        BIND_ON_IP: spec.ip,
        AWS_ACCESS_KEY_ID: cred.accessKeyId,
        AWS_SECRET_ACCESS_KEY: cred.secretAccessKey,
        AWS_SESSION_TOKEN: '',
        AWS_REGION: dsql.region,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_PROFILE: '',
      }, o.dir);
    });
    stops.push(() => a.stop(5000), () => b.stop(5000));
    log(`starting ${a.spec.name} on ${a.frontendAddress}`);
    await a.start();
    await ensureNamespace(a.frontendAddress, 'default');
    const endpoint = await ClientEndpoint.start(a.frontendAddress);
    stops.push(() => endpoint.stop());
    return { dsql, openSearch: os, a, b, endpoint, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** Creates a Region's database role with the servers' privileges, mapped to its principal (the schema job's ensureServerRole). */
async function grantRegionLogin(dsql: DsqlLocal, spec: LocalRegionSpec): Promise<void> {
  const { DsqlSession } = await import('../lambda/dsql/schema/session');
  const { ensureServerRole } = await import('../lambda/dsql/schema/roles');
  const admin = dsql.credentials.find((c) => c.admin)!;
  const session = new DsqlSession({
    hostname: dsql.hostname, host: dsql.host, port: dsql.port, region: dsql.region, caFile: dsql.caFile,
    credentials: { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey }, applicationName: 'local-regions',
  }, Date.now() + 120_000);
  try {
    await ensureServerRole(session, { roleName: spec.dbRole, iamArns: [dsql.principal(spec.principal)] });
  } finally {
    await session.reset();
  }
}
