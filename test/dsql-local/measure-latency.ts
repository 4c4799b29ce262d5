/**
 * Measures the latency dsql-local adds per query, against the same PostgreSQL reached directly
 * (Unix socket, no TLS), in one run. Not a test: performance is measured, never asserted.
 *
 *   npx tsx test/dsql-local/measure-latency.ts [iterations=3000]
 *
 * Prints, for a simple-protocol `SELECT 1` and an extended-protocol `SELECT $1::int`, the median
 * (and mean, p99) round trip of each path and the ratio of medians through-proxy / direct. The
 * direct path is PostgreSQL's Unix socket without TLS; the proxied path is TCP + TLS + dsql-local
 * + the same socket, so the ratio is the whole cost a client sees.
 */
import { Client } from 'pg';
import { startDsqlLocal } from '../support/dsql-local';

interface Stats {
  mean: number;
  p50: number;
  p99: number;
}

function stats(t: number[]): Stats {
  const s = [...t].sort((a, b) => a - b);
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, p50: s[Math.floor(s.length / 2)], p99: s[Math.floor(s.length * 0.99)] };
}

/**
 * Alternates one query on each path per iteration, so both see the same machine load (the CI
 * machine is shared), and returns the round-trip times in microseconds.
 */
async function measure(direct: Client, proxied: Client, sql: string, params: unknown[] | undefined, n: number): Promise<[Stats, Stats]> {
  for (let i = 0; i < 200; i++) {
    await direct.query(sql, params);
    await proxied.query(sql, params);
  }
  const d: number[] = [];
  const p: number[] = [];
  const time = async (c: Client, into: number[]) => {
    const s = process.hrtime.bigint();
    await c.query(sql, params);
    into.push(Number(process.hrtime.bigint() - s) / 1000);
  };
  for (let i = 0; i < n; i++) {
    await time(direct, d);
    await time(proxied, p);
  }
  return [stats(d), stats(p)];
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 3000);
  if (!Number.isInteger(n) || n < 100) throw new Error(`iterations must be an integer >= 100, got ${process.argv[2]}`);
  const dsql = await startDsqlLocal();
  try {
    if (!dsql.pgSocketDir) throw new Error('dsql-local did not report its PostgreSQL socket');
    const proxied = await dsql.connect();
    const direct = new Client({ host: dsql.pgSocketDir, port: dsql.pgPort, user: dsql.pgUser, database: 'postgres' });
    await direct.connect();
    const rows: string[] = [];
    for (const [label, sql, params] of [
      ['simple  SELECT 1      ', 'SELECT 1', undefined],
      ['extended SELECT $1::int', 'SELECT $1::int', [7]],
    ] as [string, string, unknown[] | undefined][]) {
      const [d, p] = await measure(direct, proxied, sql, params, n);
      rows.push(
        `${label}  direct p50 ${d.p50.toFixed(1)} µs (mean ${d.mean.toFixed(1)}, p99 ${d.p99.toFixed(1)}) | ` +
          `dsql-local p50 ${p.p50.toFixed(1)} µs (mean ${p.mean.toFixed(1)}, p99 ${p.p99.toFixed(1)}) | ` +
          `added p50 ${(p.p50 - d.p50).toFixed(1)} µs, ratio of medians ${(p.p50 / d.p50).toFixed(2)}x`,
      );
    }
    console.log(`iterations per case and path: ${n}, alternating (after 200 warm-up), node-postgres ${(await import('pg/package.json')).version}`);
    for (const r of rows) console.log(r);
    await direct.end();
    await proxied.end();
  } finally {
    await dsql.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
