/**
 * The local two-Region failover rehearsal (issue 25 items 4 and 3; docs/multi-region.md "Local
 * rehearsal", figures in docs/reliability.md). Two "Regions" of our server (127.0.0.2 and
 * 127.0.0.3, each its own login and visibility index) on one dsql-local database with the
 * `dsql-multi-region` latency profile (local/multi-region.ts); a steady workload through one client
 * endpoint (test/faults/workload.ts); then a fault in the active Region and the failover through the
 * contract of bin/failover/types.ts (fence, membership cleanup, scale, wait for every shard, endpoint
 * switch), and the visibility reconcile (bin/failover/visibility-reconcile.ts).
 *
 * - (b) `split` (the short form, part of `npm test`): the active Region's processes stay alive and
 *   keep their database access, but the clients and its control plane cannot reach it. The failover
 *   fences it at the database; the check: it commits nothing once the new Region owns every shard.
 * - (a) `kill` (full form only): the active Region's process killed with `kill -9`.
 *
 * Full form (both scenarios, more load): `MULTI_REGION_FULL=1 npx jest --runInBand test/faults/multi-region.test.ts`
 * (`npm run test:multi-region`). To see the checks fail: REHEARSAL_SKIP_FENCE=1 (a database fence
 * that does nothing), REHEARSAL_SKIP_RECONCILE=1 (no visibility reconcile).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { PgClusterDatabase } from '../../bin/failover/database';
import { formatStep, runFailover } from '../../bin/failover/failover';
import type { DatabaseFence, StepResult } from '../../bin/failover/types';
import {
  LOCAL_ROLES, LocalDatabaseFence, LocalRegion, LocalRegionFleet, LocalRegions, REHEARSAL_REGIONS, startLocalRegions,
} from '../../local/multi-region';
import { reconcileVisibility } from '../../bin/failover/visibility-reconcile';
import { goSignal, helloActivity, signalTimerWorkflow } from './workflows';
import { RESULTS_FILE } from './scenario';
import { ActivityLedger, ClientTarget, describeReport, FaultWorker, missingCompleted, sumSamples, VisibilityTarget, Workload } from './workload';

jest.setTimeout(15 * 60_000);

/** Progress on stderr (jest holds console output until the end). */
const say = (m: string) => process.stderr.write(`[multi-region ${new Date().toISOString()}] ${m}\n`);

const FULL = process.env.MULTI_REGION_FULL === '1';
const SKIP_FENCE = process.env.REHEARSAL_SKIP_FENCE === '1';
const SKIP_RECONCILE = process.env.REHEARSAL_SKIP_RECONCILE === '1';
const SHARDS = 4;

let regions: LocalRegions;
let db: PgClusterDatabase;
const fleets = new Map<string, LocalRegionFleet>();

beforeAll(async () => {
  regions = await startLocalRegions({
    dir: join(resolve(__dirname, '..', '..'), 'test-results', 'faults', 'multi-region'),
    numHistoryShards: SHARDS,
    // The visibility queue's checkpoint every second (default 30 s) and the shard info that holds it
    // persisted every second (default 5 min): the state of a Region that has run for a while, whose
    // visibility tasks the new Region's history hosts do not replay, so its index starts without
    // the old Region's records. With the defaults a short run replays them all (seen: 15 of 15).
    dynamicConfig: [
      'history.visibilityProcessorUpdateAckInterval:', '  - value: 1s',
      'history.shardUpdateMinInterval:', '  - value: 1s',
      'history.shardFirstUpdateInterval:', '  - value: 500ms', '',
    ].join('\n'),
  });
  db = new PgClusterDatabase({ connection: adminConnection() });
  fleets.set(regions.a.spec.name, new LocalRegionFleet(regions.a));
  fleets.set(regions.b.spec.name, new LocalRegionFleet(regions.b));
}, 5 * 60_000);

afterAll(async () => {
  await db?.close();
  await regions?.stop();
}, 120_000);

/** Admin connection options of the shared database (the failover's ClusterDatabase). */
function adminConnection() {
  const d = regions.dsql;
  const admin = d.credentials.find((c) => c.admin)!;
  return { hostname: d.hostname, host: d.host, port: d.port, region: d.region, caFile: d.caFile, credentials: { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey } };
}

/** A fence that does nothing (REHEARSAL_SKIP_FENCE: what if the Deny did not take?). */
const noFence: DatabaseFence = { fence: async () => 'applied' };

/**
 * The failover command's core (bin/failover/failover.ts runFailover) over the local Regions, then
 * the client endpoint switch it prints (the rehearsal's endpoint stands for the DNS record).
 */
async function failover(from: LocalRegion, to: LocalRegion, fence: DatabaseFence, unreachable: boolean): Promise<StepResult[]> {
  const t = Date.now();
  const steps = await runFailover({
    from: from.spec.name,
    to: to.spec.name,
    targetCounts: LOCAL_ROLES.map((role) => ({ role, desired: 1 })),
    execute: true,
    denyOldRegion: unreachable,
    shardCount: SHARDS,
    oldRegionHosts: (m) => m.rpcAddress === from.spec.ip,
    ownerIsNewRegion: (address) => address.startsWith(`${to.spec.ip}:`),
    waitTimeoutMs: FULL ? 90_000 : 40_000,
    pollIntervalMs: 250,
    // Short form: rows silent for 5 s are stale (upstream's rule, and the full form's: 20 s;
    // REHEARSAL_HEARTBEAT_CUTOFF_MS sets it). The old Region is fenced or dead, so its rows no
    // longer move; but with a 10 s heartbeat a 5 s cutoff cannot tell a live host from a fenced one.
    heartbeatCutoffMs: FULL ? undefined : Number(process.env.REHEARSAL_HEARTBEAT_CUTOFF_MS ?? 5000),
    endpointSwitch: { summary: `${regions.endpoint.address} -> ${to.frontendAddress}`, lines: [`clients: ${regions.endpoint.address} now forwards to ${to.frontendAddress}`] },
  }, { oldFleet: fleets.get(from.spec.name)!, newFleet: fleets.get(to.spec.name)!, database: db, fence, print: (l) => say(l) });
  say(`failover ${from.spec.name} -> ${to.spec.name}: ${Date.now() - t} ms`);
  if (steps.some((x) => x.status === 'failed')) throw new Error(`failover failed: ${steps.map(formatStep).join(' | ')}`);
  regions.endpoint.route(to.frontendAddress);
  return steps;
}

/** Documents of `namespaceId` in a Region's visibility index (refreshed first). */
async function visibleCount(index: string, namespaceId: string): Promise<number> {
  const base = `${regions.openSearch.url}/${index}`;
  await fetch(`${base}/_refresh`, { method: 'POST' });
  const r = await fetch(`${base}/_count`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: { term: { NamespaceId: namespaceId } } }),
  });
  return ((await r.json()) as { count: number }).count;
}

/** Fencing figures of a Region's (live) process from its /metrics; zeros when it is down. */
async function fencingCounters(r: LocalRegion): Promise<Record<string, number>> {
  const text = r.running ? await (await fetch(r.metricsUrl)).text().catch(() => '') : '';
  return {
    shardOwnershipLost: sumSamples(text, 'persistence_error_with_type', { error_type: 'persistence_ShardOwnershipLostError' })
      + sumSamples(text, 'service_errors_shard_ownership_lost'),
    persistenceErrors: sumSamples(text, 'persistence_errors'),
    persistenceUnavailable: sumSamples(text, 'persistence_error_with_type', { error_type: 'serviceerror_Unavailable' }),
  };
}

interface RegionScenario {
  name: string;
  from: LocalRegion;
  to: LocalRegion;
  kind: 'kill' | 'split';
  beforeMs: number;
  afterMs: number;
  intervalMs: number;
  /** hello-activity workflows started (20 at a time) before the load, for the reconcile's time per 1,000. @default 0 */
  seed?: number;
}

async function runRegionFailover(s: RegionScenario) {
  const ledger = new ActivityLedger();
  const taskQueue = `multi-region-${s.name}`;
  const target: ClientTarget = { clientOptions: { address: regions.endpoint.address }, namespace: 'default' };
  const worker = await FaultWorker.start(target, taskQueue, ledger);
  const connection = await Connection.connect({ address: regions.endpoint.address });
  const client = new Client({ connection, namespace: 'default' });
  const load = new Workload(client, taskQueue, { tag: s.name, intervalMs: s.intervalMs });
  // An open workflow all along (waits for a signal): the probe reads it every 250 ms through the
  // client endpoint; the Region answering is the endpoint's target at the call.
  const probeId = `${s.name}-probe`;
  await client.workflow.start(signalTimerWorkflow, { taskQueue, workflowId: probeId, args: [`${s.name}-probe`, 500] });
  const probes: Array<{ at: number; ok: boolean; region?: string }> = [];
  let probing = true;
  const probeLoop = (async () => {
    while (probing) {
      const region = regions.endpoint.current;
      const ok = await client.workflow.getHandle(probeId).describe().then(() => true, () => false);
      probes.push({ at: Date.now(), ok, region });
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const fence = new LocalDatabaseFence(regions.dsql, REHEARSAL_REGIONS);
  try {
    let seeded = 0;
    const seedStart = Date.now();
    while (seeded < (s.seed ?? 0)) {
      const batch = Array.from({ length: Math.min(20, s.seed! - seeded) }, (_, i) => `${s.name}-seed-${seeded + i}`);
      await Promise.all(batch.map((id) => client.workflow.start(helloActivity, { taskQueue, workflowId: id, args: [id] })));
      seeded += batch.length;
    }
    if (seeded) say(`${s.name}: ${seeded} seed workflows started in ${Date.now() - seedStart} ms`);
    load.start();
    await new Promise((r) => setTimeout(r, s.beforeMs));
    const faultAt = Date.now();
    say(`${s.name}: fault (${s.kind}) in ${s.from.spec.name}, ${load.started.length} workflows started`);
    if (s.kind === 'kill') {
      await s.from.kill();
    } else {
      regions.endpoint.route(undefined);
      fleets.get(s.from.spec.name)!.setReachable(false);
    }
    const steps = await failover(s.from, s.to, SKIP_FENCE ? noFence : fence, s.kind === 'split');
    const ownedAt = Date.now();
    const fromRole = s.from.spec.dbRole;
    const commitsAtOwned = (await regions.dsql.stats())[fromRole]?.commits ?? 0;
    const ownersAtOwned = await db.shardRecords();
    await new Promise((r) => setTimeout(r, s.afterMs));
    await load.stop();
    // Every started workflow to its result (through the new Region), then visibility before and after the reconcile.
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline && load.completedCount() < load.started.length) await new Promise((r) => setTimeout(r, 500));
    await client.workflow.signalWithStart(signalTimerWorkflow, { taskQueue, workflowId: probeId, args: ['unused', 500], signal: goSignal, signalArgs: ['go'] });
    const probeResult = await client.workflow.getHandle(probeId).result();
    const ids = [...load.started.map((w) => w.workflowId), probeId];
    const toVis: VisibilityTarget = { openSearchUrl: regions.openSearch.url, visibilityIndex: s.to.spec.visibilityIndex };
    const admin = await regions.dsql.connect();
    let reconcile;
    let visibility: Record<string, number>;
    let allExecutions = 0;
    try {
      const nsId = (await admin.query(`SELECT id::text AS id FROM namespaces WHERE name = 'default'`)).rows[0].id as string;
      const truth = Number((await admin.query('SELECT count(*) AS n FROM executions WHERE namespace_id = $1::uuid', [nsId])).rows[0].n);
      const missingBefore = (await missingCompleted(toVis, ids)).length;
      const visibleBefore = await visibleCount(s.to.spec.visibilityIndex, nsId);
      say(`visibility before the reconcile: ${visibleBefore} of ${truth}`);
      // Short form: pages of 4 rows, so the keyset paging runs over several pages.
      if (!SKIP_RECONCILE) reconcile = await reconcileVisibility(admin, { frontendAddress: s.to.frontendAddress, pageSize: FULL ? 500 : 4 });
      allExecutions = Number((await admin.query('SELECT count(*) AS n FROM executions')).rows[0].n);
      let visibleAfter = 0;
      const vDeadline = Date.now() + 60_000;
      while (Date.now() < vDeadline && (visibleAfter = await visibleCount(s.to.spec.visibilityIndex, nsId)) < truth) await new Promise((r) => setTimeout(r, 500));
      visibility = { truth, visibleBefore, missingCompletedBefore: missingBefore, visibleAfter, msPer1000: reconcile ? Math.round((reconcile.ms / Math.max(1, reconcile.executions)) * 1000) : NaN };
    } finally {
      await admin.end();
    }
    probing = false;
    await probeLoop;
    const report = await load.verify(toVis, ledger, { visibilityTimeoutMs: 20_000 });
    const lastOkOld = Math.max(...probes.filter((p) => p.ok && p.at <= faultAt).map((p) => p.at));
    const firstOkNew = Math.min(...probes.filter((p) => p.ok && p.at > faultAt).map((p) => p.at));
    const fromAlive = s.from.running;
    const commitsAfterOwned = ((await regions.dsql.stats())[fromRole]?.commits ?? 0) - commitsAtOwned;
    const ownersAtEnd = await db.shardRecords();
    const shardsChangedAfterOwned = [...ownersAtEnd].filter(([id, o]) => o.rangeId !== ownersAtOwned.get(id)?.rangeId).length;
    const detail = {
      kind: s.kind,
      rtoClientMs: firstOkNew - lastOkOld,
      rtoShardsMs: ownedAt - faultAt,
      steps: steps.map((x) => `${x.step}: ${x.status} ${x.ms} ms (${x.detail})`),
      oldAlive: fromAlive,
      oldCommitsAfterOwned: commitsAfterOwned,
      shardsChangedAfterOwned,
      fenceSessionsClosed: fence.sessionsClosed,
      oldCounters: await fencingCounters(s.from),
      visibility,
      allExecutions,
      reconcile: reconcile && { executions: reconcile.executions, refreshed: reconcile.refreshed, failures: reconcile.failures.length, ms: reconcile.ms },
      probeResult,
    };
    const line = describeReport(`multi-region-${s.name}`, report, detail);
    console.log(line);
    mkdirSync(join(RESULTS_FILE, '..'), { recursive: true });
    appendFileSync(RESULTS_FILE, `${JSON.stringify({ at: new Date().toISOString(), scenario: `multi-region-${s.name}`, line })}\n`);
    return { report, detail, steps };
  } finally {
    // A failed failover leaves the endpoint cut: route it to a running Region so the worker can
    // shut down (its polls retry until they reach a server), and bound the wait.
    if (regions.endpoint.current === undefined) {
      const up = [s.to, s.from].find((r) => r.running);
      if (up) regions.endpoint.route(up.frontendAddress);
    }
    probing = false;
    await probeLoop.catch(() => undefined);
    await load.stop();
    await Promise.race([worker.stop(), new Promise((r) => setTimeout(r, 20_000))]);
    await connection.close().catch(() => undefined);
  }
}

/** The checks of every failover scenario. */
function expectFailedOver(r: Awaited<ReturnType<typeof runRegionFailover>>): void {
  expect(r.report.started).toBeGreaterThan(0);
  expect(r.report.lostDetail).toEqual([]);
  expect(r.report.completed).toBe(r.report.started);
  expect(r.report.historyProblems).toEqual([]);
  expect(r.detail.probeResult).toMatch(/^Hello, .*-probe\/go!$/);
  // Nobody but the new Region changed a shard after it owned them all.
  expect(r.detail.shardsChangedAfterOwned).toBe(0);
  expect(r.detail.oldCommitsAfterOwned).toBe(0);
  // Visibility: the new Region's store had less than the database before the reconcile, all after.
  expect(r.detail.visibility.visibleAfter).toBe(r.detail.visibility.truth);
  expect(r.report.visibilityMissing).toBe(0);
  expect(r.detail.reconcile?.failures).toBe(0);
  // The reconcile listed every execution of the database (all namespaces), across its pages.
  expect(r.detail.reconcile?.executions).toBe(r.detail.allExecutions);
  expect(Number.isFinite(r.detail.rtoClientMs)).toBe(true);
}

(FULL ? test : test.skip)('(a) kill -9 of Region A, failover to B: nothing lost', async () => {
  const r = await runRegionFailover({ name: 'kill', from: regions.a, to: regions.b, kind: 'kill', beforeMs: 15_000, afterMs: 15_000, intervalMs: 250, seed: 1000 });
  expectFailedOver(r);
  expect(r.detail.oldAlive).toBe(false);
});

test(`(b) Region ${FULL ? 'B' : 'A'} alive but cut off from its clients: fenced at the database, failover, nothing lost`, async () => {
  // Full form: after (a), B is active; the split then fails back to A.
  const [from, to] = FULL ? [regions.b, regions.a] : [regions.a, regions.b];
  const r = await runRegionFailover({ name: 'split', from, to, kind: 'split', beforeMs: FULL ? 15_000 : 4000, afterMs: FULL ? 15_000 : 4000, intervalMs: FULL ? 250 : 500 });
  expectFailedOver(r);
  // The split: the old Region still runs and was fenced; its sessions were closed.
  expect(r.detail.oldAlive).toBe(true);
  expect(r.detail.fenceSessionsClosed).toBeGreaterThan(0);
  expect(r.detail.oldCounters.persistenceErrors).toBeGreaterThan(0);
});
