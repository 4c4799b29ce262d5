/**
 * The start-up scaffolding both local modes share (dsql-local in local/stack.ts, a real Aurora DSQL
 * cluster in local/real-cluster.ts): the working directory, the stop list that tears down whatever
 * started when a later step fails, and the Temporal UI server.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './paths';
import { freePorts, ManagedProcess, ProcessWrapper, startProcess, waitFor } from './process';

/**
 * What a start-up has started so far: its directory, its processes and how to stop each part.
 * `stopAll()` stops them in reverse order of `onStop` and is safe to call twice.
 */
export interface StartupScope {
  /** Directory for logs, generated config and state. */
  readonly dir: string;
  /** The processes started so far (for `local:stop` and diagnostics). */
  readonly processes: ManagedProcess[];
  /** Registers how to stop one started part. */
  onStop(stop: () => Promise<void>): void;
  /** Stops every registered part, last registered first; errors are logged, never thrown. */
  stopAll(): Promise<void>;
}

/**
 * Opens a start-up scope: `dir` (created) or a fresh `.local/<prefix>-XXXXXX`.
 * @param o.log receives one line per part that failed to stop
 */
export function openStartupScope(o: { dir?: string; prefix: string; log: (m: string) => void }): StartupScope {
  mkdirSync(join(ROOT, '.local'), { recursive: true });
  const dir = o.dir ?? mkdtempSync(join(ROOT, '.local', `${o.prefix}-`));
  mkdirSync(dir, { recursive: true });
  const stops: Array<() => Promise<void>> = [];
  return {
    dir,
    processes: [],
    onStop: (stop) => { stops.push(stop); },
    stopAll: async () => {
      for (const s of stops.reverse()) await s().catch((e) => o.log(`stop: ${(e as Error).message}`));
      stops.length = 0;
    },
  };
}

/**
 * Runs `body` in a new scope; when it throws, everything the scope started is stopped before the
 * error propagates. The body returns what it built; `stop` of the result is the scope's `stopAll`.
 */
export async function withStartupScope<T>(
  o: { dir?: string; prefix: string; log: (m: string) => void },
  body: (scope: StartupScope) => Promise<T>,
): Promise<T> {
  const scope = openStartupScope(o);
  try {
    return await body(scope);
  } catch (e) {
    await scope.stopAll();
    throw e;
  }
}

/**
 * Starts the Temporal UI server (local/ui-server) against `temporalAddress` on `port` (default a free
 * port), registers it in `scope`, and resolves with its URL once it answers.
 * @throws Error with the UI's log tail when it does not answer within 60 s
 */
export async function startUi(scope: StartupScope, o: {
  binary: string; temporalAddress: string; port?: number; extraArgs?: string[]; wrap?: ProcessWrapper;
}): Promise<string> {
  const port = o.port ?? (await freePorts(1))[0];
  const ui = startProcess({
    name: 'temporal-ui-server',
    command: o.binary,
    args: ['-temporal-address', o.temporalAddress, '-port', String(port), '-namespace', 'default', ...(o.extraArgs ?? [])],
    logFile: join(scope.dir, 'temporal-ui.log'),
    wrap: o.wrap,
  });
  scope.processes.push(ui);
  scope.onStop(() => ui.stop(5_000));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`Temporal UI on ${url}`, async () => (await fetch(`${url}/`)).ok, { timeoutMs: 60_000, proc: ui });
  return url;
}
