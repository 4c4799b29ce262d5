/**
 * Live-scrape verification of every Temporal metric the platform ships (issue 13), on real parts:
 * the local stack (dsql-local over PostgreSQL, an OpenSearch node, our Temporal DSQL server with all
 * four roles), a real Prometheus (Debian's `prometheus` package, scripts/setup.d/60-prometheus.sh)
 * scraping the server every second, and a TypeScript SDK worker running a small workload.
 *
 * The lists checked come from the shipped artifacts themselves, never from a second list here:
 * - the collector configuration `collectorConfig()` generates (lib/observability/otel-collector.ts): its EMF scrape
 *   job runs unchanged in this Prometheus (job `temporal-emf`), and every metric and dimension of its
 *   awsemf declarations must exist in that job's data;
 * - the dimension values the CloudWatch alarms and widgets use (`TEMPORAL_DIMENSION_VALUES` of
 *   lib/observability/observability.ts; their metric and dimension names are the awsemf declarations, which
 *   test/cdk/otel-collector.test.ts holds the synthesized template to);
 * - docs/grafana/temporal-dsql.json: every metric name and label in its expressions must exist, and
 *   every expression must evaluate without error and return a finite value.
 *
 * Two things the server only reports when they happen are made to happen: persistence errors (all
 * dsql-local COMMITs fail with OC000 for 1.5 s while workflows run; Temporal retries them) and
 * ResourceExhausted (the visibility API limit `frontend.namespaceRPS.visibility` set to 1 and a burst
 * of CountWorkflowExecutions calls).
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { freePort, ManagedProcess, startProcess, waitFor } from '../../local/process';
import { LocalStack, startLocalStack } from '../../local/stack';
import { collectorConfig, EMF_METRICS, EmfMetricSpec } from '../../lib/observability/otel-collector';
import { GRPC_ROLES, TEMPORAL_DIMENSION_VALUES } from '../../lib/observability/observability';
import * as activities from './activities';
import { helloActivity, helloMatchedActivity } from './workflows';

const ROOT = resolve(__dirname, '..', '..');
const DIR = join(ROOT, 'test-results', 'e2e-metrics');
const GRAFANA = join(ROOT, 'docs', 'grafana', 'temporal-dsql.json');
const TASK_QUEUE = 'metrics';
/** What `$__rate_interval` stands for when the Grafana expressions are evaluated here: the whole run. */
const RATE_INTERVAL = '5m';

let stack: LocalStack;
let prometheus: ManagedProcess;
let promUrl: string;
let connection: Connection;
let client: Client;
let nativeConnection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;
const timings: Record<string, number> = {};

jest.setTimeout(4 * 60_000);

/** A Prometheus HTTP API call; throws on an error status. */
async function prom(path: string, params: Record<string, string> = {}): Promise<any> {
  const res = await fetch(`${promUrl}/api/v1/${path}?${new URLSearchParams(params)}`);
  const body = (await res.json()) as { status: string; data: any; error?: string };
  if (body.status !== 'success') throw new Error(`Prometheus ${path} ${JSON.stringify(params)}: ${body.error}`);
  return body.data;
}

/** Label sets of the series named `name`, optionally of one scrape job and with more matchers (`a="b",c=~"d"`). */
async function series(name: string, job?: string, matchers?: string): Promise<Array<Record<string, string>>> {
  const all = [job ? `job="${job}"` : '', matchers ?? ''].filter(Boolean).join(',');
  return prom('series', { 'match[]': `${name}{${all}}` });
}

/** Each scrape target's job, health, last error and last scrape duration (seconds), for failure messages. */
async function scrapeHealth(): Promise<string> {
  const data = await prom('targets');
  return JSON.stringify(data.activeTargets.map((x: any) => ({ job: x.labels.job, health: x.health, lastError: x.lastError, lastScrapeDuration: x.lastScrapeDuration })));
}

/** Waits until Prometheus counts `n` successful scrapes (up == 1) of each of the two jobs since `since` (ms). */
async function waitForScrapes(what: string, since: number, n: number): Promise<void> {
  await until(what, async () => {
    const window = Math.max(1, Math.ceil((Date.now() - since) / 1000));
    const data = await prom('query', { query: `sum by (job) (sum_over_time(up[${window}s]))` });
    return data.result.length === 2 && data.result.every((r: any) => Number(r.value[1]) >= n);
  }, 90_000).catch(async (e) => {
    throw new Error(`${(e as Error).message}; scrape targets: ${await scrapeHealth()}`);
  });
}

/** Polls until `fn` is true (the scrape runs every second). */
async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  await waitFor(what, fn, { timeoutMs, intervalMs: 500, proc: prometheus });
}

beforeAll(async () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  let t = Date.now();
  stack = await startLocalStack({
    dir: join(DIR, 'stack'),
    ui: false,
    // ResourceExhausted on demand: one visibility call per second per namespace.
    dynamicConfig: 'frontend.namespaceRPS.visibility:\n  - value: 1\nfrontend.namespaceBurst.visibility:\n  - value: 1\n',
  });
  timings.stackStart = Date.now() - t;

  // Prometheus: the collector's own EMF job, plus a job keeping everything (what AMP would get).
  const target = new URL(stack.metricsUrl).host;
  const emfJob = collectorConfig({ namespace: 'Temporal/test', logGroupName: 'unused', region: 'us-east-1' }).receivers['prometheus/emf'].config.scrape_configs[0];
  const promConfig = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    scrape_configs: [
      // 2 s: the scrape timeout cannot exceed the interval, and a scrape of ~11,000 series can
      // outlast 1 s on a loaded machine (a failed scrape stores nothing).
      { job_name: 'temporal', scrape_interval: '2s', scrape_timeout: '2s', static_configs: [{ targets: [target] }] },
      { ...emfJob, scrape_interval: '2s', scrape_timeout: '2s', static_configs: [{ targets: [target] }] },
    ],
  };
  writeFileSync(join(DIR, 'prometheus.yml'), stringifyYaml(promConfig));
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  t = Date.now();
  prometheus = startProcess({
    name: 'prometheus',
    command: 'prometheus',
    args: [`--config.file=${join(DIR, 'prometheus.yml')}`, `--storage.tsdb.path=${join(DIR, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    logFile: join(DIR, 'prometheus.log'),
  });
  await waitFor('Prometheus ready', async () => (await fetch(`${promUrl}/-/ready`)).ok, { timeoutMs: 30_000, proc: prometheus });
  timings.prometheusStart = Date.now() - t;

  Runtime.install({ logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => console.error(m) } });
  connection = await Connection.connect(stack.clientOptions);
  client = new Client({ connection, namespace: stack.namespace });
  nativeConnection = await NativeConnection.connect(stack.clientOptions);
  t = Date.now();
  worker = await Worker.create({ connection: nativeConnection, namespace: stack.namespace, taskQueue: TASK_QUEUE, workflowsPath: require.resolve('./workflows'), activities });
  workerRun = worker.run();
  timings.workerCreate = Date.now() - t;

  // A baseline before the workload: every rate below compares samples from before and after it.
  // Without one (CI once failed with every histogram_quantile and error ratio NaN), a loaded
  // machine whose first successful scrape comes after the workload sees flat counters: rate 0.
  t = Date.now();
  await waitForScrapes('two successful scrapes of each job before the workload', t, 2);
  timings.scrapesBeforeWorkload = Date.now() - t;

  // Workload: workflows with activities, some of them through a window where every COMMIT fails.
  t = Date.now();
  const run = async () => (await client.workflow.start(helloActivity, { taskQueue: TASK_QUEUE, workflowId: `metrics-${randomUUID()}`, args: ['metrics'] })).result();
  // Two of them with the activity through matching: since v1.32 an eagerly dispatched activity
  // records no task_type="Activity" schedule-to-start latency (see helloMatchedActivity).
  const runMatched = async () => (await client.workflow.start(helloMatchedActivity, { taskQueue: TASK_QUEUE, workflowId: `metrics-matched-${randomUUID()}`, args: ['metrics'] })).result();
  await Promise.all([...Array.from({ length: 4 }, run), runMatched(), runMatched()]);
  await stack.dsql.failCommits(1, 'OC000');
  const during = Array.from({ length: 3 }, run);
  await new Promise((r) => setTimeout(r, 1500));
  await stack.dsql.clearFaults();
  await Promise.all([...during, ...Array.from({ length: 3 }, run)]);
  // DSQL refusing new connections for its rate limit (53400) while every open one is closed: the
  // plugin's reconnects are refused and retried (dsql_connect_retries), then the workflows finish.
  await stack.dsql.refuseConnections(2, 'rate');
  await stack.dsql.dropConnections();
  await Promise.all(Array.from({ length: 2 }, run));
  await stack.dsql.clearFaults();
  // A burst of visibility calls past the 1/s limit on a connection without client retries; the
  // refusals are what matters, not the answers.
  const bare = await Connection.connect({ ...stack.clientOptions, interceptors: [] });
  try {
    const answers = await Promise.allSettled(Array.from({ length: 20 }, () => bare.workflowService.countWorkflowExecutions({ namespace: stack.namespace, query: '' })));
    timings.visibilityRefused = answers.filter((a) => a.status === 'rejected').length;
  } finally {
    await bare.close();
  }
  timings.workload = Date.now() - t;
  // Counters only have a rate once two samples taken after they moved are stored. A fixed sleep is
  // not enough on a loaded machine (CI failed once with six expressions empty): a scrape of ~11,000
  // series can outlast its timeout there. So wait for three successful scrapes of each job after
  // the last event, counted by Prometheus itself.
  t = Date.now();
  await waitForScrapes('three successful scrapes of each job after the workload', t, 3);
  timings.scrapesAfterWorkload = Date.now() - t;
}, 5 * 60_000);

afterAll(async () => {
  if (worker && worker.getState() === 'RUNNING') worker.shutdown();
  await workerRun?.catch(() => undefined);
  await nativeConnection?.close();
  await connection?.close();
  await prometheus?.stop(5_000);
  await stack?.stop();
  console.log(`metrics e2e timings (ms): ${JSON.stringify({ ...timings, ...stack?.timings })}`);
}, 120_000);

test('the workload produced the rare series: persistence errors, ResourceExhausted, DSQL connection refusals', async () => {
  await until('persistence_errors scraped', async () => (await series('persistence_errors')).length > 0);
  await until('service_errors_resource_exhausted scraped', async () => (await series('service_errors_resource_exhausted')).length > 0);
  await until('dsql_connect_retries scraped', async () => (await series('dsql_connect_retries')).length > 0);
  const rex = await series('service_errors_resource_exhausted');
  expect(rex.some((s) => s.operation === 'CountWorkflowExecutions' && s.service_name === 'frontend')).toBe(true);
});

test("history's mutable-state loads went through the plugin's one-round-trip load (dsql.WrapExecutionStore is wired)", async () => {
  // The load is only batched on the named store path that the server's fx.Decorate wires
  // (docs/temporal-server.md, "Named code paths"); without it every load is upstream's 9 round trips.
  // The COMMIT-failure window above makes history reload the state of the workflows it touched.
  const data = await prom('query', { query: 'sum(max_over_time(dsql_prefetch_hits{job="temporal",service_name="history"}[1h]))' });
  const hits = data.result.length > 0 ? Number(data.result[0].value[1]) : 0;
  expect(hits).toBeGreaterThan(0);
});

describe('the collector configuration (lib/observability/otel-collector.ts)', () => {
  const cfg = collectorConfig({ namespace: 'Temporal/test', logGroupName: 'unused', region: 'us-east-1' });
  const declarations: Array<{ dimensions: string[][]; metric_name_selectors: string[] }> = cfg.exporters.awsemf.metric_declarations;
  const declared = declarations.flatMap((d) => d.metric_name_selectors.map((s) => ({ name: s.replace(/^\^/, ''), dims: d.dimensions.flat() })));

  /** Counters registered only when their event happens (a panic, a deadlock): pinned by a Go test instead. */
  const eventOnly = new Map((Object.values(EMF_METRICS) as EmfMetricSpec[]).filter((m) => m.eventOnly).map((m) => [m.name, m.eventOnly!]));

  test('every event-only EMF metric has its name pinned by the Go test it names', () => {
    expect([...eventOnly.keys()].sort()).toEqual(['dd_suspected_deadlocks', 'service_panics']);
    for (const [name, proof] of eventOnly) {
      const [dir, test] = proof.split(' ');
      const src = readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('_test.go')).map((f) => readFileSync(join(ROOT, dir, f), 'utf8')).join('\n');
      expect(src).toContain(`func ${test}(`);
      expect(src).toContain(`"${name}"`);
    }
  });

  test('every other EMF metric exists in the filtered job with every declared dimension', async () => {
    expect(declared.length).toBeGreaterThanOrEqual(10);
    const missing: string[] = [];
    for (const { name, dims } of declared.filter((d) => !eventOnly.has(d.name))) {
      // Histograms are scraped as name_bucket/_sum/_count; counters under their own name.
      const found = [...(await series(name, 'temporal-emf')), ...(await series(`${name}_count`, 'temporal-emf'))];
      if (found.length === 0) missing.push(name);
      for (const d of dims) if (!found.some((s) => d in s)) missing.push(`${name}{${d}}`);
    }
    expect(missing).toEqual([]);
  });

  test('the filter keeps only the EMF series and drops long-poll latencies', async () => {
    const names: string[] = await prom('label/__name__/values', { 'match[]': '{job="temporal-emf"}' });
    const allowed = new Set(declared.flatMap((d) => [d.name, `${d.name}_bucket`, `${d.name}_sum`, `${d.name}_count`]));
    const kept = names.filter((n) => !n.startsWith('scrape_') && n !== 'up');
    expect(kept.filter((n) => !allowed.has(n))).toEqual([]);
    expect(await series('service_latency_count', 'temporal-emf', 'operation=~"Poll.*"')).toEqual([]);
    // ...while the unfiltered job has them, so the drop rule is what removed them.
    expect((await series('service_latency_count', 'temporal', 'operation=~"Poll.*"')).length).toBeGreaterThan(0);
    const all: string[] = await prom('label/__name__/values', { 'match[]': '{job="temporal"}' });
    const emfSeries = (await prom('query', { query: 'count({job="temporal-emf"})' })).result[0].value[1];
    const allSeries = (await prom('query', { query: 'count({job="temporal"})' })).result[0].value[1];
    console.log(`live scrape: ${all.length} metric names and ${allSeries} series in total; the EMF job keeps ${kept.length} names and ${emfSeries} series`);
  });
});

test('every dimension value of the Temporal-metric alarms and widgets (lib/observability/observability.ts) exists in the EMF data', async () => {
  // The metric names and dimension names of the alarms and widgets are the EMF declarations checked
  // above (test/cdk/otel-collector.test.ts proves the template uses no other); their values:
  const missing: string[] = [];
  for (const [label, values] of Object.entries(TEMPORAL_DIMENSION_VALUES)) {
    const live: string[] = await prom(`label/${label}/values`, { 'match[]': '{job="temporal-emf"}' });
    for (const v of values) if (!live.includes(v)) missing.push(`${label}="${v}" (live: ${live.join(', ')})`);
  }
  expect(missing).toEqual([]);
  // And the per-role series the error ratios divide by exist for every gRPC role.
  for (const r of GRPC_ROLES) expect((await series('service_requests', 'temporal-emf', `service_name="${r}"`)).length).toBeGreaterThan(0);
});

describe('docs/grafana/temporal-dsql.json', () => {
  const dash = JSON.parse(readFileSync(GRAFANA, 'utf8'));
  const exprs: string[] = dash.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr));

  test('every metric and label of every expression exists in the live data', async () => {
    expect(exprs.length).toBeGreaterThanOrEqual(10);
    const missing: string[] = [];
    for (const expr of exprs) {
      const plain = expr.replace(/"[^"]*"/g, '""');
      const names = [...plain.matchAll(/([a-z_][a-z0-9_]*)\s*[{[]/g)].map((m) => m[1]);
      const labels = new Set([
        ...[...plain.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => m[1].split(',').map((s) => s.trim())),
        ...[...plain.matchAll(/([a-z_][a-z0-9_]*)\s*(=~|!~|!=|=)\s*""/g)].map((m) => m[1]),
      ]);
      expect(names.length).toBeGreaterThan(0);
      for (const n of names) {
        const found = await series(n, 'temporal');
        if (found.length === 0) missing.push(`${n} (in ${expr})`);
        for (const l of labels) if (found.length > 0 && !found.some((s) => l in s)) missing.push(`${n}{${l}} (in ${expr})`);
      }
    }
    expect(missing).toEqual([]);
  });

  test('every expression evaluates and returns a finite value', async () => {
    let empty: string[] = [];
    // Asked again for up to 20 s: a wrong name or label never becomes finite, a late scrape does.
    const deadline = Date.now() + 20_000;
    do {
      if (empty.length > 0) await new Promise((r) => setTimeout(r, 1000));
      empty = [];
      for (const expr of exprs) {
        const q = expr.replaceAll('$__rate_interval', RATE_INTERVAL);
        expect(q).not.toContain('$'); // no other Grafana variable that this test would not know
        const data = await prom('query', { query: q });
        const finite = data.result.filter((r: any) => Number.isFinite(Number(r.value[1])));
        if (finite.length === 0) empty.push(expr);
      }
    } while (empty.length > 0 && Date.now() < deadline);
    if (empty.length > 0) {
      // What each empty expression returned, and the raw series under it, so a failure explains itself.
      const detail: Record<string, unknown> = {};
      for (const expr of empty) {
        const q = expr.replaceAll('$__rate_interval', RATE_INTERVAL);
        const inner = [...q.matchAll(/rate\(([^[]+)\[/g)].map((m) => m[1]);
        detail[expr] = {
          result: (await prom('query', { query: q })).result.map((r: any) => r.value[1]),
          samples: await Promise.all(inner.map(async (sel) => (await prom('query', { query: `count_over_time(${sel}[${RATE_INTERVAL}])` })).result.map((r: any) => Number(r.value[1])))),
        };
      }
      console.log(`empty expressions: ${JSON.stringify(detail)}; scrape targets: ${await scrapeHealth()}`);
    }
    expect(empty).toEqual([]);
  });
});
