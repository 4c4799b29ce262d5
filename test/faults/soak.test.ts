/**
 * Fault suite, soak: the combined server under a steady load for FAULTS_SOAK_MINUTES (default 20)
 * minutes, one workflow start every 500 ms (hello-activity and signal/timer alternately, 2 per
 * second: a rate this shared 2-core machine sustains). Every minute it records the server's RSS
 * (/proc/<pid>/status VmRSS), goroutines (the server's `num_goroutines` gauge), open DSQL
 * connections of the server's database role (dsql-local's connection list), new DSQL connections
 * per second (the plugin's `dsql_connections_opened`) and the p99 start-to-result latency of the
 * workflows completed that minute. After a 2-minute warm-up these must stay within the bands below;
 * then every workflow must be complete, intact and visible as Completed.
 * Runs only with FAULTS_SOAK=1 (`FAULTS_SOAK=1 npm run test:faults`), never in `npm test`;
 * samples in test-results/faults/soak.json, figures in docs/reliability.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LocalStack, startLocalStack } from '../../local/stack';
import { ActivityLedger, describeReport, faultClient, FaultWorker, percentile, sumSamples, Workload } from './workload';

const MINUTES = Number(process.env.FAULTS_SOAK_MINUTES ?? 20);
/**
 * FAULTS_SOAK_CACHE_SIZE (e.g. `1000`): entries of history's host-level mutable-state cache
 * (`history.hostLevelCacheMaxSize`, upstream default 128,000). Every run, closed ones included,
 * stays in it until the cache is full (its TTL is only checked on access), so with upstream's
 * settings the server's memory grows with the number of runs for a long time; a small cache shows
 * whether anything else grows. Setting it turns off the byte cap of default.yaml (TTL and background
 * eviction stay). @default - default.yaml's byte cap (512 MiB), 5-min TTL and background eviction
 */
const CACHE_SIZE = process.env.FAULTS_SOAK_CACHE_SIZE;
const WARMUP_MINUTES = 2;
/**
 * Bands, over the minutes after the warm-up: RSS max / min; goroutines (max - min) / min; open
 * connections at most 20 per persistence pool (the combined process runs one pool per service:
 * frontend, internal-frontend, history, matching, worker) and spread at most `connectionSpread`;
 * new connections per second (connections live 60 min, as on DSQL); mean p99 of the last 5 minutes
 * over the mean p99 of the first 5.
 */
const BAND = { rssRatio: 1.5, goroutineSpread: 0.2, maxOpenConnections: 100, connectionSpread: 10, maxNewConnectionsPerSecond: 0.5, p99TrendRatio: 2 };
const OUT = join(resolve(__dirname, '..', '..'), 'test-results', 'faults');

jest.setTimeout((MINUTES + 30) * 60_000);

const soak = process.env.FAULTS_SOAK === '1' ? describe : describe.skip;

/** One minute of the soak. */
interface Sample {
  minute: number;
  rssMiB: number;
  /** Go heap in use (the server's `memory_heapinuse` gauge), MiB. */
  heapInUseMiB: number;
  /**
   * Usage of history's mutable-state cache (`cache_usage{cache_type="mutablestate"}`): entries with
   * FAULTS_SOAK_CACHE_SIZE, else upstream's estimated bytes (default.yaml turns the size-based limit on).
   */
  mutableStateCacheEntries: number;
  goroutines: number;
  openConnections: number;
  newConnectionsPerSecond: number;
  completed: number;
  p99Ms: number;
}

/** The largest sample of `name` (any labels) in Prometheus text; NaN when absent. */
function maxSample(text: string, name: string): number {
  const values = text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .map((l) => Number(l.trim().split(/\s+/).pop()));
  return values.length === 0 ? NaN : Math.max(...values);
}

soak('soak', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack({
      dir: join(OUT, 'stack-soak'),
      ui: false,
      // the entry cap applies only without the size-based limit the default turns on
      dynamicConfig: CACHE_SIZE
        ? `history.cacheSizeBasedLimit:\n  - value: false\nhistory.hostLevelCacheMaxSize:\n  - value: ${Number(CACHE_SIZE)}\n`
        : undefined,
    });
  }, 10 * 60_000);

  afterAll(async () => {
    await stack?.stop();
  }, 120_000);

  test(`${MINUTES} minutes at 2 workflows/s: RSS, goroutines and connections flat, nothing lost`, async () => {
    const ledger = new ActivityLedger();
    const worker = await FaultWorker.start(stack, 'faults-soak', ledger);
    const { client, connection } = await faultClient(stack);
    const samples: Sample[] = [];
    const load = new Workload(client, 'faults-soak', { tag: 'soak', intervalMs: 500 });
    try {
      const pid = stack.servers.member('all').process.pid;
      let opened = sumSamples(await (await fetch(stack.metricsUrl)).text(), 'dsql_connections_opened');
      load.start();
      for (let minute = 1; minute <= MINUTES; minute++) {
        const t0 = Date.now();
        await new Promise((r) => setTimeout(r, 60_000));
        const metrics = await (await fetch(stack.metricsUrl)).text();
        const nowOpened = sumSamples(metrics, 'dsql_connections_opened');
        const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
        const conns = (await stack.dsql.state()).connections.filter((c) => c.user === 'temporal_server').length;
        const done = load.started.filter((s) => s.completedAt !== undefined && s.completedAt > t0 && s.completedAt <= Date.now());
        const sample: Sample = {
          minute,
          rssMiB: Math.round(rssKb / 1024),
          heapInUseMiB: Math.round(maxSample(metrics, 'memory_heapinuse') / 2 ** 20),
          mutableStateCacheEntries: sumSamples(metrics, 'cache_usage', { cache_type: 'mutablestate' }),
          // Every service of the process reports the same process-wide gauge: take one.
          goroutines: maxSample(metrics, 'num_goroutines'),
          openConnections: conns,
          newConnectionsPerSecond: (nowOpened - opened) / ((Date.now() - t0) / 1000),
          completed: done.length,
          p99Ms: percentile(done.map((s) => s.completedAt! - s.startedAt), 99),
        };
        opened = nowOpened;
        samples.push(sample);
        console.log(`soak minute ${JSON.stringify(sample)}`);
      }
      const report = await load.verify(stack, ledger, { timeoutMs: 10 * 60_000 });
      console.log(describeReport('soak', report, { minutes: MINUTES }));
      mkdirSync(OUT, { recursive: true });
      writeFileSync(join(OUT, 'soak.json'), JSON.stringify({ at: new Date().toISOString(), minutes: MINUTES, hostLevelCacheMaxSize: CACHE_SIZE ?? 'default', band: BAND, samples, report: { ...report, latencies: undefined } }, null, 2));

      expect(report.lostDetail).toEqual([]);
      expect(report.completed).toBe(report.started);
      expect(report.historyProblems).toEqual([]);
      expect(report.visibilityMissing).toBe(0);
      const steady = samples.filter((s) => s.minute > WARMUP_MINUTES);
      expect(steady.length).toBeGreaterThan(0);
      const rss = steady.map((s) => s.rssMiB);
      expect(Math.max(...rss) / Math.min(...rss)).toBeLessThanOrEqual(BAND.rssRatio);
      const g = steady.map((s) => s.goroutines);
      expect(Math.max(...g) - Math.min(...g)).toBeLessThanOrEqual(BAND.goroutineSpread * Math.min(...g));
      const c = steady.map((s) => s.openConnections);
      expect(Math.max(...c) - Math.min(...c)).toBeLessThanOrEqual(BAND.connectionSpread);
      for (const s of steady) {
        expect(s.openConnections).toBeGreaterThan(0);
        expect(s.openConnections).toBeLessThanOrEqual(BAND.maxOpenConnections);
        expect(s.newConnectionsPerSecond).toBeLessThanOrEqual(BAND.maxNewConnectionsPerSecond);
        expect(s.completed).toBeGreaterThan(0);
      }
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const p99 = steady.map((s) => s.p99Ms);
      expect(mean(p99.slice(-5))).toBeLessThanOrEqual(BAND.p99TrendRatio * mean(p99.slice(0, 5)));
    } finally {
      await load.stop();
      mkdirSync(OUT, { recursive: true });
      writeFileSync(join(OUT, 'soak-samples.json'), JSON.stringify(samples, null, 2));
      await worker.stop();
      await connection.close().catch(() => undefined);
    }
  });
});
