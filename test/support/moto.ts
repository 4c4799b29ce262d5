/**
 * Starts and stops a local `moto` server (PyPI package `moto[server]`, pinned in
 * requirements-dev.txt and installed into .venv by scripts/setup.sh): an in-memory stand-in for
 * AWS APIs (S3, Secrets Manager, ACM PCA, ...) on 127.0.0.1 and a free port.
 *
 * It stands in only for what cannot run here (AWS's own services); say so in every test using it.
 * Clients point their SDK at {@link MotoServer.endpoint} with any access key (moto does not check
 * signatures) and `forcePathStyle: true` for S3.
 *
 * Usage (jest):
 * ```ts
 * let moto: MotoServer;
 * beforeAll(async () => { moto = await startMoto(); });
 * afterAll(async () => { await moto?.stop(); });
 * ```
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, ManagedProcess, startProcess, waitFor } from '../../local/process';

/** A running moto server. */
export interface MotoServer {
  /** Base URL, `http://127.0.0.1:<port>`: the endpoint for every AWS SDK client. */
  readonly endpoint: string;
  readonly port: number;
  /** Region the tests should sign for (moto accepts any). */
  readonly region: string;
  /** Credentials to give SDK clients (moto accepts any). */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly process: ManagedProcess;
  /** Stops the server (its state is in memory and is lost). Idempotent. */
  stop(): Promise<void>;
}

/** Path of the moto_server executable in the repository's virtualenv. */
export const MOTO_SERVER_BIN = resolve(__dirname, '..', '..', '.venv', 'bin', 'moto_server');

/**
 * Starts `moto_server` and resolves once it answers HTTP.
 * @throws Error naming the missing executable (run `bash scripts/setup.sh`), or with the log tail
 *   when the server does not answer within `timeoutMs` (default 60000)
 */
export async function startMoto(o: { timeoutMs?: number; logDir?: string } = {}): Promise<MotoServer> {
  const port = await freePort();
  const logDir = o.logDir ?? mkdtempSync(join(tmpdir(), 'moto-'));
  const proc = startProcess({
    name: 'moto_server',
    command: MOTO_SERVER_BIN,
    args: ['-H', '127.0.0.1', '-p', String(port)],
    logFile: join(logDir, 'moto.log'),
  });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`moto server on ${endpoint}`, async () => (await fetch(`${endpoint}/moto-api/`)).status < 500, {
      timeoutMs: o.timeoutMs ?? 60_000,
      proc,
    });
  } catch (e) {
    await proc.stop(2_000);
    throw e;
  }
  let stopped: Promise<void> | undefined;
  return {
    endpoint,
    port,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    process: proc,
    stop: () => (stopped ??= proc.stop(5_000)),
  };
}
