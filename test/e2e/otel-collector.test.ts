/**
 * The metrics collector's configuration (lib/observability/otel-collector.ts `collectorConfig`, the object the CDK
 * passes in AOT_CONFIG_CONTENT) run by real collector code: tools/otelcol, the upstream components
 * the config uses at the versions of ADOT v0.50.0 (collector/contrib v0.158.0), built into
 * .cache/bin/otelcol by scripts/setup.d/70-otelcol.sh (never here).
 *
 * (a) `otelcol validate` accepts the generated config with AMP off and on (component and key names,
 *     config validation of every component, sigv4auth's credential lookup);
 * (b) end to end: the local stack (dsql-local, OpenSearch, our Temporal server), a small workload,
 *     the collector scraping the server and exporting with awsemf to CloudWatch Logs, where moto
 *     stands in for CloudWatch Logs (AWS's service cannot run here; moto checks no signature). The
 *     EMF events read back from moto must carry every metric of EMF_METRICS with exactly its
 *     dimension set, in namespace Temporal/<env>, and every dimension value the alarms and widgets
 *     use (TEMPORAL_DIMENSION_VALUES; the service_* metrics for every GRPC_ROLES role), no rolled-up
 *     dimension sets, and counters as per-scrape deltas. The collector runs the AMP-on config, so the
 *     same run remote-writes every series to a real Prometheus (Debian's, with its remote-write
 *     receiver) standing in for AMP: names as the server emits them (no `_total`). SigV4 is signed
 *     but not checked there. The AMP-off config (the same EMF pipeline alone) is only validated.
 *     Test-only changes to the generated config, all on the transport, none on what is sent:
 *     awsemf `endpoint` = moto, scrape target = the stack's metrics port, scrape interval 1 s and
 *     batch timeout 1 s (production: 60 s each), and the `ecs` resource detector removed (it needs
 *     the ECS task metadata endpoint; log stream `{TaskId}` then stays unresolved).
 *     The collector runs as its container does (lib/services/read-only.ts): read-only root, no
 *     writable path, the ADOT image's user (4317), in bubblewrap (local/read-only.ts).
 *
 * Skipped with a message when .cache/bin/otelcol is missing (run scripts/setup.d/70-otelcol.sh).
 */
import { CloudWatchLogsClient, CreateLogGroupCommand, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, ManagedProcess, startProcess, waitFor } from '../../local/process';
import { LocalStack, startLocalStack } from '../../local/stack';
import { collectorConfig, EMF_METRICS, EmfMetricSpec } from '../../lib/observability/otel-collector';
import { COLLECTOR_WRITABLE_PATHS, CONTAINER_USERS } from '../../lib/services/read-only';
import { readOnlySandbox } from '../../local/read-only';
import { GRPC_ROLES, TEMPORAL_DIMENSION_VALUES } from '../../lib/observability/observability';
import { MotoServer, startMoto } from '../support/moto';
import * as activities from './activities';
import { helloActivity, helloMatchedActivity } from './workflows';

const ROOT = resolve(__dirname, '..', '..');
const OTELCOL = join(ROOT, '.cache', 'bin', 'otelcol');
const DIR = join(ROOT, 'test-results', 'e2e-otel-collector');
const NAMESPACE = 'Temporal/test';
const LOG_GROUP = '/temporal/test/metrics';
const REGION = 'us-east-1';
const AMP_URL = 'https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-00000000-0000-0000-0000-000000000000/api/v1/remote_write';
const have = existsSync(OTELCOL);
if (!have) console.warn(`skipped: ${OTELCOL} missing; run bash scripts/setup.d/70-otelcol.sh`);
const maybe = have ? describe : describe.skip;

jest.setTimeout(3 * 60_000);

/** `otelcol validate` of `cfg`; returns its exit status and output. */
function validate(name: string, cfg: object): { status: number | null; out: string } {
  mkdirSync(DIR, { recursive: true });
  const file = join(DIR, `${name}.json`);
  writeFileSync(file, JSON.stringify(cfg));
  // sigv4auth resolves credentials when it is built; these are fake and never sent anywhere.
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: REGION, AWS_EC2_METADATA_DISABLED: 'true' };
  const r = spawnSync(OTELCOL, ['validate', `--config=file:${file}`], { env, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

maybe('otelcol validate (tools/otelcol, collector/contrib v0.158.0)', () => {
  test.each([
    ['amp-off', undefined],
    ['amp-on', AMP_URL],
  ])('accepts the generated config, %s', (name, remoteWriteUrl) => {
    const cfg = collectorConfig({ namespace: NAMESPACE, logGroupName: LOG_GROUP, region: REGION, remoteWriteUrl });
    expect(Object.keys(cfg.exporters)).toHaveLength(remoteWriteUrl ? 2 : 1);
    const r = validate(name, cfg);
    expect({ status: r.status, out: r.status === 0 ? '' : r.out }).toEqual({ status: 0, out: '' });
  });

  test('rejects a misspelt awsemf key (validate checks key names)', () => {
    const cfg = collectorConfig({ namespace: NAMESPACE, logGroupName: LOG_GROUP, region: REGION });
    cfg.exporters.awsemf.metric_declarations[0].metric_selectors = cfg.exporters.awsemf.metric_declarations[0].metric_name_selectors;
    delete cfg.exporters.awsemf.metric_declarations[0].metric_name_selectors;
    const r = validate('misspelt', cfg);
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('metric_selectors');
  });
});

/** One metric of one EMF event: name, dimension names (sorted) and dimension values. */
interface EmfSeen {
  namespace: string;
  metric: string;
  dims: string[];
  values: Record<string, string>;
}

maybe('the collector exports EMF to CloudWatch Logs (moto) from a live scrape', () => {
  let stack: LocalStack;
  let moto: MotoServer;
  let collector: ManagedProcess;
  let prometheus: ManagedProcess;
  let promUrl: string;
  let logs: CloudWatchLogsClient;
  let connection: Connection;
  let nativeConnection: NativeConnection;
  let worker: Worker;
  let workerRun: Promise<void>;
  const timings: Record<string, number> = {};
  const seen: EmfSeen[] = [];
  const records: Array<Record<string, any>> = [];

  /** Reads every event of the EMF log group into `seen` (replacing what was there). */
  async function readEmf(): Promise<number> {
    seen.length = 0;
    records.length = 0;
    let events = 0;
    const raw: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await logs.send(new FilterLogEventsCommand({ logGroupName: LOG_GROUP, nextToken }));
      for (const e of page.events ?? []) {
        events++;
        raw.push(e.message ?? '');
        const rec = JSON.parse(e.message ?? '{}');
        records.push(rec);
        for (const d of rec._aws?.CloudWatchMetrics ?? []) {
          for (const dimSet of d.Dimensions as string[][]) {
            for (const m of d.Metrics as Array<{ Name: string }>) {
              seen.push({ namespace: d.Namespace, metric: m.Name, dims: [...dimSet].sort(), values: Object.fromEntries(dimSet.map((k) => [k, String(rec[k])])) });
            }
          }
        }
      }
      nextToken = page.nextToken;
    } while (nextToken);
    writeFileSync(join(DIR, 'run', 'emf-events.jsonl'), raw.join('\n'));
    return events;
  }

  /** The `service_requests` values of the EMF events by label set (every field that is not a metric or EMF metadata). */
  function emittedRequests(): Map<string, number[]> {
    const emitted = new Map<string, number[]>();
    for (const rec of records) {
      if (typeof rec.service_requests !== 'number') continue;
      const metricNames = new Set((rec._aws.CloudWatchMetrics as Array<{ Metrics: Array<{ Name: string }> }>).flatMap((d) => d.Metrics.map((x) => x.Name)));
      const labels = Object.entries(rec).filter(([k]) => k !== '_aws' && k !== 'OTelLib' && k !== 'Version' && !metricNames.has(k)).map(([k, v]) => [k, String(v)]);
      const key = JSON.stringify(labels.sort((a, b) => a[0].localeCompare(b[0])));
      emitted.set(key, [...(emitted.get(key) ?? []), rec.service_requests]);
    }
    return emitted;
  }

  /** What the alarms and widgets need and is not in `seen` yet (empty when all is there). */
  function missing(): string[] {
    const out: string[] = [];
    // Event-only counters (a panic, a deadlock) exist only when it happens: their names are pinned by
    // the Go test that EMF_METRICS names (test/e2e/metrics.test.ts checks that test exists).
    for (const m of (Object.values(EMF_METRICS) as EmfMetricSpec[]).filter((x) => !x.eventOnly)) {
      const dims = [...m.dimensions].sort();
      const recs = seen.filter((s) => s.metric === m.name && JSON.stringify(s.dims) === JSON.stringify(dims));
      if (recs.length === 0) out.push(`${m.name} [${dims.join(',')}]`);
      for (const d of m.dimensions) {
        // service_* are served by the gRPC roles only; persistence and the others by the roles that have them.
        const wanted = m.name.startsWith('service_requests') || m.name === 'service_latency' ? GRPC_ROLES : [];
        for (const v of wanted) if (d === 'service_name' && !recs.some((s) => s.values[d] === v)) out.push(`${m.name}{${d}="${v}"}`);
      }
    }
    for (const [d, values] of Object.entries(TEMPORAL_DIMENSION_VALUES)) {
      for (const v of values) if (!seen.some((s) => s.values[d] === v)) out.push(`any metric with ${d}="${v}"`);
    }
    return out;
  }

  beforeAll(async () => {
    rmSync(join(DIR, 'run'), { recursive: true, force: true });
    mkdirSync(join(DIR, 'run'), { recursive: true });
    let t = Date.now();
    [stack, moto] = await Promise.all([
      startLocalStack({
        dir: join(DIR, 'run', 'stack'),
        ui: false,
        // ResourceExhausted on demand: one visibility call per second per namespace.
        dynamicConfig: 'frontend.namespaceRPS.visibility:\n  - value: 1\nfrontend.namespaceBurst.visibility:\n  - value: 1\n',
      }),
      startMoto({ logDir: join(DIR, 'run') }),
    ]);
    timings.stackAndMotoStart = Date.now() - t;
    logs = new CloudWatchLogsClient({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials });
    // The CDK creates the log group (TemporalMetricsCollector.logGroup); the collector only writes.
    await logs.send(new CreateLogGroupCommand({ logGroupName: LOG_GROUP }));

    // The AMP pipeline writes to a real Prometheus with its remote-write receiver standing in for
    // AMP (Prometheus ignores the SigV4 signature; sigv4auth still signs every request).
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    prometheus = startProcess({
      name: 'prometheus',
      command: 'prometheus',
      args: ['--config.file=/dev/null', `--storage.tsdb.path=${join(DIR, 'run', 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--web.enable-remote-write-receiver', '--log.level=warn'],
      logFile: join(DIR, 'run', 'prometheus.log'),
    });
    await waitFor('Prometheus ready', async () => (await fetch(`${promUrl}/-/ready`)).ok, { timeoutMs: 30_000, proc: prometheus });
    const cfg = collectorConfig({ namespace: NAMESPACE, logGroupName: LOG_GROUP, region: moto.region, target: new URL(stack.metricsUrl).host, scrapeInterval: '1s', remoteWriteUrl: `${promUrl}/api/v1/write` });
    cfg.exporters.awsemf.endpoint = moto.endpoint;
    cfg.processors.batch.timeout = '1s';
    cfg.processors.resource_detection.detectors = cfg.processors.resource_detection.detectors.filter((d: string) => d !== 'ecs');
    const healthPort = await freePort();
    cfg.extensions.health_check.endpoint = `127.0.0.1:${healthPort}`;
    // The collector's own telemetry (:8888 by default) on a free port: several sessions share this machine.
    cfg.service.telemetry = { metrics: { readers: [{ pull: { exporter: { prometheus: { host: '127.0.0.1', port: await freePort() } } } }] } };
    const file = join(DIR, 'run', 'collector.json');
    writeFileSync(file, JSON.stringify(cfg, null, 2));
    collector = startProcess({
      name: 'otelcol',
      command: OTELCOL,
      args: [`--config=file:${file}`],
      env: { ...process.env, AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey, AWS_REGION: moto.region, AWS_EC2_METADATA_DISABLED: 'true' },
      logFile: join(DIR, 'run', 'collector.log'),
      wrap: readOnlySandbox({ writable: COLLECTOR_WRITABLE_PATHS, user: CONTAINER_USERS.collector }),
    });
    await waitFor('collector health_check', async () => (await fetch(`http://127.0.0.1:${healthPort}/`)).ok, { timeoutMs: 20_000, proc: collector });

    Runtime.install({ logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => console.error(m) } });
    connection = await Connection.connect(stack.clientOptions);
    const client = new Client({ connection, namespace: stack.namespace });
    nativeConnection = await NativeConnection.connect(stack.clientOptions);
    worker = await Worker.create({ connection: nativeConnection, namespace: stack.namespace, taskQueue: 'otel', workflowsPath: require.resolve('./workflows'), activities });
    workerRun = worker.run();
    t = Date.now();
    const run = async () => (await client.workflow.start(helloActivity, { taskQueue: 'otel', workflowId: `otel-${randomUUID()}`, args: ['otel'] })).result();
    // One with its activity through matching: an eagerly dispatched activity (upstream's default
    // since v1.32) records no task_type="Activity" schedule-to-start latency.
    const runMatched = async () => (await client.workflow.start(helloMatchedActivity, { taskQueue: 'otel', workflowId: `otel-matched-${randomUUID()}`, args: ['otel'] })).result();
    await Promise.all([...Array.from({ length: 3 }, run), runMatched()]);
    // Persistence errors (each COMMIT fails for 1.5 s; Temporal retries) and ResourceExhausted refusals.
    await stack.dsql.failCommits(1, 'OC000');
    const during = Array.from({ length: 2 }, run);
    await new Promise((r) => setTimeout(r, 1500));
    await stack.dsql.clearFaults();
    await Promise.all([...during, run()]);
    // DSQL refusing connections for its rate limit while the open ones are dropped: dsql_connect_retries.
    await stack.dsql.refuseConnections(2, 'rate');
    await stack.dsql.dropConnections();
    await run();
    await stack.dsql.clearFaults();
    const bare = await Connection.connect({ ...stack.clientOptions, interceptors: [] });
    try {
      await Promise.allSettled(Array.from({ length: 10 }, () => bare.workflowService.countWorkflowExecutions({ namespace: stack.namespace, query: '' })));
    } finally {
      await bare.close();
    }
    timings.workload = Date.now() - t;
    t = Date.now();
    // Counters become deltas: a series is sent from its second scrape on; wait until all is there.
    // The delta test below also needs one series sent several times with a non-zero count (the
    // workload alone did not always give one: it failed 1 run in 3 without the calls below).
    const repeated = () => [...emittedRequests().values()].some((v) => v.length >= 2 && v.some((x) => x > 0));
    // One DescribeNamespace per poll keeps one frontend series moving after the workload ended.
    const poll = async () => {
      await connection.workflowService.describeNamespace({ namespace: stack.namespace });
      return (await readEmf()) > 0 && missing().length === 0 && repeated();
    };
    await waitFor('EMF events with every alarm metric in moto', poll, { timeoutMs: 30_000, intervalMs: 1000, proc: collector }).catch(() => undefined);
    timings.emfWait = Date.now() - t;
    if (missing().length > 0 || !repeated()) console.log(`EMF after the wait: missing ${JSON.stringify(missing())}; a series sent twice with a count: ${repeated()}`);
  }, 4 * 60_000);

  afterAll(async () => {
    if (worker && worker.getState() === 'RUNNING') worker.shutdown();
    await workerRun?.catch(() => undefined);
    await nativeConnection?.close();
    await connection?.close();
    await collector?.stop(5_000);
    await prometheus?.stop(5_000);
    await moto?.stop();
    await stack?.stop();
    console.log(`otel-collector e2e timings (ms): ${JSON.stringify({ ...timings, ...stack?.timings })}`);
  }, 120_000);

  test('every metric and dimension value of the alarms and widgets arrives as EMF', () => {
    expect(seen.length).toBeGreaterThan(0);
    expect(missing()).toEqual([]);
  });

  test('histograms arrive as statistic sets whose Average (Sum / Count) the alarms can use; Min and Max are 0', () => {
    for (const m of Object.values(EMF_METRICS).filter((x) => x.kind === 'histogram')) {
      const sets = records.map((r) => r[m.name]).filter((v) => v && typeof v === 'object' && v.Count > 0);
      expect({ metric: m.name, withSamples: sets.length > 0, positiveSum: sets.some((v) => v.Sum > 0) }).toEqual({ metric: m.name, withSamples: true, positiveSum: true });
      // Prometheus buckets carry no minimum or maximum: awsemf sends 0 for both, so CloudWatch's
      // Minimum and Maximum statistics of these metrics are meaningless (the alarms use Average).
      expect(sets.filter((v) => v.Min !== 0 || v.Max !== 0)).toEqual([]);
    }
  });

  test('EMF records use the Temporal namespace and only the declared dimension sets (no roll-up)', () => {
    const declared = new Set(Object.values(EMF_METRICS).map((m) => `${m.name}:${JSON.stringify([...m.dimensions].sort())}`));
    expect(new Set(seen.map((s) => s.namespace))).toEqual(new Set([NAMESPACE]));
    expect(seen.filter((s) => !declared.has(`${s.metric}:${JSON.stringify(s.dims)}`)).map((s) => `${s.metric}[${s.dims}]`)).toEqual([]);
  });

  test('counters arrive as deltas: per series, the EMF values add up to at most the server\'s cumulative count', async () => {
    // The server's cumulative service_requests per label set, now (after every EMF event read).
    const text = await (await fetch(stack.metricsUrl)).text();
    const cumulative = new Map<string, number>();
    for (const line of text.split('\n')) {
      const m = /^service_requests\{([^}]*)\}\s+([0-9.eE+-]+)$/.exec(line.trim());
      if (!m) continue;
      const labels = Object.fromEntries([...m[1].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      cumulative.set(JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]])), Number(m[2]));
    }
    const emitted = emittedRequests();
    // Teeth: some series was sent several times with a non-zero count; sent as cumulative totals,
    // its values would add up to more than its total.
    expect([...emitted.values()].some((v) => v.length >= 2 && v.some((x) => x > 0))).toBe(true);
    const over: string[] = [];
    for (const [key, values] of emitted) {
      const total = cumulative.get(key);
      const sum = values.reduce((a, b) => a + b, 0);
      if (total === undefined || sum > total) over.push(`${key}: sent ${values.join('+')}, server total ${total}`);
    }
    expect(over).toEqual([]);
  });

  test('the AMP pipeline remote-writes every series under the names the server emits (no _total suffix)', async () => {
    const expected = (Object.values(EMF_METRICS) as EmfMetricSpec[]).filter((m) => !m.eventOnly)
      .flatMap((m) => (m.kind === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name]));
    const readNames = async (): Promise<string[]> => (await (await fetch(`${promUrl}/api/v1/label/__name__/values`)).json() as { data: string[] }).data;
    // The remote-write exporter batches and queues on its own, behind the EMF pipeline the
    // beforeAll waited for: a series the EMF events already hold (a late ResourceExhausted, say)
    // may reach Prometheus a few seconds later. Ask again for up to 20 s before judging.
    let names = await readNames();
    for (let deadline = Date.now() + 20_000; expected.some((n) => !names.includes(n)) && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 1000));
      names = await readNames();
    }
    expect(expected.filter((n) => !names.includes(n))).toEqual([]);
    expect(names.filter((n) => n.endsWith('_total') && names.includes(n.replace(/_total$/, '')))).toEqual([]);
    // Every series, not only the EMF ones: far more names than the EMF filter keeps.
    expect(names.length).toBeGreaterThan(expected.length * 3);
  });
});
