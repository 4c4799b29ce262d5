/**
 * Where the samples find Temporal. One setting, `TEMPORAL_ADDRESS`, decides which cluster they
 * talk to: the local stack (`npm run local` prints its address) or a deployed platform's
 * network load balancer (`<nlb-dns-name>:7233`).
 *
 * Credentials and TLS follow the Temporal SDKs' environment configuration (package
 * `@temporalio/envconfig`; docs.temporal.io, "Environment configuration"): `TEMPORAL_API_KEY`
 * (sent as `authorization: Bearer <key>`: the OIDC access token our frontend checks; turns TLS on),
 * `TEMPORAL_TLS_SERVER_CA_CERT_PATH` (the CA bundle, stack output `TemporalCaBundle`, or the local
 * stack's `tls/ca.pem`), `TEMPORAL_TLS_SERVER_NAME` (`frontend.temporal.internal` when the address
 * is not a name on the certificate), and a `temporal.toml` profile when one exists.
 */
import type { TLSConfig } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';

/** Settings shared by the sample worker and client. */
export interface SampleSettings {
  /** Temporal frontend gRPC address, `host:port`. From `TEMPORAL_ADDRESS`. @default '127.0.0.1:7233' */
  readonly address: string;
  /** Namespace. From `TEMPORAL_NAMESPACE`. @default 'default' */
  readonly namespace: string;
  /** Task queue the worker polls and the client starts workflows on. From `TEMPORAL_TASK_QUEUE`. @default 'hello-activity' */
  readonly taskQueue: string;
  /** Use TLS to the frontend (server certificate checked against system roots). From `TEMPORAL_TLS` (`true`/`false`). @default false */
  readonly tls: boolean;
}

/**
 * Reads the sample settings from an environment.
 * @param env - environment to read; defaults to `process.env`.
 * @throws Error naming the variable and value when a setting is malformed.
 */
export function sampleSettings(env: NodeJS.ProcessEnv = process.env): SampleSettings {
  const address = env.TEMPORAL_ADDRESS || '127.0.0.1:7233';
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(address);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new Error(`TEMPORAL_ADDRESS must be host:port with a port in 1-65535, got '${address}'`);
  }
  const tlsRaw = (env.TEMPORAL_TLS ?? 'false').toLowerCase();
  if (tlsRaw !== 'true' && tlsRaw !== 'false') {
    throw new Error(`TEMPORAL_TLS must be 'true' or 'false', got '${env.TEMPORAL_TLS}'`);
  }
  return {
    address,
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    taskQueue: env.TEMPORAL_TASK_QUEUE || 'hello-activity',
    tls: tlsRaw === 'true',
  };
}

/** What {@link connectionOptions} returns: assignable to `Connection.connect` and `NativeConnection.connect`. */
export interface SampleConnectionOptions {
  readonly address: string;
  readonly tls?: TLSConfig | boolean;
  /** Bearer token (`TEMPORAL_API_KEY`). */
  readonly apiKey?: string;
}

/**
 * Connection options for `@temporalio/client` `Connection.connect` and `@temporalio/worker`
 * `NativeConnection.connect`: the address of `s`, TLS and the API key from the SDK environment
 * configuration of `env` (`TEMPORAL_TLS=true` alone: system roots).
 * @throws Error from `@temporalio/envconfig` when a configured file (CA, TOML profile) cannot be read
 */
export function connectionOptions(s: SampleSettings, env: NodeJS.ProcessEnv = process.env): SampleConnectionOptions {
  const vars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  const { connectionOptions: c } = loadClientConnectConfig({ overrideEnvVars: vars });
  const tls = c.tls ?? (s.tls ? true : undefined);
  return { address: s.address, ...(tls !== undefined ? { tls } : {}), ...(c.apiKey !== undefined ? { apiKey: c.apiKey as string } : {}) };
}
