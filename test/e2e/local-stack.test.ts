/**
 * End-to-end tests of the whole platform on one machine: the local stack (local/stack.ts) started
 * here, on free loopback ports, with real parts only: dsql-local over PostgreSQL, an OpenSearch
 * node, the schema applied by our migration runner, the index by our index handler, our Temporal
 * DSQL server (all four roles), the UI server, a TypeScript SDK worker and client, and Debian's
 * Chromium for a screenshot of the UI.
 *
 * dsql-local runs with a shortened connection age and the server signs short-lived IAM tokens, so
 * that one workflow outlives both. The UI screenshot is kept at test-results/e2e/ui-workflow.png
 * (CI artifact); the stack's logs at test-results/e2e/stack/.
 */
import { Client, Connection, WorkflowExecutionDescription } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { Client as OpenSearch } from '@opensearch-project/opensearch';
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readCounter } from '../../local/server';
import { LocalStack, startLocalStack } from '../../local/stack';
import { childrenOf } from '../../local/state';
import { isAlive } from '../../local/process';
import { screenshot } from '../../local/screenshot';
import * as activities from './activities';
import { approvalWorkflow, approveSignal, helloActivity, longRunningWorkflow, stageQuery } from './workflows';

const ROOT = resolve(__dirname, '..', '..');
/** CI artifacts (README names these paths). */
const ARTIFACTS = join(ROOT, 'test-results', 'e2e');
const SCREENSHOT = join(ARTIFACTS, 'ui-workflow.png');

/** dsql-local closes every connection at this age (DSQL: 60 min). */
const CONN_AGE_S = 15;
/** Lifetime of the IAM tokens the server signs (default 15 min). */
const TOKEN_LIFETIME_S = 10;
const TASK_QUEUE = 'e2e';
const EventType = temporal.api.enums.v1.EventType;

/** Number of events of `type` in a history. */
function countEvents(events: temporal.api.history.v1.IHistoryEvent[], type: temporal.api.enums.v1.EventType): number {
  return events.filter((e) => e.eventType === type).length;
}

let stack: LocalStack;
let connection: Connection;
let client: Client;
let nativeConnection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;
let os: OpenSearch;
let stackChildren: Array<{ pid: number; command: string }> = [];
const timings: Record<string, number> = {};
const startupLog: string[] = [];

jest.setTimeout(5 * 60_000);

beforeAll(async () => {
  rmSync(ARTIFACTS, { recursive: true, force: true });
  const t = Date.now();
  stack = await startLocalStack({
    dir: join(ARTIFACTS, 'stack'),
    dsql: { maxConnAgeSeconds: CONN_AGE_S },
    tokenLifetimeSeconds: TOKEN_LIFETIME_S,
    log: (m) => startupLog.push(m),
  });
  timings.stackStart = Date.now() - t;
  stackChildren = childrenOf(process.pid).filter((c) => /dsql-local|opensearch|temporal-dsql-server|temporal-ui-server/.test(c.command));
  Runtime.install({ logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => console.error(m) } });
  connection = await Connection.connect(stack.clientOptions);
  client = new Client({ connection, namespace: stack.namespace });
  nativeConnection = await NativeConnection.connect(stack.clientOptions);
  const tw = Date.now();
  worker = await Worker.create({
    connection: nativeConnection,
    namespace: stack.namespace,
    taskQueue: TASK_QUEUE,
    workflowsPath: require.resolve('./workflows'),
    activities,
  });
  timings.workerBundle = Date.now() - tw;
  workerRun = worker.run();
  os = new OpenSearch({ node: stack.openSearchUrl });
}, 20 * 60_000);

afterAll(async () => {
  if (worker && worker.getState() === 'RUNNING') {
    worker.shutdown();
    await workerRun.catch(() => undefined);
  }
  await workerRun?.catch(() => undefined);
  await nativeConnection?.close();
  await connection?.close();
  await stack?.stop();
  console.log(`e2e timings (ms): ${JSON.stringify({ ...timings, ...stack?.timings })}\nstack start-up:\n${startupLog.join('\n')}`);
}, 120_000);

/** Polls `fn` until it returns a value that is not undefined, or fails after `timeoutMs`. */
async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not true after ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The visibility document of one run, straight from the OpenSearch index. */
async function visibilityDoc(workflowId: string): Promise<Record<string, unknown> | undefined> {
  await os.indices.refresh({ index: stack.visibilityIndex });
  const r = await os.search({ index: stack.visibilityIndex, body: { query: { term: { WorkflowId: workflowId } } } });
  const hits = r.body.hits.hits as Array<{ _source: Record<string, unknown> }>;
  return hits.length === 0 ? undefined : hits[0]._source;
}

async function runHello(name: string): Promise<{ workflowId: string; runId: string; result: string }> {
  const workflowId = `hello-${randomUUID()}`;
  const handle = await client.workflow.start(helloActivity, { taskQueue: TASK_QUEUE, workflowId, args: [name] });
  const result = await handle.result();
  return { workflowId, runId: handle.firstExecutionRunId, result };
}

let hello: { workflowId: string; runId: string; result: string };
let approval: { workflowId: string; runId: string };

test('a workflow with an activity completes', async () => {
  hello = await runHello('e2e');
  expect(hello.result).toBe('Hello, e2e!');
  const d: WorkflowExecutionDescription = await client.workflow.getHandle(hello.workflowId).describe();
  expect(d.status.name).toBe('COMPLETED');
  expect(d.type).toBe('helloActivity');
});

test('the workflow is listed and counted through visibility, GROUP BY ExecutionStatus included', async () => {
  const listed = await eventually('workflow listed', async () => {
    const found = [];
    for await (const w of client.workflow.list({ query: `WorkflowId = '${hello.workflowId}'` })) found.push(w);
    return found.length === 1 && found[0].status.name === 'COMPLETED' ? found : undefined;
  });
  expect(listed[0].runId).toBe(hello.runId);
  expect(listed[0].type).toBe('helloActivity');

  const count = await client.workflow.count(`WorkflowType = 'helloActivity' AND ExecutionStatus = 'Completed'`);
  expect(count.count).toBeGreaterThanOrEqual(1);

  const grouped = await client.workflow.count('GROUP BY ExecutionStatus');
  console.log(`count GROUP BY ExecutionStatus: ${JSON.stringify(grouped)}`);
  // Group values are search attribute payloads: 'Completed' (typed as an array by the SDK).
  const completed = grouped.groups.find((g) => (g.groupValues as unknown[]).flat().map(String).includes('Completed'));
  expect(completed?.count).toBeGreaterThanOrEqual(1);
  expect(grouped.groups.reduce((n, g) => n + g.count, 0)).toBe(grouped.count);
});

test('its visibility document is in the OpenSearch index', async () => {
  const doc = await eventually('document indexed', () => visibilityDoc(hello.workflowId));
  expect(doc).toMatchObject({
    WorkflowId: hello.workflowId,
    RunId: hello.runId,
    WorkflowType: 'helloActivity',
    ExecutionStatus: 'Completed',
    TaskQueue: TASK_QUEUE,
  });
  expect(typeof doc.CloseTime).toBe('string');
});

test('signals, queries, timers and a child workflow work', async () => {
  const workflowId = `approval-${randomUUID()}`;
  const timerMs = 2000;
  const handle = await client.workflow.start(approvalWorkflow, { taskQueue: TASK_QUEUE, workflowId, args: ['Ada', timerMs] });
  approval = { workflowId, runId: handle.firstExecutionRunId };
  expect(await handle.query(stageQuery)).toBe('waiting-for-approval');
  await handle.signal(approveSignal, 'ops');
  expect(await handle.result()).toBe('Hello, Ada! (approved by ops)');
  expect(await handle.query(stageQuery)).toBe('done');

  const events = (await handle.fetchHistory()).events ?? [];
  expect(countEvents(events, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)).toBe(1);
  expect(countEvents(events, EventType.EVENT_TYPE_TIMER_FIRED)).toBe(1);
  expect(countEvents(events, EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED)).toBe(1);
  const timerStarted = events.find((e) => e.eventType === EventType.EVENT_TYPE_TIMER_STARTED);
  expect(Number(timerStarted?.timerStartedEventAttributes?.startToFireTimeout?.seconds)).toBe(timerMs / 1000);

  const childId = events.find((e) => e.eventType === EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED)
    ?.childWorkflowExecutionCompletedEventAttributes?.workflowExecution?.workflowId;
  expect(childId).toBeTruthy();
  const child = await client.workflow.getHandle(childId!).describe();
  expect(child.status.name).toBe('COMPLETED');
  expect(child.parentExecution?.workflowId).toBe(workflowId);
});

test("a deleted workflow's visibility document disappears", async () => {
  const w = await runHello('to be deleted');
  await eventually('document indexed', () => visibilityDoc(w.workflowId));
  await connection.workflowService.deleteWorkflowExecution({
    namespace: stack.namespace,
    workflowExecution: { workflowId: w.workflowId, runId: w.runId },
  });
  // Deletion runs through the history service's task queues: allow for a loaded CI machine.
  await eventually('document removed', async () => ((await visibilityDoc(w.workflowId)) === undefined ? true : undefined), 150_000);
  await expect(client.workflow.getHandle(w.workflowId, w.runId).describe()).rejects.toThrow(/not found/i);
});

test('a run longer than the token lifetime and the connection age loses nothing', async () => {
  // The premise: dsql-local refuses an expired token, so reconnecting needs a freshly signed one.
  const staleToken = await stack.dsql.token({ user: 'temporal_server', expiresIn: 1 });
  await new Promise((r) => setTimeout(r, 2500));
  await expect(stack.dsql.connect({ user: 'temporal_server', password: staleToken })).rejects.toMatchObject({ code: '28P01' });

  const steps = 6;
  const sleepMs = 5000; // 6 x (5 s timer + activity) ~ 32 s > 15 s connection age > 10 s token lifetime
  const t0 = Date.now();
  const opened0 = await readCounter(stack.metricsUrl, 'dsql_connections_opened');
  const handle = await client.workflow.start(longRunningWorkflow, {
    taskQueue: TASK_QUEUE,
    workflowId: `long-${randomUUID()}`,
    args: [steps, sleepMs],
  });
  // Meanwhile, short workflows keep the persistence busy while connections are closed under them.
  const side: Array<Promise<{ result: string }>> = [];
  while (Date.now() - t0 < (CONN_AGE_S + 5) * 1000) {
    side.push(runHello('during reconnects'));
    await new Promise((r) => setTimeout(r, 1000));
  }
  expect(await handle.result()).toBe(steps);
  const elapsedS = (Date.now() - t0) / 1000;
  expect(elapsedS).toBeGreaterThan(CONN_AGE_S + TOKEN_LIFETIME_S);
  for (const r of await Promise.all(side)) expect(r.result).toBe('Hello, during reconnects!');

  const events = (await handle.fetchHistory()).events ?? [];
  // Event ids are contiguous 1..n: nothing lost, nothing duplicated.
  expect(events.map((e) => Number(e.eventId))).toEqual(events.map((_, i) => i + 1));
  expect(countEvents(events, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)).toBe(steps);
  expect(countEvents(events, EventType.EVENT_TYPE_TIMER_FIRED)).toBe(steps);

  // The server really did reconnect (each new connection signs a fresh token), and every open
  // connection is younger than the run: the ones from before were closed by dsql-local.
  expect(await readCounter(stack.metricsUrl, 'dsql_connections_opened')).toBeGreaterThan(opened0);
  const state = await stack.dsql.state();
  const serverConns = state.connections.filter((c) => c.user === 'temporal_server');
  expect(serverConns.length).toBeGreaterThan(0);
  for (const c of serverConns) expect(Date.parse(c.connectedAt)).toBeGreaterThan(t0);
});

test('OCC conflicts injected at a steady rate during load leave no workflow failed', async () => {
  const conflicts0 = await readCounter(stack.metricsUrl, 'dsql_occ_conflicts');
  await stack.dsql.failCommits(0.1, 'OC000'); // every 10th COMMIT fails with 40001 (OC000)
  let results: Array<{ result: string }>;
  try {
    const total = 60;
    const concurrency = 10;
    results = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          next++;
          results.push(await runHello('under conflicts'));
        }
      }),
    );
  } finally {
    await stack.dsql.clearFaults();
  }
  expect(results.length).toBe(60);
  for (const r of results) expect(r.result).toBe('Hello, under conflicts!');
  const conflicts = (await readCounter(stack.metricsUrl, 'dsql_occ_conflicts')) - conflicts0;
  console.log(`OCC conflicts seen by the server during the load: ${conflicts}`);
  expect(conflicts).toBeGreaterThan(0);
  const failed = await client.workflow.count(`ExecutionStatus = 'Failed'`);
  expect(failed.count).toBe(0);
});

/** What one fault scenario produced (docs/reliability.md). */
interface FaultOutcome {
  started: number;
  completed: number;
  /** Start calls the client gave up on (nothing started, so nothing to lose). */
  startErrors: number;
  /** From the moment the fault was cleared to the last started workflow's result, ms. */
  recoveryMs: number;
  /** Activity attempts beyond the first, over all started workflows (at-least-once retries). */
  retriedActivities: number;
}

/**
 * A steady load during a dsql-local fault: one hello workflow started every 250 ms for the fault
 * window plus 5 s; `inject` at the start, `clear` after `faultMs`. Every started workflow must then
 * complete with its result; the outcome is logged for docs/reliability.md.
 */
async function underFault(name: string, faultMs: number, inject: () => Promise<unknown>, clear: () => Promise<unknown>): Promise<FaultOutcome> {
  const handles: Array<{ workflowId: string; result: Promise<string> }> = [];
  let startErrors = 0;
  const t0 = Date.now();
  await inject();
  let clearedAt = 0;
  const clearing = new Promise<void>((resolveClear) =>
    setTimeout(() => {
      clear().finally(() => {
        clearedAt = Date.now();
        resolveClear();
      });
    }, faultMs),
  );
  try {
    while (Date.now() - t0 < faultMs + 5000) {
      const workflowId = `fault-${name}-${randomUUID()}`;
      try {
        const h = await client.workflow.start(helloActivity, { taskQueue: TASK_QUEUE, workflowId, args: [name] });
        const result = h.result();
        result.catch(() => undefined);
        handles.push({ workflowId, result });
      } catch {
        startErrors++;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await clearing;
  }
  const results = await Promise.all(handles.map((h) => h.result));
  const recoveryMs = Date.now() - clearedAt;
  let retriedActivities = 0;
  for (const h of handles) {
    const { events } = await client.workflow.getHandle(h.workflowId).fetchHistory();
    for (const e of events ?? []) {
      if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED) retriedActivities += Math.max(0, (e.activityTaskStartedEventAttributes?.attempt ?? 1) - 1);
    }
  }
  const outcome = { started: handles.length, completed: results.filter((r) => r === `Hello, ${name}!`).length, startErrors, recoveryMs, retriedActivities };
  console.log(`fault scenario ${name} (${faultMs} ms): ${JSON.stringify(outcome)}`);
  return outcome;
}

describe('dsql-local faults during a steady load: every started workflow completes', () => {
  const WINDOW_MS = 30_000;
  const check = (o: FaultOutcome) => {
    expect(o.started).toBeGreaterThan(0);
    expect(o.completed).toBe(o.started);
  };

  /** How much a server counter grew while fn ran: proof that the fault reached the server. */
  const counterGrowth = async (metric: string, fn: () => Promise<void>) => {
    const before = await readCounter(stack.metricsUrl, metric);
    await fn();
    return (await readCounter(stack.metricsUrl, metric)) - before;
  };

  test('all connections dropped at once', async () => {
    const reopened = await counterGrowth('dsql_connections_opened', async () =>
      check(await underFault('dropped', 5_000, () => stack.dsql.dropConnections(), async () => undefined)),
    );
    expect(reopened).toBeGreaterThan(0);
  });

  test("new connections refused with DSQL's 53400 for 30 s (connections age out meanwhile)", async () => {
    // Connections live CONN_AGE_S (15 s) here, so the server has to open new ones in the window.
    const retried = await counterGrowth('dsql_connect_retries', async () =>
      check(await underFault('rate-refused', WINDOW_MS, () => stack.dsql.refuseConnections(WINDOW_MS / 1000, 'rate'), () => stack.dsql.refuseConnections(0))),
    );
    expect(retried).toBeGreaterThan(0);
  });

  test('30 % of COMMITs fail with OC000 for 30 s', async () => {
    const conflicts = await counterGrowth('dsql_occ_conflicts', async () =>
      check(await underFault('occ-burst', WINDOW_MS, () => stack.dsql.failCommits(0.3, 'OC000'), () => stack.dsql.clearFaults())),
    );
    expect(conflicts).toBeGreaterThan(0);
  });

  test('commit latency raised to 200 ms for 30 s', async () => {
    check(await underFault('slow-commits', WINDOW_MS, () => stack.dsql.setLatency({ commitMs: 200, jitter: 0 }), () => stack.dsql.setLatency({ commitMs: 0 })));
  });
});

test('a headless Chromium screenshot of the UI shows the workflow', async () => {
  const url = `${stack.uiUrl}/namespaces/${stack.namespace}/workflows/${approval.workflowId}/${approval.runId}/history`;
  const shot = await screenshot({ url, path: SCREENSHOT, waitForText: approval.workflowId, timeoutMs: 90_000 });
  expect(existsSync(SCREENSHOT)).toBe(true);
  expect(shot.bytes).toBeGreaterThan(10_000);
  expect(shot.text).toContain(approval.workflowId);
  expect(shot.text).toMatch(/Completed/i);
  expect(shot.text).toContain('approvalWorkflow');
});

test('stopping the stack leaves no process behind', async () => {
  worker.shutdown();
  await workerRun;
  const pids = [...stackChildren.map((c) => c.pid), ...stack.processes.map((p) => p.pid)];
  expect(stackChildren.map((c) => c.command).join('\n')).toMatch(/dsql-local[\s\S]*/);
  expect(pids.length).toBeGreaterThanOrEqual(4); // dsql-local, OpenSearch JVM, server, UI
  await stack.stop();
  await eventually('all stack processes gone', async () => (pids.every((p) => !isAlive(p)) ? true : undefined), 30_000);
});
