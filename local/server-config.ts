/**
 * Our server's configuration for the local stack: its ports, and the config file and environment
 * written from the container template's settings (persistence on dsql-local or a real cluster,
 * OpenSearch, TLS and authorization, archival).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { DsqlLocal } from '../test/support/dsql-local';
import { archivalServerConfig, LocalArchivalOptions } from './archival';
import { applyServerSecurity, ServerSecurityInput } from './auth';
import { ROOT, SERVER_DB_ROLE } from './paths';
import { freePorts } from './process';

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
   * Where the server writes its dynamic config at start (`TEMPORAL_DYNAMIC_CONFIG_FILE`, and the
   * config's `dynamicConfigClient.filepath`), e.g. the image's path inside a read-only sandbox
   * (local/read-only.ts); nothing is written there from here. @default - `<dir>/dynamicconfig.yaml`,
   * also written here
   */
  readonly dynamicConfigFile?: string;
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
  const dynamicConfigFile = o.dynamicConfigFile ?? join(o.dir, 'dynamicconfig.yaml');
  const dynamicYaml = stringifyYaml(dynamic);
  if (!o.dynamicConfigFile) writeFileSync(dynamicConfigFile, dynamicYaml);
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

