/**
 * The benchmark workload: the hello-activity sample (one workflow task, one activity, one more
 * workflow task) run at a fixed concurrency against any Temporal frontend, with a TypeScript SDK
 * worker in this process.
 */
import { Client, Connection, TLSConfig } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import * as activities from '../samples/hello-activity/activities';

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
let runtimeInstalled = false;

/** Bundles the sample workflows once per process (webpack; a few seconds). */
export function helloBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../samples/hello-activity/workflows'), logger: quietLogger });
  return bundle;
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};

/** Options of {@link runHelloWorkload}. */
export interface WorkloadOptions {
  /** Frontend gRPC address, `host:port`. */
  readonly address: string;
  /**
   * TLS and the bearer token for an authenticated frontend, e.g. `connectionOptions(sampleSettings())`
   * from samples/hello-activity/config.ts (TEMPORAL_API_KEY, TEMPORAL_TLS_SERVER_CA_CERT_PATH, ...)
   * or the local stack's `stack.clientOptions`. @default - plaintext, no token
   */
  readonly connection?: { readonly tls?: TLSConfig | boolean; readonly apiKey?: string; readonly metadata?: Record<string, string> };
  /** @default 'default' */
  readonly namespace?: string;
  /** Workflows kept in flight at any time. */
  readonly concurrency: number;
  /** Workflows to complete in the measured phase. */
  readonly workflows: number;
  /** Workflows completed (not measured) before the measured phase. @default 0 */
  readonly warmup?: number;
  /** Called between warm-up and the measured phase (e.g. to reset counters). */
  readonly beforeMeasure?: () => Promise<void>;
}

/** What one measured phase produced. */
export interface WorkloadResult {
  readonly workflows: number;
  readonly failed: number;
  readonly concurrency: number;
  /** Wall time of the measured phase, ms. */
  readonly elapsedMs: number;
  /** Completed workflows per second. */
  readonly throughput: number;
  /** Client-observed start-to-close latency (from the start call to the result), ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Value at quantile `q` (0..1) of ascending-sorted `sorted` (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/**
 * Starts a worker, runs the warm-up and then `workflows` hello workflows with `concurrency` in
 * flight, and returns throughput and latency of the measured phase.
 */
export async function runHelloWorkload(o: WorkloadOptions): Promise<WorkloadResult> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: quietLogger as never });
    runtimeInstalled = true;
  }
  const namespace = o.namespace ?? 'default';
  const taskQueue = `bench-${randomUUID()}`;
  const nativeConnection = await NativeConnection.connect({ ...o.connection, address: o.address });
  const connection = await Connection.connect({ ...o.connection, address: o.address });
  const client = new Client({ connection, namespace });
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace,
    taskQueue,
    workflowBundle: await helloBundle(),
    activities,
    maxConcurrentWorkflowTaskExecutions: Math.max(10, o.concurrency),
    maxConcurrentActivityTaskExecutions: Math.max(10, o.concurrency),
    maxCachedWorkflows: Math.max(100, o.concurrency * 2),
  });
  const running = worker.run();
  try {
    const phase = async (count: number) => {
      const latencies: number[] = [];
      let failed = 0;
      let next = 0;
      const started = Date.now();
      const lane = async () => {
        while (next < count) {
          next++;
          const t = Date.now();
          try {
            const result = await client.workflow.execute('helloActivity', { taskQueue, workflowId: `bench-${randomUUID()}`, args: ['bench'] });
            if (result !== 'Hello, bench!') throw new Error(`unexpected result ${JSON.stringify(result)}`);
            latencies.push(Date.now() - t);
          } catch (e) {
            failed++;
            console.error(`workflow failed: ${(e as Error).message}`);
          }
        }
      };
      await Promise.all(Array.from({ length: o.concurrency }, lane));
      return { latencies: latencies.sort((a, b) => a - b), failed, elapsedMs: Date.now() - started };
    };
    if (o.warmup) await phase(o.warmup);
    await o.beforeMeasure?.();
    const m = await phase(o.workflows);
    return {
      workflows: m.latencies.length,
      failed: m.failed,
      concurrency: o.concurrency,
      elapsedMs: m.elapsedMs,
      throughput: (m.latencies.length * 1000) / m.elapsedMs,
      p50Ms: quantile(m.latencies, 0.5),
      p99Ms: quantile(m.latencies, 0.99),
      maxMs: m.latencies[m.latencies.length - 1] ?? NaN,
    };
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
    await nativeConnection.close();
  }
}
