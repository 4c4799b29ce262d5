/**
 * One fault scenario of the fault suite: a fresh worker and client on a running local stack, the
 * steady workload around an injected fault, and the checks every scenario ends with
 * (test/faults/workload.ts). Results are logged as one line and appended to
 * test-results/faults/results.jsonl for docs/reliability.md.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LocalStack } from '../../local/stack';
import type { ServerRole } from '../../local/roles';
import { ActivityLedger, describeReport, faultClient, FaultWorker, Workload, WorkloadReport } from './workload';

/** Where scenario results are appended (one JSON object a line). */
export const RESULTS_FILE = join(resolve(__dirname, '..', '..'), 'test-results', 'faults', 'results.jsonl');

/** Timing of a scenario's load around the fault, ms. */
export interface ScenarioTiming {
  /** Load before the fault. @default 8000 */
  readonly beforeMs?: number;
  /** Load after the fault was cleared (process restarted, node resumed). @default 10000 */
  readonly afterMs?: number;
  /** Milliseconds between workflow starts. @default 500 */
  readonly intervalMs?: number;
}

/** A fault: how to inject it, how to clear it (including how long it lasts), what to report. */
export interface Fault {
  inject(): Promise<void>;
  /** Lasts as long as the fault should; resolves once it is cleared. */
  clear(): Promise<void>;
  /** Runs alongside the load after the fault is cleared (e.g. measures a catch-up); merged into the detail. */
  afterClear?(load: Workload, clearedAt: number): Promise<Record<string, unknown>>;
  /** Figures of the fault itself (restart time, counters). */
  detail?(): Promise<Record<string, unknown>>;
}

/** What {@link runScenario} measured. */
export interface ScenarioResult {
  readonly report: WorkloadReport;
  /** Epoch ms of the fault's injection and clearing. */
  readonly injectedAt: number;
  readonly clearedAt: number;
  /**
   * From the injection to the completion of the last workflow started before the fault was cleared
   * (the workflows the fault could hurt), ms.
   */
  readonly recoveryMs: number;
  /** Workflows completed between injection and clearing (did work go on during the fault?). */
  readonly completedDuringFault: number;
  /** Whatever the scenario's `fault` returned. */
  readonly detail: Record<string, unknown>;
}

/**
 * Runs the workload for `beforeMs`, injects the fault with `fault.inject`, keeps the load on while
 * `fault.clear` runs (it decides how long the fault lasts, e.g. 5 s down then restart), keeps it on
 * for `afterMs` more, then verifies everything (see {@link Workload.verify}).
 */
export async function runScenario(
  stack: LocalStack,
  name: string,
  fault: Fault,
  t: ScenarioTiming = {},
): Promise<ScenarioResult> {
  const taskQueue = `faults-${name}`;
  const ledger = new ActivityLedger();
  const worker = await FaultWorker.start(stack, taskQueue, ledger);
  const { client, connection } = await faultClient(stack);
  const load = new Workload(client, taskQueue, { tag: name, intervalMs: t.intervalMs });
  try {
    load.start();
    await new Promise((r) => setTimeout(r, t.beforeMs ?? 8000));
    const injectedAt = Date.now();
    await fault.inject();
    await fault.clear();
    const clearedAt = Date.now();
    const after = fault.afterClear?.(load, clearedAt);
    await new Promise((r) => setTimeout(r, t.afterMs ?? 10_000));
    const afterDetail = (await after) ?? {};
    const report = await load.verify(stack, ledger);
    const affected = load.started.filter((s) => s.startedAt <= clearedAt && s.completedAt !== undefined);
    const recoveryMs = Math.max(0, ...affected.map((s) => s.completedAt! - injectedAt));
    const completedDuringFault = load.started.filter((s) => s.completedAt !== undefined && s.completedAt >= injectedAt && s.completedAt <= clearedAt).length;
    const detail = { ...afterDetail, ...((await fault.detail?.()) ?? {}) };
    const result: ScenarioResult = { report, injectedAt, clearedAt, recoveryMs, completedDuringFault, detail };
    const line = describeReport(name, report, { faultMs: clearedAt - injectedAt, recoveryMs, completedDuringFault, ...detail });
    console.log(line);
    mkdirSync(join(RESULTS_FILE, '..'), { recursive: true });
    appendFileSync(RESULTS_FILE, `${JSON.stringify({ at: new Date().toISOString(), scenario: name, line })}\n`);
    return result;
  } finally {
    await load.stop(); // when the scenario failed half-way
    await worker.stop();
    await connection.close().catch(() => undefined);
  }
}

/** The fault of a server process killed with SIGKILL and started again after `downMs` (default 5 s). */
export function killProcess(stack: LocalStack, role: ServerRole, index = 0, downMs = 5000): Fault {
  let restartMs = 0;
  let killedPid = 0;
  return {
    inject: async () => {
      killedPid = stack.servers.member(role, index).process.pid;
      await stack.servers.kill(role, index);
    },
    clear: async () => {
      await new Promise((r) => setTimeout(r, downMs));
      const t = Date.now();
      await stack.servers.start(role, index);
      restartMs = Date.now() - t;
    },
    detail: async () => ({ killedPid, newPid: stack.servers.member(role, index).process.pid, restartMs }),
  };
}

/** The checks every scenario ends with: nothing lost, histories intact, visibility consistent. */
export function expectIntact(r: ScenarioResult): void {
  expect(r.report.started).toBeGreaterThan(0);
  expect(r.report.lostDetail).toEqual([]);
  expect(r.report.lost).toBe(0);
  expect(r.report.completed).toBe(r.report.started);
  expect(r.report.historyProblems).toEqual([]);
  expect(r.report.visibilityMissing).toBe(0);
  // Each workflow's activity ran at least once (the ledger saw it): completions came from our worker.
  expect(r.report.activityExecutions).toBeGreaterThanOrEqual(r.report.started);
}
