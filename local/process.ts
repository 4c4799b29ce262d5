/**
 * Child processes of the local stack: each one is started in its own process group (so that
 * stopping it also stops anything it forked), logs to a file, and is killed when this Node process
 * exits for any reason short of SIGKILL (`npm run local:stop` covers that case from the state file).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';

/**
 * Rewrites a child's command line (and user) before it is spawned, e.g. to run it in a read-only
 * sandbox (local/read-only.ts). Gets the command as the caller gave it.
 */
export type ProcessWrapper = (p: { readonly name: string; readonly command: string; readonly args: readonly string[] }) => {
  readonly command: string;
  readonly args: readonly string[];
  readonly uid?: number;
  readonly gid?: number;
};

/** Options of {@link startProcess}. */
export interface StartProcessOptions {
  /** Short name used in messages, e.g. `temporal-server`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Environment of the child. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** File receiving the child's stdout and stderr (appended). */
  readonly logFile: string;
  /** Run as this uid/gid (PostgreSQL refuses to run as root). @default - the current user */
  readonly uid?: number;
  readonly gid?: number;
  /** Rewrites the command line before spawning (its uid/gid win over `uid`/`gid`). @default - none */
  readonly wrap?: ProcessWrapper;
}

/** A running child process. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code (or signal name) when the child exits. */
  readonly exited: Promise<number | string>;
  /** True once the child has exited. */
  hasExited(): boolean;
  /** The last `bytes` of the log file, for error messages. */
  logTail(bytes?: number): string;
  /**
   * Stops the process group: SIGTERM, then SIGKILL after `graceMs` (default 10000). Idempotent;
   * resolves when the child has exited.
   */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills every live process group we started; runs synchronously from process 'exit'. */
function killAllNow(): void {
  for (const child of live) {
    if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
  }
  live.clear();
}

/** Sends `signal` to the process group `pid` (falls back to the process itself). Never throws. */
export function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/** True if a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Spawns a child in its own process group with output appended to `logFile`.
 * @throws Error naming the command when it cannot be spawned.
 */
export function startProcess(o: StartProcessOptions): ManagedProcess {
  if (!exitHookInstalled) {
    process.on('exit', killAllNow);
    exitHookInstalled = true;
  }
  const run = o.wrap ? o.wrap(o) : o;
  const fd = openSync(o.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(run.command, [...run.args], {
      cwd: o.cwd,
      env: o.env ?? process.env,
      stdio: ['ignore', fd, fd],
      detached: true,
      uid: run.uid ?? o.uid,
      gid: run.gid ?? o.gid,
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) {
    throw new Error(`${o.name}: cannot run '${o.command}' (not found or not executable)`);
  }
  live.add(child);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const pid = child.pid;
  const logTail = (bytes = 4000): string => {
    try {
      const text = readFileSync(o.logFile, 'utf8');
      return text.slice(-bytes);
    } catch {
      return '';
    }
  };
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;
  const stop = async (graceMs = 10_000): Promise<void> => {
    if (hasExited()) {
      killGroup(pid, 'SIGKILL'); // grandchildren left behind by a crashed leader
      return;
    }
    killGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    killGroup(pid, 'SIGKILL');
  };
  return { name: o.name, pid, logFile: o.logFile, exited, hasExited, logTail, stop };
}

/** True when 127.0.0.1:`port` can be bound right now. */
export async function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Lowest port {@link freePort} picks. */
export const PORT_MIN = 20000;
/**
 * Highest port {@link freePort} picks: Temporal stores ports in `cluster_membership.rpc_port`, a
 * SMALLINT, so a server port above 32767 makes the membership upsert fail at start-up. Linux hands
 * out ephemeral ports from 32768 up, so ports in this range never collide with outgoing connections.
 */
export const PORT_MAX = 32767;

/**
 * A free TCP port on 127.0.0.1 between {@link PORT_MIN} and {@link PORT_MAX}, chosen at random and
 * checked by binding it (other engineers' stacks on this machine pick from the same range).
 * @throws Error when no free port is found after 200 tries
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 1));
    if (await canBind(port)) return port;
  }
  throw new Error(`no free TCP port between ${PORT_MIN} and ${PORT_MAX} on 127.0.0.1 after 200 tries`);
}

/**
 * `n` distinct free ports, none of them in `exclude` (ports already handed out but not bound yet:
 * a port is only "free" until its owner binds it).
 */
export async function freePorts(n: number, exclude: Iterable<number> = []): Promise<number[]> {
  const taken = new Set(exclude);
  const ports = new Set<number>();
  while (ports.size < n) {
    const p = await freePort();
    if (!taken.has(p)) ports.add(p);
  }
  return [...ports];
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export async function tcpOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000);
    s.once('connect', () => done(true));
    s.once('timeout', () => done(false));
    s.once('error', () => done(false));
    s.connect(port, host);
  });
}

/**
 * Polls `check` every `intervalMs` until it returns true.
 * @throws Error "<what> not ready after N ms" (with the process's log tail when `proc` is given),
 *   or as soon as `proc` exits.
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  o: { timeoutMs: number; intervalMs?: number; proc?: ManagedProcess },
): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    if (o.proc?.hasExited()) {
      throw new Error(`${what}: ${o.proc.name} exited before it was ready; log ${o.proc.logFile}:\n${o.proc.logTail()}`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      const tail = o.proc ? `; log ${o.proc.logFile}:\n${o.proc.logTail()}` : '';
      throw new Error(`${what} not ready after ${o.timeoutMs} ms${tail}`);
    }
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 250));
  }
}
