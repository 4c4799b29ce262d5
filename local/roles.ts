/**
 * The server processes of the local stack, in one of two topologies:
 *
 * - `combined`: one process runs all four roles (frontend, history, matching, worker), the default;
 * - `per-role`: one process per role, as the ECS services run them, with `historyProcesses` history
 *   processes sharing the shards. Every process has its own config file (its own gRPC, membership
 *   and metrics ports) and finds the others through Temporal's membership ring, which every role
 *   bootstraps from the `cluster_membership` table of the shared DSQL database; all processes
 *   broadcast 127.0.0.1.
 *
 * Each process can be killed with SIGKILL and started again on the same ports and config
 * ({@link ServerFleet.kill}, {@link ServerFleet.start}) for the fault suite (test/faults/).
 * A role is selected in a process by the server's `SERVICES` environment variable (the same
 * variable the ECS task definitions set; cmd/temporal-dsql-server reads it when `--service` is
 * absent).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { freePort, killGroup, ManagedProcess, ProcessWrapper, startProcess, tcpOpen, waitFor } from './process';
import { startServer } from './server';
import { ServerConfigInput, ServerPorts, writeServerConfig } from './server-config';

/** How the server roles are laid out in processes. */
export type ServerTopology = 'combined' | 'per-role';
/** Allowed topologies (for option checks). */
export const SERVER_TOPOLOGIES: readonly ServerTopology[] = ['combined', 'per-role'];
/** A Temporal server role; `all` is the combined process. */
export type ServerRole = 'frontend' | 'history' | 'matching' | 'worker' | 'all';
/** Most history processes {@link startServerFleet} starts (each owns a share of the shards). */
export const MAX_HISTORY_PROCESSES = 8;

/** One server process of the fleet (its current incarnation). */
export interface ServerMember {
  /** `all`, or the role this process runs. */
  readonly role: ServerRole;
  /** 0-based index among the processes of this role (history may have several). */
  readonly index: number;
  /** Process name in logs and messages, e.g. `temporal-history-1`. */
  readonly name: string;
  /** The ports of this process's config (only its own role's gRPC/membership ports are bound). */
  readonly ports: ServerPorts;
  /** Its Prometheus endpoint, `http://127.0.0.1:<port>/metrics`. */
  readonly metricsUrl: string;
  /** Its config file. */
  readonly configFile: string;
  /** The server binary this process runs (changed by {@link ServerFleet.replace}). */
  readonly binary: string;
  /** The running process, or the last one when killed. Replaced on each {@link ServerFleet.start}. */
  readonly process: ManagedProcess;
  /** True between a kill and the next start. */
  readonly down: boolean;
}

/** The server processes of a local stack. */
export interface ServerFleet {
  readonly topology: ServerTopology;
  /** Frontend gRPC address, `127.0.0.1:<port>`. */
  readonly address: string;
  /** Metrics endpoint of the frontend (or combined) process. */
  readonly metricsUrl: string;
  /** Every process, frontend (or combined) first. */
  readonly members: readonly ServerMember[];
  /**
   * The process running `role` (index `index`).
   * @throws Error naming the roles present when there is no such process
   */
  member(role: ServerRole, index?: number): ServerMember;
  /**
   * Kills the process with SIGKILL (its whole process group, as `kill -9`) and resolves when it
   * has exited. No-op when it is already down.
   */
  kill(role: ServerRole, index?: number): Promise<void>;
  /**
   * Starts the process again with the same config and ports and resolves when its gRPC port
   * accepts connections (the frontend: when GetSystemInfo answers). No-op when it is running.
   * @throws Error with the process's log tail when it exits or is not up within `timeoutMs` (default 180 s)
   */
  start(role: ServerRole, index?: number, timeoutMs?: number): Promise<void>;
  /**
   * Replaces one process as an ECS rolling deployment replaces a task: stops it gracefully
   * (SIGTERM, SIGKILL after `graceMs`, default 20 s; ECS's stopTimeout is 30 s), then starts
   * `binary` with the same config and ports and resolves when it is up, as {@link start} does.
   * Here the new process starts only after the old one has exited (they share ports); on ECS the new
   * task starts first. Other roles keep running, so two binaries serve side by side.
   * @returns milliseconds spent stopping and starting
   * @throws Error as {@link start} does; the member is then down
   */
  replace(role: ServerRole, index: number, binary: string, graceMs?: number): Promise<{ stopMs: number; startMs: number }>;
  /** Stops every process (SIGTERM, SIGKILL after `graceMs`, default 20 s). */
  stop(graceMs?: number): Promise<void>;
}

/** Options of {@link startServerFleet}. */
export interface ServerFleetOptions {
  /** The server binary (.cache/bin/temporal-dsql-server). */
  readonly binary: string;
  /** The config of the combined process; per-role processes get a copy each with their own ports and directory. */
  readonly config: ServerConfigInput;
  /** Extra environment (AWS credentials for token signing) on top of process.env and the config's. */
  readonly env: NodeJS.ProcessEnv;
  /** Directory of the log files (`<name>.log`). */
  readonly logDir: string;
  /** @default 'combined' */
  readonly topology?: ServerTopology;
  /** History processes in the `per-role` topology, 1-{@link MAX_HISTORY_PROCESSES}. @default 1 */
  readonly historyProcesses?: number;
  /** Rewrites every server command line (a read-only sandbox, local/read-only.ts). @default - none */
  readonly wrap?: ProcessWrapper;
}

interface MemberState {
  role: ServerRole;
  index: number;
  name: string;
  ports: ServerPorts;
  metricsUrl: string;
  configFile: string;
  env: NodeJS.ProcessEnv;
  binary: string;
  process?: ManagedProcess;
  down: boolean;
}

/**
 * Checks the topology options.
 * @throws Error naming the option, the value and what is allowed
 */
export function checkTopology(topology: string, historyProcesses: number): void {
  if (!(SERVER_TOPOLOGIES as readonly string[]).includes(topology)) {
    throw new Error(`topology must be one of ${SERVER_TOPOLOGIES.join(', ')}, got '${topology}'`);
  }
  if (!Number.isInteger(historyProcesses) || historyProcesses < 1 || historyProcesses > MAX_HISTORY_PROCESSES) {
    throw new Error(`historyProcesses must be an integer from 1 to ${MAX_HISTORY_PROCESSES}, got ${historyProcesses}`);
  }
  if (topology === 'combined' && historyProcesses !== 1) {
    throw new Error(`historyProcesses = ${historyProcesses} needs topology 'per-role' (the combined process runs one history)`);
  }
}

/**
 * Starts the server processes and resolves when all of them are up (on failure, the ones already
 * started are stopped).
 * @throws Error from {@link checkTopology}, or with a process's log tail when it does not come up
 */
export async function startServerFleet(o: ServerFleetOptions): Promise<ServerFleet> {
  const topology = o.topology ?? 'combined';
  const historyProcesses = o.historyProcesses ?? 1;
  checkTopology(topology, historyProcesses);
  const base = o.config.ports;
  const states: MemberState[] = [];
  const add = (role: ServerRole, index: number, name: string, ports: ServerPorts, dir: string, services?: string) => {
    const { configFile, env } = writeServerConfig({ ...o.config, dir, ports });
    // The frontend process also runs the internal-frontend when the config has one (authenticated
    // mode), as the ECS frontend task does (lib/services/temporal-services.ts).
    if (services === 'frontend' && (parseYaml(readFileSync(configFile, 'utf8')) as { services?: Record<string, unknown> }).services?.['internal-frontend']) {
      services = 'frontend,internal-frontend';
    }
    states.push({
      role,
      index,
      name,
      ports,
      configFile,
      env: { ...env, ...o.env, ...(services ? { SERVICES: services } : {}) },
      metricsUrl: `http://127.0.0.1:${ports.metrics}/metrics`,
      binary: o.binary,
      down: true,
    });
  };
  if (topology === 'combined') {
    add('all', 0, 'temporal-server', base, o.config.dir);
  } else {
    // frontend, history x N, matching, worker: each its own metrics port; extra history processes
    // their own gRPC and membership ports.
    // Ports the stack picked but has not bound yet (the base ports, internal-frontend's) are free
    // to a bind test, so they are read from the base config and left out.
    const baseConfig = writeServerConfig({ ...o.config, dir: join(o.config.dir, 'frontend'), ports: base }).configFile;
    const taken = new Set([...readFileSync(baseConfig, 'utf8').matchAll(/(?:[pP]ort: |127\.0\.0\.1:)(\d+)/g)].map((m) => Number(m[1])));
    const extra: number[] = [];
    while (extra.length < 3 + historyProcesses + 2 * (historyProcesses - 1)) {
      const p = await freePort();
      if (!taken.has(p) && !extra.includes(p)) extra.push(p);
    }
    const metrics = extra.splice(0, 3 + historyProcesses);
    add('frontend', 0, 'temporal-frontend', { ...base, metrics: base.metrics }, join(o.config.dir, 'frontend'), 'frontend');
    for (let i = 0; i < historyProcesses; i++) {
      const ports = i === 0 ? base : { ...base, history: extra[2 * (i - 1)], historyMembership: extra[2 * (i - 1) + 1] };
      add('history', i, `temporal-history-${i}`, { ...ports, metrics: metrics[i] }, join(o.config.dir, `history-${i}`), 'history');
    }
    add('matching', 0, 'temporal-matching', { ...base, metrics: metrics[historyProcesses] }, join(o.config.dir, 'matching'), 'matching');
    add('worker', 0, 'temporal-worker', { ...base, metrics: metrics[historyProcesses + 1] }, join(o.config.dir, 'worker'), 'worker');
  }

  const find = (role: ServerRole, index = 0): MemberState => {
    const m = states.find((s) => s.role === role && s.index === index);
    if (!m) throw new Error(`no ${role} process ${index} in this ${topology} stack; processes: ${states.map((s) => s.name).join(', ')}`);
    return m;
  };
  const launch = async (m: MemberState, timeoutMs = 180_000) => {
    if (!m.down) return;
    const logFile = join(o.logDir, `${m.name}.log`);
    if (m.role === 'all' || m.role === 'frontend') {
      m.process = (await startServer(m.binary, m.configFile, m.ports, logFile, m.env, timeoutMs, o.wrap)).process;
    } else {
      const proc = startProcess({
        name: m.name,
        command: m.binary,
        args: ['--config-file', m.configFile, 'start'],
        env: { ...process.env, ...m.env },
        logFile,
        wrap: o.wrap,
      });
      const port = m.role === 'history' ? m.ports.history : m.role === 'matching' ? m.ports.matching : m.ports.worker;
      try {
        await waitFor(`${m.name} on 127.0.0.1:${port}`, () => tcpOpen(port), { timeoutMs, proc });
      } catch (e) {
        await proc.stop();
        throw e;
      }
      m.process = proc;
    }
    m.down = false;
  };
  const kill = async (m: MemberState) => {
    if (m.down || !m.process) return;
    m.down = true;
    killGroup(m.process.pid, 'SIGKILL');
    await m.process.exited;
  };
  const stopAll = async (graceMs = 20_000) => {
    await Promise.all(
      states.map(async (m) => {
        m.down = true;
        await m.process?.stop(graceMs);
      }),
    );
  };

  try {
    // The first process alone: on an empty database each process writes the initial cluster
    // metadata row, and upstream exits a process whose conditional insert lost that race ("Failed to
    // apply cluster metadata"; ECS would restart it). The others then start together and find each
    // other through the membership ring.
    await launch(states[0]);
    await Promise.all(states.slice(1).map((m) => launch(m)));
  } catch (e) {
    await stopAll(5_000);
    throw e;
  }
  const view = (m: MemberState): ServerMember => ({
    role: m.role,
    index: m.index,
    name: m.name,
    ports: m.ports,
    metricsUrl: m.metricsUrl,
    configFile: m.configFile,
    binary: m.binary,
    process: m.process!,
    down: m.down,
  });
  return {
    topology,
    address: `127.0.0.1:${base.frontend}`,
    metricsUrl: states[0].metricsUrl,
    get members() {
      return states.map(view);
    },
    member: (role, index = 0) => view(find(role, index)),
    kill: (role, index = 0) => kill(find(role, index)),
    start: (role, index = 0, timeoutMs) => launch(find(role, index), timeoutMs),
    replace: async (role, index, binary, graceMs = 20_000) => {
      const m = find(role, index);
      let t = Date.now();
      if (!m.down) {
        m.down = true;
        await m.process?.stop(graceMs);
      }
      const stopMs = Date.now() - t;
      t = Date.now();
      m.binary = binary;
      await launch(m);
      return { stopMs, startMs: Date.now() - t };
    },
    stop: stopAll,
  };
}
