/**
 * Where the samples find Temporal. One setting, `TEMPORAL_ADDRESS`, decides which cluster they
 * talk to: the local stack (`npm run local` prints its address) or a deployed platform's
 * network load balancer (`<nlb-dns-name>:7233`).
 */
import type { ConnectionOptions } from '@temporalio/client';

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

/** Connection options for `@temporalio/client` `Connection.connect` and `@temporalio/worker` `NativeConnection.connect`. */
export function connectionOptions(s: SampleSettings): Pick<ConnectionOptions, 'address' | 'tls'> {
  return { address: s.address, tls: s.tls ? {} : undefined };
}
