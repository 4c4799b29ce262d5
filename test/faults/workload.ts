/**
 * The fault suite's steady workload and its checks (test/faults/*.test.ts).
 *
 * - {@link FaultWorker}: an SDK worker in the test process whose `greet` activity records every
 *   execution (workflow id, activity id, attempt) in an {@link ActivityLedger}, so duplicate
 *   executions (Temporal's at-least-once delivery) are counted here, not inferred from histories.
 * - {@link Workload}: starts hello-activity and signal/timer workflows alternately at a fixed
 *   interval, follows each to its result (through frontend outages: a lost long poll is retried),
 *   and records start errors.
 * - {@link Workload.verify}: after a scenario, every started workflow must have completed with its
 *   expected result, its history must be intact (event ids 1..n, started first, completed last,
 *   one activity completed with the expected result, the signal and the timer of signal/timer
 *   runs), and its OpenSearch visibility document must eventually say Completed.
 */
import { Client, Connection, WorkflowFailedError, WorkflowHandle } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import type { LocalStack } from '../../local/stack';
import { greet as sampleGreet } from '../../samples/hello-activity/activities';
import { goSignal, helloActivity, signalTimerWorkflow } from './workflows';
import type { FaultActivities } from './workflows';

export type { FaultActivities };

const EventType = temporal.api.enums.v1.EventType;

/** Activities of the fault workflows. */

/** What a worker or client needs of a stack: how to connect, which namespace. */
export type ClientTarget = Pick<LocalStack, 'clientOptions' | 'namespace'>;
/** What the visibility check needs of a stack: its OpenSearch node and index. */
export type VisibilityTarget = Pick<LocalStack, 'openSearchUrl' | 'visibilityIndex'>;

/** One execution of an activity, as seen by the worker. */
export interface ActivityExecution {
  readonly workflowId: string;
  readonly activityId: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Epoch ms. */
  readonly at: number;
}

/** Every activity execution of the test process's worker. */
export class ActivityLedger {
  readonly executions: ActivityExecution[] = [];

  /** The activities the worker registers (they record, then run the sample's code). */
  activities(): FaultActivities {
    return {
      greet: async (name: string) => {
        const info = Context.current().info;
        this.executions.push({ workflowId: info.workflowExecution?.workflowId ?? '', activityId: info.activityId, attempt: info.attempt, at: Date.now() });
        return sampleGreet(name);
      },
    };
  }

  /** Executions of one workflow's activities. */
  of(workflowId: string): ActivityExecution[] {
    return this.executions.filter((e) => e.workflowId === workflowId);
  }
}

/** The SDK worker of a fault scenario. */
export class FaultWorker {
  private constructor(
    readonly worker: Worker,
    private readonly connection: NativeConnection,
    private readonly running: Promise<void>,
  ) {}

  /**
   * Connects with `stack.clientOptions` and runs a worker for `taskQueue` with the fault
   * workflows and the ledger's activities.
   */
  static async start(stack: ClientTarget, taskQueue: string, ledger: ActivityLedger): Promise<FaultWorker> {
    installQuietRuntime();
    const connection = await NativeConnection.connect(stack.clientOptions);
    const worker = await Worker.create({
      connection,
      namespace: stack.namespace,
      taskQueue,
      workflowsPath: require.resolve('./workflows'),
      activities: ledger.activities(),
    });
    const running = worker.run();
    running.catch(() => undefined);
    return new FaultWorker(worker, connection, running);
  }

  /** Shuts the worker down and closes its connection. */
  async stop(): Promise<void> {
    if (this.worker.getState() === 'RUNNING') this.worker.shutdown();
    await this.running.catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}

let runtimeInstalled = false;
/** The SDK's core runtime, logging errors only (once per process). */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const none = () => undefined;
  Runtime.install({ logger: { log: none, trace: none, debug: none, info: none, warn: none, error: (m) => console.error(m) } });
}

/** One workflow the workload started. */
interface Started {
  readonly workflowId: string;
  readonly kind: 'hello' | 'signal-timer';
  /** The activity argument, hence the expected result `Hello, <arg>!`. */
  readonly activityArg: string;
  readonly startedAt: number;
  /** True when the start call failed but the workflow turned out to exist. */
  readonly uncertain: boolean;
  /** Set when the result arrived. */
  completedAt?: number;
  result?: string;
  error?: string;
}

/** Options of {@link Workload}. */
export interface WorkloadOptions {
  /** Milliseconds between two starts (each start is awaited). @default 500 */
  readonly intervalMs?: number;
  /** Timer of the signal/timer workflows, ms. @default 1000 */
  readonly timerMs?: number;
  /** Prefix of workflow ids and names. */
  readonly tag: string;
}

/** What a scenario's workload came to (docs/reliability.md). */
export interface WorkloadReport {
  /** Workflows started (start call succeeded, or failed but the workflow exists). */
  readonly started: number;
  /** Of which completed with the expected result. */
  readonly completed: number;
  /** Started but not completed by the deadline, or failed. Must be 0. */
  readonly lost: number;
  /** Ids of the lost ones with what happened. */
  readonly lostDetail: string[];
  /** Start calls that failed and left no workflow behind. */
  readonly startErrors: number;
  /** Start calls that failed although the workflow was started (counted in `started`). */
  readonly uncertainStarts: number;
  /** History defects found (must be empty). */
  readonly historyProblems: string[];
  /** Workflows whose visibility document never said Completed within the wait (must be 0). */
  readonly visibilityMissing: number;
  /** From the verify call to every visibility document saying Completed, ms. */
  readonly visibilityWaitMs: number;
  /** Activity executions recorded by the worker for these workflows. */
  readonly activityExecutions: number;
  /** Executions beyond one per workflow (at-least-once duplicates). */
  readonly duplicateExecutions: number;
  /** Start-to-result latencies, ms, with their completion times (epoch ms). */
  readonly latencies: ReadonlyArray<{ readonly at: number; readonly ms: number }>;
}

/**
 * A steady load of hello-activity and signal/timer workflows (alternating), one start every
 * `intervalMs`, from {@link start} to {@link stop}.
 */
export class Workload {
  readonly started: Started[] = [];
  private startErrors = 0;
  private running = false;
  private loop?: Promise<void>;
  private readonly pending: Array<Promise<void>> = [];
  private readonly intervalMs: number;
  private readonly timerMs: number;

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly o: WorkloadOptions,
  ) {
    this.intervalMs = o.intervalMs ?? 500;
    this.timerMs = o.timerMs ?? 1000;
  }

  /** Starts the load (returns at once). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      let n = 0;
      while (this.running) {
        const t = Date.now();
        await this.startOne(n++ % 2 === 0 ? 'hello' : 'signal-timer');
        const wait = this.intervalMs - (Date.now() - t);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    })();
  }

  /** Stops starting workflows; resolves when the start in flight has returned. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Runs the load for `ms` (start, wait, stop). */
  async runFor(ms: number): Promise<void> {
    this.start();
    await new Promise((r) => setTimeout(r, ms));
    await this.stop();
  }

  /** Workflows completed so far. */
  completedCount(): number {
    return this.started.filter((s) => s.result !== undefined).length;
  }

  private async startOne(kind: Started['kind']): Promise<void> {
    const workflowId = `${this.o.tag}-${kind}-${randomUUID()}`;
    const name = `${this.o.tag}-${this.started.length}`;
    const activityArg = kind === 'hello' ? name : `${name}/go`;
    const startedAt = Date.now();
    let uncertain = false;
    try {
      if (kind === 'hello') {
        await this.client.workflow.start(helloActivity, { taskQueue: this.taskQueue, workflowId, args: [name] });
      } else {
        await this.client.workflow.signalWithStart(signalTimerWorkflow, {
          taskQueue: this.taskQueue,
          workflowId,
          args: [name, this.timerMs],
          signal: goSignal,
          signalArgs: ['go'],
        });
      }
    } catch {
      // The call failed; the workflow may still have been started (the reply was lost).
      if (!(await this.exists(workflowId))) {
        this.startErrors++;
        return;
      }
      uncertain = true;
    }
    const s: Started = { workflowId, kind, activityArg, startedAt, uncertain };
    this.started.push(s);
    const follow = this.follow(s);
    this.pending.push(follow);
  }

  private async exists(workflowId: string): Promise<boolean> {
    for (let i = 0; i < 60; i++) {
      try {
        await this.client.workflow.getHandle(workflowId).describe();
        return true;
      } catch (e) {
        if ((e as Error).name === 'WorkflowNotFoundError') return false;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    return false;
  }

  /** Waits for the result, retrying lost long polls (frontend down) until the workflow closes. */
  private async follow(s: Started): Promise<void> {
    const handle: WorkflowHandle = this.client.workflow.getHandle(s.workflowId);
    const deadline = Date.now() + 15 * 60_000;
    for (;;) {
      try {
        s.result = (await handle.result()) as string;
        s.completedAt = Date.now();
        return;
      } catch (e) {
        if (e instanceof WorkflowFailedError || Date.now() > deadline) {
          s.error = `${(e as Error).name}: ${(e as Error).message}`;
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /**
   * Waits up to `timeoutMs` for every started workflow's result, then checks histories, visibility
   * (`stack`'s OpenSearch index, up to `visibilityTimeoutMs`) and the ledger.
   */
  async verify(
    stack: VisibilityTarget,
    ledger: ActivityLedger,
    o: { timeoutMs?: number; visibilityTimeoutMs?: number } = {},
  ): Promise<WorkloadReport> {
    await this.stop();
    const deadline = Date.now() + (o.timeoutMs ?? 5 * 60_000);
    while (Date.now() < deadline && this.started.some((s) => s.result === undefined && s.error === undefined)) {
      await new Promise((r) => setTimeout(r, 500));
    }
    const lostDetail: string[] = [];
    let completed = 0;
    for (const s of this.started) {
      if (s.result === `Hello, ${s.activityArg}!`) completed++;
      else lostDetail.push(`${s.workflowId}: ${s.error ?? (s.result === undefined ? 'no result' : `result ${s.result}`)}`);
    }
    const historyProblems: string[] = [];
    for (const s of this.started.filter((x) => x.result !== undefined)) {
      historyProblems.push(...(await this.checkHistory(s)));
    }
    const v = Date.now();
    const missing = await this.waitForVisibility(stack, o.visibilityTimeoutMs ?? 3 * 60_000);
    const visibilityWaitMs = Date.now() - v;
    const ids = new Set(this.started.map((s) => s.workflowId));
    const executions = ledger.executions.filter((e) => ids.has(e.workflowId));
    const perWorkflow = new Map<string, number>();
    for (const e of executions) perWorkflow.set(e.workflowId, (perWorkflow.get(e.workflowId) ?? 0) + 1);
    let duplicateExecutions = 0;
    for (const n of perWorkflow.values()) duplicateExecutions += Math.max(0, n - 1);
    return {
      started: this.started.length,
      completed,
      lost: this.started.length - completed,
      lostDetail,
      startErrors: this.startErrors,
      uncertainStarts: this.started.filter((s) => s.uncertain).length,
      historyProblems,
      visibilityMissing: missing.length,
      visibilityWaitMs,
      activityExecutions: executions.length,
      duplicateExecutions,
      latencies: this.started.filter((s) => s.completedAt !== undefined).map((s) => ({ at: s.completedAt!, ms: s.completedAt! - s.startedAt })),
    };
  }

  private async checkHistory(s: Started): Promise<string[]> {
    const problems: string[] = [];
    const say = (what: string) => problems.push(`${s.workflowId}: ${what}`);
    let events: temporal.api.history.v1.IHistoryEvent[] = [];
    for (let i = 0; ; i++) {
      try {
        events = (await this.client.workflow.getHandle(s.workflowId).fetchHistory()).events ?? [];
        break;
      } catch (e) {
        if (i >= 30) {
          say(`history not readable: ${(e as Error).message}`);
          return problems;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    const ids = events.map((e) => Number(e.eventId));
    if (ids.some((id, i) => id !== i + 1)) say(`event ids not 1..${ids.length}: ${ids.join(',')}`);
    if (events[0]?.eventType !== EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED) say('first event is not WorkflowExecutionStarted');
    const last = events[events.length - 1];
    if (last?.eventType !== EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED) say(`last event is ${EventType[last?.eventType ?? 0]}, not WorkflowExecutionCompleted`);
    const count = (t: temporal.api.enums.v1.EventType) => events.filter((e) => e.eventType === t).length;
    if (count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) !== 1) say(`${count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)} activities scheduled, expected 1`);
    const done = events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
    if (done.length !== 1) say(`${done.length} activities completed, expected 1`);
    else {
      const payload = done[0].activityTaskCompletedEventAttributes?.result?.payloads?.[0];
      const value = payload ? defaultPayloadConverter.fromPayload<string>(payload) : undefined;
      if (value !== `Hello, ${s.activityArg}!`) say(`activity result ${JSON.stringify(value)}, expected "Hello, ${s.activityArg}!"`);
    }
    if (s.kind === 'signal-timer') {
      if (count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) < 1) say('no signal in the history');
      if (count(EventType.EVENT_TYPE_TIMER_FIRED) !== 1) say(`${count(EventType.EVENT_TYPE_TIMER_FIRED)} timers fired, expected 1`);
    }
    return problems;
  }

  /** Polls the visibility index until every started workflow's document says Completed; returns the ids that never did. */
  private async waitForVisibility(stack: VisibilityTarget, timeoutMs: number): Promise<string[]> {
    const want = new Set(this.started.map((s) => s.workflowId));
    const deadline = Date.now() + timeoutMs;
    let missing = [...want];
    for (;;) {
      try {
        missing = await missingCompleted(stack, [...want]);
      } catch {
        // OpenSearch not answering (yet): try again
      }
      if (missing.length === 0 || Date.now() > deadline) return missing;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/**
 * The ids among `workflowIds` whose visibility document in `stack`'s OpenSearch index is missing or
 * not `ExecutionStatus: Completed` (refreshes the index first).
 * @throws Error when OpenSearch does not answer
 */
export async function missingCompleted(stack: VisibilityTarget, workflowIds: readonly string[]): Promise<string[]> {
  const base = `${stack.openSearchUrl}/${stack.visibilityIndex}`;
  const r0 = await fetch(`${base}/_refresh`, { method: 'POST' });
  if (!r0.ok) throw new Error(`refresh: HTTP ${r0.status}`);
  const done = new Set<string>();
  for (let i = 0; i < workflowIds.length; i += 1000) {
    const chunk = workflowIds.slice(i, i + 1000);
    const r = await fetch(`${base}/_search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        size: chunk.length,
        _source: ['WorkflowId', 'ExecutionStatus'],
        query: { bool: { filter: [{ terms: { WorkflowId: chunk } }, { term: { ExecutionStatus: 'Completed' } }] } },
      }),
    });
    if (!r.ok) throw new Error(`search: HTTP ${r.status}`);
    const body = (await r.json()) as { hits: { hits: Array<{ _source: { WorkflowId: string } }> } };
    for (const h of body.hits.hits) done.add(h._source.WorkflowId);
  }
  return workflowIds.filter((id) => !done.has(id));
}

/** A client on `stack.clientOptions`; close its connection when done. */
export async function faultClient(stack: ClientTarget): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect(stack.clientOptions);
  return { client: new Client({ connection, namespace: stack.namespace }), connection };
}

/**
 * Parses Prometheus text and sums the samples of `name` whose labels contain every `labels` pair.
 * @returns 0 when there is no such sample
 */
export function sumSamples(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([0-9.eE+-]+|NaN|\+Inf)$/.exec(line.trim());
    if (!m || m[1] !== name) continue;
    const l = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/** The p-th percentile (0-100) of `values`, nearest rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** One line of a scenario's outcome for the log and docs/reliability.md. */
export function describeReport(scenario: string, r: WorkloadReport, extra: Record<string, unknown> = {}): string {
  const { latencies, lostDetail, historyProblems, ...rest } = r;
  const ms = latencies.map((l) => l.ms);
  return `fault scenario ${scenario}: ${JSON.stringify({
    ...rest,
    p50LatencyMs: percentile(ms, 50),
    p99LatencyMs: percentile(ms, 99),
    ...extra,
    lostDetail: lostDetail.slice(0, 5),
    historyProblems: historyProblems.slice(0, 5),
  })}`;
}
