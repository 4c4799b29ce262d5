/**
 * The pure parts of the local stack, the samples and the benchmarks, without servers: settings
 * validation, port choice, Prometheus parsing, quantiles and the benchmark table.
 */
import { createServer, Server } from 'node:http';
import { sampleSettings } from '../../samples/hello-activity/config';
import { freePorts, PORT_MAX, PORT_MIN } from '../../local/process';
import { readCounter } from '../../local/server';
import { quantile } from '../../bench/workload';
import { summarize, TargetRound } from '../../bench/run';
import { requiredTemporalVersion, upstreamVersion } from '../../bench/upstream';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('sample settings', () => {
  test('defaults to the local frontend, namespace default and task queue hello-activity', () => {
    expect(sampleSettings({})).toEqual({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'hello-activity', tls: false });
  });

  test('one address switches to a deployed NLB, TLS on request', () => {
    const s = sampleSettings({ TEMPORAL_ADDRESS: 'temporal-nlb-123.elb.us-east-1.amazonaws.com:7233', TEMPORAL_TLS: 'true' });
    expect(s.address).toBe('temporal-nlb-123.elb.us-east-1.amazonaws.com:7233');
    expect(s.tls).toBe(true);
  });

  test.each([
    ['localhost', /TEMPORAL_ADDRESS must be host:port .* got 'localhost'/],
    ['localhost:0', /got 'localhost:0'/],
    ['localhost:70000', /got 'localhost:70000'/],
  ])('refuses TEMPORAL_ADDRESS=%s', (value, message) => {
    expect(() => sampleSettings({ TEMPORAL_ADDRESS: value })).toThrow(message);
  });

  test('refuses a TEMPORAL_TLS that is not true or false', () => {
    expect(() => sampleSettings({ TEMPORAL_TLS: 'yes' })).toThrow("TEMPORAL_TLS must be 'true' or 'false', got 'yes'");
  });
});

test('free ports are distinct and fit Temporal\'s SMALLINT port column', async () => {
  const ports = await freePorts(20);
  expect(new Set(ports).size).toBe(20);
  for (const p of ports) {
    expect(p).toBeGreaterThanOrEqual(PORT_MIN);
    expect(p).toBeLessThanOrEqual(PORT_MAX);
  }
  expect(PORT_MAX).toBe(32767);
});

describe('readCounter', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.end(
        [
          '# HELP dsql_occ_conflicts Optimistic-concurrency conflicts',
          '# TYPE dsql_occ_conflicts counter',
          'dsql_occ_conflicts{service_name="history",where="commit"} 3',
          'dsql_occ_conflicts{service_name="history",where="statement"} 2',
          'dsql_occ_conflicts_total_other 100',
          'dsql_connections_opened 7',
        ].join('\n'),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const addr = server.address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/metrics`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('sums every label set of one metric and nothing else', async () => {
    expect(await readCounter(url, 'dsql_occ_conflicts')).toBe(5);
    expect(await readCounter(url, 'dsql_connections_opened')).toBe(7);
    expect(await readCounter(url, 'absent_metric')).toBe(0);
  });
});

test('quantile uses the nearest rank', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  expect(quantile(xs, 0.5)).toBe(50);
  expect(quantile(xs, 0.99)).toBe(99);
  expect(quantile([7], 0.99)).toBe(7);
  expect(quantile([], 0.5)).toBeNaN();
});

test('the benchmark table gives medians and ratios against upstream of the same run', () => {
  const round = (target: TargetRound['target'], r: number, throughput: number, statements: number): TargetRound => ({
    target,
    round: r,
    workflows: 100,
    failed: 0,
    concurrency: 10,
    elapsedMs: 10_000,
    throughput,
    p50Ms: 100,
    p99Ms: 200,
    maxMs: 300,
    statements,
    transactionStatements: 1800,
    idleStatementsPerSecond: 10,
    serverStartMs: 1,
    occConflicts: target === 'upstream' ? undefined : 5,
    occRetries: target === 'upstream' ? undefined : 4,
    dsqlLocal: target === 'ours-dsql' ? { roundTrips: 6_000, statements: 5_000, transactions: 900, conflicts: 7, occWounds: 2 } : undefined,
    idleRoundTripsPerSecond: target === 'ours-dsql' ? 20 : undefined,
  });
  const table = summarize(
    [round('upstream', 1, 10, 10_000), round('upstream', 2, 30, 10_000), round('ours-dsql', 1, 10, 5_000), round('ours-dsql', 2, 10, 5_000)],
    { concurrency: 10, workflows: 100, rounds: 2, idle: 10 },
  );
  const rows = table.split('\n').filter((l) => l.startsWith('| upstream') || l.startsWith('| ours-dsql'));
  // upstream median throughput 20 -> ours 10 is 0.50; statements 100/wf vs 50/wf -> 0.50;
  // net of idle: (10000 - 10/s * 10 s) / 100 = 99 vs 49 -> 0.49; OCC 5 per 100 wf -> 50 per 1000;
  // round trips 6000/100 = 60 per workflow, net of 20/s idle over 10 s: (6000 - 200) / 100 = 58;
  // against upstream's 100 statements per workflow: 0.60.
  expect(rows[0]).toBe('| upstream | 20.0 | 1.00 | 100 | 200 | 100.0 | 18.0 | 1.00 | 99.0 | 1.00 | 10.0 | - | - | - | - | 0 |');
  expect(rows[1]).toBe('| ours-dsql | 10.0 | 0.50 | 100 | 200 | 50.0 | 18.0 | 0.50 | 49.0 | 0.49 | 10.0 | 60.0 (58.0) | 0.60 | 50.0 | 40.0 | 0 |');
});

test('the multi-Region row is reported as a ratio to ours-dsql of the same run', () => {
  const round = (target: TargetRound['target'], throughput: number, p99Ms: number, roundTrips: number, failed: number): TargetRound => ({
    target, round: 1, workflows: 100, failed, concurrency: 10, elapsedMs: 10_000, throughput, p50Ms: 100, p99Ms, maxMs: 300,
    statements: 8_000, transactionStatements: 0, idleStatementsPerSecond: 5, serverStartMs: 1, occConflicts: 0, occRetries: 0,
    dsqlLocal: { roundTrips, statements: 8_000, transactions: 900, conflicts: 0, occWounds: 0 }, idleRoundTripsPerSecond: 0,
  });
  const table = summarize(
    [round('upstream', 20, 200, 0, 0), round('ours-dsql', 10, 400, 5_500, 0), round('ours-dsql-multi-region', 4, 1_000, 5_500, 0)],
    { concurrency: 10, workflows: 100, rounds: 1, idle: 10 },
  );
  expect(table).toContain('| ours-dsql-multi-region | 4.0 | 0.20 |');
  // 4 / 10 wf/s, p99 1000 / 400 ms, 55 / 55 round trips per workflow.
  expect(table).toContain('Multi-Region latency profile (ours-dsql-multi-region vs ours-dsql, same dsql-local, database and run; commit 20 ms, round trip 1.5 ms): '
    + 'throughput 0.40x, p50 1.00x, p99 2.50x, client round trips per workflow 1.00x; failed 0 (multi-Region), 0 (single-Region).');
});

describe('benchmark baseline version', () => {
  test('the upstream baseline runs the same Temporal version as our server', () => {
    // A ratio between two Temporal versions would measure the version, not the plugin.
    expect(upstreamVersion()).toMatch(/^v1\.\d+\.\d+$/);
    expect(upstreamVersion()).toBe(requiredTemporalVersion(join(__dirname, '..', '..', 'docker', 'temporal-server', 'go.mod')));
  });

  test('reads the required version from a go.mod, or none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gomod-'));
    writeFileSync(join(dir, 'a.mod'), 'module x\n\nrequire (\n\tgo.temporal.io/server v1.32.2\n\tgo.temporal.io/api v1.60.0\n)\n');
    writeFileSync(join(dir, 'b.mod'), 'module x\n\nrequire go.temporal.io/api v1.60.0\n');
    expect(requiredTemporalVersion(join(dir, 'a.mod'))).toBe('v1.32.2');
    expect(requiredTemporalVersion(join(dir, 'b.mod'))).toBeUndefined();
  });
});
