/**
 * Measures the latency dsql-local adds per query, against the same PostgreSQL reached directly
 * (Unix socket, no TLS), in one run. Not a test: performance is measured, never asserted.
 *
 *   npx tsx test/dsql-local/measure-latency.ts [iterations=3000]
 *
 * Prints, for a simple-protocol `SELECT 1` and an extended-protocol `SELECT $1::int`, the mean and
 * median round trip of each path and the ratio through-proxy / direct.
 */
import { Client } from 'pg';
import { startDsqlLocal } from '../support/dsql-local';

interface Stats {
  mean: number;
  p50: number;
  p99: number;
}

async function measure(client: Client, sql: string, params: unknown[] | undefined, n: number): Promise<Stats> {
  for (let i = 0; i < 200; i++) await client.query(sql, params);
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = process.hrtime.bigint();
    await client.query(sql, params);
    t.push(Number(process.hrtime.bigint() - s) / 1000);
  }
  t.sort((a, b) => a - b);
  return { mean: t.reduce((a, b) => a + b, 0) / n, p50: t[Math.floor(n / 2)], p99: t[Math.floor(n * 0.99)] };
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
      const d = await measure(direct, sql, params, n);
      const p = await measure(proxied, sql, params, n);
      rows.push(
        `${label}  direct mean ${d.mean.toFixed(1)} µs p50 ${d.p50.toFixed(1)} p99 ${d.p99.toFixed(1)} | ` +
          `dsql-local mean ${p.mean.toFixed(1)} µs p50 ${p.p50.toFixed(1)} p99 ${p.p99.toFixed(1)} | ` +
          `added ${(p.mean - d.mean).toFixed(1)} µs, ratio ${(p.mean / d.mean).toFixed(2)}x`,
      );
    }
    console.log(`iterations per case: ${n} (after 200 warm-up), node-postgres ${(await import('pg/package.json')).version}`);
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
