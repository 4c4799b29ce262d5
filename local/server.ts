/**
 * Starts one server process from a written config and waits until its frontend answers; reads
 * Prometheus counters from a server's /metrics.
 */
import { Connection } from '@temporalio/client';
import { tlsClientOptions } from './auth';
import { ManagedProcess, ProcessWrapper, startProcess, tcpOpen, waitFor } from './process';
import type { ServerPorts } from './server-config';

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
 * @param wrap rewrites the command line (a read-only sandbox, local/read-only.ts)
 * @throws Error with the server's log tail when it exits or is not up within `timeoutMs`
 */
export async function startServer(
  binary: string,
  configFile: string,
  ports: ServerPorts,
  logFile: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = 180_000,
  wrap?: ProcessWrapper,
): Promise<ServerHandle> {
  const proc = startProcess({
    name: 'temporal-dsql-server',
    command: binary,
    args: ['--config-file', configFile, 'start'],
    env: { ...process.env, ...env },
    logFile,
    wrap,
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

