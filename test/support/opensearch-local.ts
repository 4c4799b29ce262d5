/**
 * Starts and stops a real OpenSearch 2.19 node for tests: the embedded node of opensearch-local/
 * (built by `bash scripts/setup.d/30-opensearch.sh`), on 127.0.0.1 and a free port chosen by the OS,
 * with its data in a fresh temporary directory that stop() removes.
 *
 * Usage (jest):
 * ```ts
 * let os: LocalOpenSearch;
 * beforeAll(async () => { os = await startOpenSearchLocal(); });
 * afterAll(async () => { await os?.stop(); });
 * // os.url === 'http://127.0.0.1:41234'
 * ```
 * The node also stops when this process exits (it watches its stdin), so a crashed test run leaves
 * no server behind. No security plugin: requests are not authenticated and SigV4 headers are ignored
 * (test/support/opensearch-secured.ts starts one with the security plugin).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** A running node. */
export interface LocalOpenSearch {
  /** Base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** HTTP port. */
  readonly port: number;
  /** Milliseconds from spawning the JVM to the node answering on HTTP. */
  readonly startupMs: number;
  /** Stops the node (SIGTERM, SIGKILL after 15 s) and removes its data directory. Idempotent. */
  stop(): Promise<void>;
  /**
   * Stops the JVM (SIGTERM, SIGKILL after 15 s) but keeps its data directory, to simulate an outage;
   * {@link LocalOpenSearch.resume} brings it back. No-op when already paused.
   */
  pause(): Promise<void>;
  /**
   * Starts the node again on the same port with the same data (after {@link LocalOpenSearch.pause})
   * and resolves when the cluster is yellow or green. No-op when running.
   * @throws Error with the node's output when it does not come back within the start timeout
   */
  resume(): Promise<void>;
  /** True while the node is paused. */
  isPaused(): boolean;
}

/** Options for {@link startOpenSearchLocal}. */
export interface LocalOpenSearchOptions {
  /** JVM heap in MiB (-Xms and -Xmx). @default 512 */
  readonly heapMb?: number;
  /** OpenSearch log level printed to stdout/stderr. @default 'WARN' */
  readonly logLevel?: string;
  /** Give up when the node is not up after this many milliseconds. @default 90000 */
  readonly timeoutMs?: number;
  /** Jars appended to the classpath (e.g. the security plugin's). @default [] */
  readonly extraClasspath?: readonly string[];
  /** Plugin classes loaded besides HTTP and scaled_float (`-Dopensearch.local.plugins`). @default [] */
  readonly extraPlugins?: readonly string[];
  /** Writes files into the node's home (`<home>/config/opensearch.yml`, certificates, ...) before the first start. */
  readonly prepareHome?: (home: string) => void;
  /** `Authorization` header for the health wait (a secured node answers 401 without one). */
  readonly healthAuthorization?: string;
}

/** Repository root (this file is test/support/opensearch-local.ts). */
const ROOT = resolve(__dirname, '..', '..');
/** Built by scripts/setup.d/30-opensearch.sh. */
export const OPENSEARCH_LOCAL_DIR = join(ROOT, 'opensearch-local');

/**
 * The java command line for the node, or an error telling how to build it.
 * @throws Error when opensearch-local has not been built.
 */
export function openSearchLocalCommand(homeDir: string, opts: LocalOpenSearchOptions = {}): { cmd: string; args: string[] } {
  const classpathFile = join(OPENSEARCH_LOCAL_DIR, 'target', 'classpath.txt');
  const classes = join(OPENSEARCH_LOCAL_DIR, 'target', 'classes');
  if (!existsSync(classpathFile) || !existsSync(join(classes, 'org', 'opensearch', 'node', 'LocalOpenSearchNode.class'))) {
    throw new Error(`opensearch-local is not built (${classpathFile} missing): run bash scripts/setup.d/30-opensearch.sh`);
  }
  const heap = opts.heapMb ?? 512;
  const classpath = [classes, readFileSync(classpathFile, 'utf8').trim(), ...(opts.extraClasspath ?? [])].join(':');
  return {
    cmd: process.env.JAVA ?? 'java',
    args: [
      `-Xms${heap}m`,
      `-Xmx${heap}m`,
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      `-Dopensearch.local.log.level=${opts.logLevel ?? 'WARN'}`,
      ...(opts.extraPlugins?.length ? [`-Dopensearch.local.plugins=${opts.extraPlugins.join(',')}`] : []),
      '-cp',
      classpath,
      'org.opensearch.node.LocalOpenSearchNode',
      homeDir,
      '0',
    ],
  };
}

/** A spawned JVM and the port it reported. */
interface SpawnedNode {
  readonly child: ChildProcess;
  readonly port: number;
}

/**
 * Spawns the node on `home` and `port` (0 = any free port) and resolves when it reports its port.
 * @throws Error with the node's last output when it exits or does not report a port within `timeoutMs`.
 */
async function spawnNode(home: string, port: number, opts: LocalOpenSearchOptions, timeoutMs: number): Promise<SpawnedNode> {
  const { cmd, args } = openSearchLocalCommand(home, opts);
  args[args.length - 1] = String(port);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stderr.on('data', keep);
  try {
    const reported = await new Promise<number>((resolvePort, reject) => {
      const timer = setTimeout(() => reject(new Error(`OpenSearch did not start within ${timeoutMs} ms; output:\n${output}`)), timeoutMs);
      child.stdout.on('data', (chunk: Buffer) => {
        keep(chunk);
        const m = /OPENSEARCH_HTTP_PORT=(\d+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolvePort(Number(m[1]));
        }
      });
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${cmd}: ${e.message}`));
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`OpenSearch exited (code ${code}, signal ${signal}) before it was up; output:\n${output}`));
      });
    });
    return { child, port: reported };
  } catch (e) {
    await terminate(child);
    throw e;
  }
}

/**
 * Starts a node and resolves when it answers on HTTP.
 * @throws Error with the node's last output when it exits or does not come up within timeoutMs.
 */
export async function startOpenSearchLocal(opts: LocalOpenSearchOptions = {}): Promise<LocalOpenSearch> {
  const home = mkdtempSync(join(tmpdir(), 'opensearch-local-'));
  const timeoutMs = opts.timeoutMs ?? 90000;
  const started = Date.now();
  let node: SpawnedNode | undefined;
  let stopped = false;
  const pause = async () => {
    const n = node;
    node = undefined;
    if (n) await terminate(n.child);
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await pause();
    rmSync(home, { recursive: true, force: true });
  };
  try {
    opts.prepareHome?.(home);
    node = await spawnNode(home, 0, opts, timeoutMs);
    const port = node.port;
    const url = `http://127.0.0.1:${port}`;
    await waitForGreenOrYellow(url, started + timeoutMs, opts.healthAuthorization);
    const resume = async () => {
      if (node || stopped) return;
      const t = Date.now();
      node = await spawnNode(home, port, opts, timeoutMs);
      await waitForGreenOrYellow(url, t + timeoutMs, opts.healthAuthorization);
    };
    return { url, port, startupMs: Date.now() - started, stop, pause, resume, isPaused: () => node === undefined && !stopped };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function waitForGreenOrYellow(url: string, deadline: number, authorization?: string): Promise<void> {
  for (;;) {
    try {
      const r = await fetch(`${url}/_cluster/health?wait_for_status=yellow&timeout=5s`, { headers: authorization ? { authorization } : {} });
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`OpenSearch at ${url} did not become healthy`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
  await exited;
  clearTimeout(timer);
}
