/**
 * Upgrade rehearsal (issue 26): the platform's previous server version runs the per-role local
 * stack (frontend, two history processes sharing the shards, matching, worker) with long-lived
 * workflows in flight (durable timers, signals, child workflows, an activity mid-retry,
 * continue-as-new, a schedule); the schema step runs through the schema custom resource's runner;
 * then each process is replaced by the current version, one at a time, in the order below, with a
 * probe workflow after each replacement (old and new versions serving side by side). Afterwards
 * every workflow completes with its expected result, every history in the namespace replays with
 * the TypeScript SDK's replayer against the workflow code, and no server process panicked.
 *
 * The previous version is today's plugin built against the previous upstream pin
 * (docker/temporal-server/upgrade/<version>.mod; local/build.ts buildPreviousTemporalServer).
 *
 * Short form in `npm test`: the upgrade. `npm run test:upgrade` (UPGRADE_LONG=1): more and longer
 * workflows, then the same rehearsal back to the previous version (the rollback).
 * Figures (workflows in flight, completed, replayed, seconds per role) are printed as one JSON line
 * and go into docs/upgrades.md.
 */
import { Client, Connection, ScheduleOverlapPolicy, WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applySchema } from '../../local/apply';
import { buildPreviousTemporalServer, buildTemporalServer, previousServerVersions } from '../../local/build';
import type { ServerRole } from '../../local/roles';
import { LocalStack, startLocalStack } from '../../local/stack';
import * as activities from './activities';
import { childGreeting, continueAsNewLoop, proceedSignal, retryingActivity, signalThenChild, timerThenActivity } from './workflows';

const LONG = process.env.UPGRADE_LONG === '1';
const TASK_QUEUE = 'upgrade';
/**
 * The order processes are replaced in. CloudFormation updates the four ECS services in parallel
 * (no dependency between them), so on AWS any interleaving can happen; this is one of them, with
 * history first so that shards move between versions while the other roles are still old.
 */
const ORDER: ReadonlyArray<[ServerRole, number]> = [['history', 0], ['history', 1], ['matching', 0], ['frontend', 0], ['worker', 0]];

/** The version this rehearsal starts from: the one previous pin (a second one would need choosing). */
const PREVIOUS = previousServerVersions();

let stack: LocalStack;
let connection: Connection;
let client: Client;
let nativeConnection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;
let previousBinary: string;
let currentBinary: string;

/** Serving version of the frontend (GetSystemInfo), e.g. `1.32.2`. */
async function frontendVersion(): Promise<string> {
  return (await connection.workflowService.getSystemInfo({})).serverVersion ?? '';
}

/** Runs one short workflow to completion: the cluster serves with its current mix of versions. */
async function probe(tag: string): Promise<number> {
  const t = Date.now();
  await client.workflow.execute(childGreeting, { taskQueue: TASK_QUEUE, workflowId: `probe-${tag}-${randomUUID()}`, args: [`probe-${tag}`], workflowExecutionTimeout: '60s' });
  return Date.now() - t;
}

/** Workflows started before a replacement and what each must return. */
interface InFlight {
  readonly handle: WorkflowHandle;
  readonly expected: unknown;
  /** Called after the last replacement: signals or releases what the workflow waits for. */
  readonly finish?: () => Promise<void>;
}

/** Starts the in-flight set; timers staggered so some fire during the replacements and some after. */
async function startInFlight(tag: string): Promise<{ inFlight: InFlight[]; scheduleId: string }> {
  const start = <T>(fn: (...a: never[]) => Promise<T>, args: unknown[], id: string) =>
    client.workflow.start(fn as never, { taskQueue: TASK_QUEUE, workflowId: `${tag}-${id}`, args: args as never });
  const inFlight: InFlight[] = [];
  const timers = LONG ? [3_000, 10_000, 20_000, 40_000, 60_000] : [3_000, 10_000, 25_000];
  for (const ms of timers) inFlight.push({ handle: await start(timerThenActivity, [ms], `timer-${ms}`), expected: `Hello, timer-${ms}!` });
  for (let i = 0; i < (LONG ? 4 : 2); i++) {
    const handle = await start(signalThenChild, [`signal-${i}`], `signal-${i}`);
    inFlight.push({ handle, expected: `Hello, signal-${i}! via ops`, finish: () => handle.signal(proceedSignal, 'ops') });
  }
  for (let i = 0; i < (LONG ? 3 : 1); i++) {
    const key = `${tag}-retry-${i}`;
    const handle = await start(retryingActivity, [key], `retry-${i}`);
    inFlight.push({ handle, expected: undefined, finish: async () => activities.release(key) });
  }
  const rounds = LONG ? 12 : 6;
  inFlight.push({ handle: await start(continueAsNewLoop, [1, rounds, 2_000], 'continue-as-new'), expected: rounds });
  const scheduleId = `${tag}-schedule`;
  await client.schedule.create({
    scheduleId,
    spec: { intervals: [{ every: '3s' }] },
    action: { type: 'startWorkflow', workflowType: childGreeting, args: ['scheduled'], taskQueue: TASK_QUEUE, workflowId: `${tag}-scheduled` },
    policies: { overlap: ScheduleOverlapPolicy.SKIP },
  });
  return { inFlight, scheduleId };
}

/** Log lines of the server processes that mean a crash: Go panics and fatal log entries. */
function crashLines(): string[] {
  const lines: string[] = [];
  for (const f of readdirSync(stack.dir).filter((n) => n.startsWith('temporal-') && n.endsWith('.log'))) {
    for (const line of readFileSync(join(stack.dir, f), 'utf8').split('\n')) {
      if (/^panic:|"level":"(fatal|dpanic|panic)"/.test(line)) lines.push(`${f}: ${line.slice(0, 300)}`);
    }
  }
  return lines;
}

/**
 * The rehearsal in one direction: in-flight workflows on `from`, the schema step, each process
 * replaced by `to` (a probe after each), then everything finished, checked and replayed.
 */
async function rehearse(tag: string, to: string, expectVersion: string) {
  const started = Date.now();
  const { inFlight, scheduleId } = await startInFlight(tag);
  // The retrying activities must be failing before the first replacement (mid-retry across it).
  const retryKeys = inFlight.map((w) => w.handle.workflowId).filter((id) => id.startsWith(`${tag}-retry-`));
  await waitUntil(`${tag}: every retrying activity failed at least twice`, () => retryKeys.every((k) => activities.attemptsOf(k) >= 2), 30_000);

  // Schema first, as the schema custom resource runs before any role service is updated.
  let t = Date.now();
  await applySchema(stack.dsql);
  const schemaMs = Date.now() - t;

  const roles: Array<{ process: string; stopMs: number; startMs: number; probeMs: number }> = [];
  for (const [role, index] of ORDER) {
    const r = await stack.servers.replace(role, index, to);
    roles.push({ process: stack.servers.member(role, index).name, ...r, probeMs: await probe(`${tag}-${role}-${index}`) });
  }
  expect(stack.servers.members.map((m) => m.binary)).toEqual(stack.servers.members.map(() => to));
  expect(await frontendVersion()).toBe(expectVersion);

  // The schedule fired on the new version: count its actions now and after two more intervals.
  const schedule = client.schedule.getHandle(scheduleId);
  const actionsAtSwitch = (await schedule.describe()).info.numActionsTaken;
  await waitUntil(`${tag}: the schedule fires on the new version`, async () => (await schedule.describe()).info.numActionsTaken >= actionsAtSwitch + 2, 30_000);
  await schedule.pause();
  const scheduled = (await schedule.describe()).info.numActionsTaken;
  await schedule.delete();

  t = Date.now();
  for (const w of inFlight) await w.finish?.();
  const results = await Promise.all(inFlight.map((w) => w.handle.result()));
  const finishMs = Date.now() - t;
  inFlight.forEach((w, i) => {
    if (w.expected === undefined) expect(results[i]).toBeGreaterThanOrEqual(3); // attempt number: it did retry
    else expect(results[i]).toEqual(w.expected);
  });
  // Executions this rehearsal made: the in-flight workflows, each signal workflow's child, the extra
  // runs of continue-as-new, one probe per replacement and the schedule's runs.
  const children = inFlight.filter((w) => w.handle.workflowId.startsWith(`${tag}-signal-`)).length;
  const extraRuns = (results[inFlight.findIndex((w) => w.handle.workflowId === `${tag}-continue-as-new`)] as number) - 1;
  const executions = inFlight.length + children + extraRuns + ORDER.length + scheduled;
  return { inFlight: inFlight.length, completed: results.length, scheduledRuns: scheduled, executions, schemaMs, roles, finishMs, totalMs: Date.now() - started };
}

async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Replays every closed execution in the namespace; returns how many replayed, failing on any error. */
async function replayAll(expectAtLeast: number): Promise<number> {
  // Visibility is eventually consistent: wait until every execution is listed as closed.
  const query = 'ExecutionStatus != "Running"';
  await waitUntil(`visibility lists at least ${expectAtLeast} closed executions`, async () => (await client.workflow.count(query)).count >= expectAtLeast, 30_000);
  const failures: string[] = [];
  let replayed = 0;
  const histories = client.workflow.list({ query }).intoHistories();
  for await (const r of Worker.runReplayHistories({ workflowsPath: require.resolve('./workflows') }, histories)) {
    replayed++;
    if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
  }
  expect(failures).toEqual([]);
  return replayed;
}

const suite = PREVIOUS.length === 1 ? describe : describe.skip;
suite(`upgrade rehearsal: ${PREVIOUS[0]} -> this pin, roles replaced one at a time with workflows in flight`, () => {
  beforeAll(async () => {
    [previousBinary, currentBinary] = [await buildPreviousTemporalServer(PREVIOUS[0]), await buildTemporalServer()];
    stack = await startLocalStack({ serverBinary: previousBinary, topology: 'per-role', historyProcesses: 2, ui: false });
    Runtime.install({ logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => console.error(m) } });
    connection = await Connection.connect(stack.clientOptions);
    client = new Client({ connection, namespace: stack.namespace });
    nativeConnection = await NativeConnection.connect(stack.clientOptions);
    worker = await Worker.create({ connection: nativeConnection, namespace: stack.namespace, taskQueue: TASK_QUEUE, workflowsPath: require.resolve('./workflows'), activities });
    workerRun = worker.run();
  }, 10 * 60_000);

  afterAll(async () => {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerRun?.catch(() => undefined);
    await nativeConnection?.close().catch(() => undefined);
    await connection?.close().catch(() => undefined);
    await stack?.stop();
  }, 120_000);

  test('every in-flight workflow completes across the upgrade, every history replays, no process crashed', async () => {
    const previousVersion = await frontendVersion();
    expect(previousVersion).toBe(PREVIOUS[0].replace(/^v/, ''));
    const currentVersion = readFileSync(join(__dirname, '..', '..', 'docker', 'temporal-server', 'go.mod'), 'utf8').match(/go\.temporal\.io\/server v(\S+)/)![1];
    expect(currentVersion).not.toBe(previousVersion);

    const figures: Record<string, unknown> = { from: previousVersion, to: currentVersion, order: ORDER.map(([r, i]) => `${r}-${i}`) };
    const up = await rehearse('up', currentBinary, currentVersion);
    figures.upgrade = up;
    let executions = up.executions;
    if (LONG) {
      const down = await rehearse('down', previousBinary, previousVersion);
      figures.rollback = down;
      executions += down.executions;
    }
    figures.replayed = await replayAll(executions);
    expect(figures.replayed).toBeGreaterThanOrEqual(executions);
    expect(crashLines()).toEqual([]);
    console.log(`upgrade rehearsal: ${JSON.stringify(figures)}`);
  }, (LONG ? 20 : 6) * 60_000);
});
