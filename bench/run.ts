/**
 * Benchmarks (`npm run bench`): one run measures four targets side by side, on PostgreSQL 15
 * (with pg_stat_statements) and one OpenSearch node, with the same TypeScript worker and
 * workload (bench/workload.ts):
 *
 *   upstream              upstream Temporal (our server's version), its postgres12 plugin and schema (the baseline)
 *   ours-pg               our server (the dsql plugin) directly on PostgreSQL, no TLS, password auth
 *   ours-dsql             our server on dsql-local: TLS, IAM tokens, DSQL rules, DSQL's concurrency
 *                         (nobody waits, one of two conflicting transactions fails) and the latency
 *                         profile of --latency-profile (default dsql-single-region)
 *   ours-dsql-multi-region  (--multi-region) ours-dsql's server and dsql-local with the dsql-multi-region
 *                         latency set at run time (commit 20 ms: each commit waits for the peer Region)
 *   ours-dsql-nopipeline  the same as ours-dsql with the plugin's pipelined transactions off (pipeline=off)
 *
 * Reported per target: completed hello workflows per second and p50/p99 client-observed
 * start-to-close latency at a fixed concurrency; SQL statements per workflow from
 * pg_stat_statements (track = top: statements the server sent, BEGIN/COMMIT included and also
 * shown apart; BEGIN/COMMIT sent in a pipeline are not tracked there); for the dsql-local targets,
 * client round trips per workflow from dsql-local's accounting; for our server, OCC conflicts and
 * retries per 1,000 workflows (plugin metrics). Targets run one after the other, `--rounds` times
 * in turn, so that drifting machine load hits all of them alike; figures are medians over rounds,
 * ratios are against `upstream` of the same run (and ours-dsql against ours-dsql-nopipeline).
 *
 * Our schema reaches PostgreSQL through our own runner (lambda/dsql/schema) via dsql-local
 * (`--pg-url`). dsql-local always serves the backend's `postgres` database, so the dsql-local
 * targets have their own PostgreSQL instance (same binaries and settings) and share it, one after
 * the other; `upstream` (database bench_upstream) and `ours-pg` (database postgres) share the
 * other. For `ours-pg`, dsql-local's emulation triggers (row/byte/key-size checks, not part of our
 * schema) are dropped so that it runs the schema as written.
 *
 *   npm run bench -- [--concurrency 10] [--shards 4] [--latency-profile dsql-single-region] [--multi-region]
 *                    [--workflows 300] [--warmup 30] [--rounds 2] [--idle 10] [--out FILE]
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { Client as PgClient } from 'pg';
import { RoleStats, startDsqlLocal } from '../test/support/dsql-local';
import { startOpenSearchLocal } from '../test/support/opensearch-local';
import { LocalPostgres, startPostgres } from '../local/postgres';
import { applySchema, applyVisibilityIndex } from '../local/apply';
import { buildTemporalServer } from '../local/build';
import { ensureNamespace } from '../local/client';
import { ROOT, SERVER_DB_ROLE } from '../local/paths';
import { readCounter, startServer } from '../local/server';
import { pickServerPorts, writeServerConfig } from '../local/server-config';
import { BenchArgs, MULTI_REGION_LATENCY, parseBenchArgs } from './args';
import { startUpstreamTemporal } from './upstream';
import { runHelloWorkload, WorkloadResult } from './workload';

type TargetName = 'upstream' | 'ours-pg' | 'ours-dsql' | 'ours-dsql-multi-region' | 'ours-dsql-nopipeline';

/** Every target, in the order rounds run them (`ours-dsql-multi-region` only with --multi-region). */
const TARGETS: readonly TargetName[] = ['upstream', 'ours-pg', 'ours-dsql', 'ours-dsql-multi-region', 'ours-dsql-nopipeline'];

/** One measured round of one target. */
export interface TargetRound extends WorkloadResult {
  readonly target: TargetName;
  readonly round: number;
  /** Statements the server sent during the measured phase (pg_stat_statements calls). */
  readonly statements: number;
  /** Of which BEGIN, COMMIT, ROLLBACK. */
  readonly transactionStatements: number;
  /**
   * Statements per second while the server and the worker were idle (measured for `--idle`
   * seconds just before the measured phase): shard, membership and task-queue upkeep and long
   * polls. `statements - idleRate * elapsed` is what the workflows themselves cost.
   */
  readonly idleStatementsPerSecond: number;
  /** dsql plugin counters during the measured phase (our server only). */
  readonly occConflicts?: number;
  readonly occRetries?: number;
  /**
   * dsql-local's accounting for the server's role during the measured phase (ours-dsql only):
   * client round trips, statements, transactions, 40001s sent and transactions that lost a row.
   */
  readonly dsqlLocal?: { roundTrips: number; statements: number; transactions: number; conflicts: number; occWounds: number };
  /** Client round trips per second while idle, measured like idleStatementsPerSecond (ours-dsql only). */
  readonly idleRoundTripsPerSecond?: number;
  /** Server start-up (process spawn to frontend answering), ms. */
  readonly serverStartMs: number;
}

type Args = BenchArgs;

/** Statements per workflow net of the idle rate over the measured phase. */
function netPerWorkflow(r: Pick<TargetRound, 'statements' | 'idleStatementsPerSecond' | 'elapsedMs' | 'workflows'>): number {
  return (r.statements - (r.idleStatementsPerSecond * r.elapsedMs) / 1000) / r.workflows;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Sum of pg_stat_statements calls for one database (and role), total and transaction control. */
async function statementCalls(admin: PgClient, database: string, role: string): Promise<{ all: number; tx: number }> {
  const r = await admin.query(
    `SELECT coalesce(sum(s.calls), 0)::bigint AS all,
            coalesce(sum(s.calls) FILTER (WHERE s.query ~* '^\\s*(begin|commit|rollback|start transaction)'), 0)::bigint AS tx
       FROM pg_stat_statements s
       JOIN pg_database d ON d.oid = s.dbid
       JOIN pg_roles u ON u.oid = s.userid
      WHERE d.datname = $1 AND u.rolname = $2`,
    [database, role],
  );
  return { all: Number(r.rows[0].all), tx: Number(r.rows[0].tx) };
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2));
  const dir = join(ROOT, '.local', 'bench');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const log = (m: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}`);
  const cleanups: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const c of cleanups.reverse()) await c().catch((e) => log(`cleanup: ${(e as Error).message}`));
  };
  process.once('SIGINT', () => process.exit(130));
  try {
    const pgSettings = { 'pg_stat_statements.track': 'top', max_connections: 400 };
    /**
     * A PostgreSQL instance with our schema applied by our runner through dsql-local (`--pg-url`);
     * `keepDsql`: dsql-local stays in front of it, else it is stopped and its emulation triggers
     * are dropped. dsql-local always serves the backend's `postgres` database, hence one instance
     * per dsql-local.
     */
    const instance = async (keepDsql: boolean) => {
      const p = await startPostgres({ parentDir: dir, settings: pgSettings });
      try {
        const d = await startDsqlLocal({
          latencyProfile: keepDsql ? args.latencyProfile : 'none',
          extraArgs: [`--pg-url=postgres://postgres@127.0.0.1:${p.port}/postgres?sslmode=disable`],
        });
        try {
          await applySchema(d);
        } catch (e) {
          await d.stop();
          throw e;
        }
        if (!keepDsql) {
          await d.stop();
          await dropEmulationTriggers(p);
        }
        return { pg: p, dsql: keepDsql ? d : undefined };
      } catch (e) {
        await p.stop();
        throw e;
      }
    };
    log('PostgreSQL x2 (pg_stat_statements) with our schema applied by our runner through dsql-local; OpenSearch; building the server');
    const [main, withDsql, os, serverBin] = await Promise.all([instance(false), instance(true), startOpenSearchLocal({ heapMb: 768 }), buildTemporalServer()]);
    const pg = main.pg;
    const pgDsql = withDsql.pg;
    const dsql = withDsql.dsql!;
    const { latency } = await dsql.state();
    log(`dsql-local (ours-dsql): DSQL concurrency, latency profile ${args.latencyProfile} (${JSON.stringify(latency)}); ${args.shards} history shards`);
    cleanups.push(() => pg.stop(), () => pgDsql.stop(), () => os.stop(), () => dsql.stop());
    const admin = await pg.connect();
    const adminDsql = await pgDsql.connect();
    cleanups.push(() => admin.end(), () => adminDsql.end());
    for (const c of [admin, adminDsql]) await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');

    const index = (t: TargetName) => `temporal_visibility_v1_bench_${t.replace(/-/g, '_')}`;
    for (const t of TARGETS) await applyVisibilityIndex(os.url, index(t));

    const targets = TARGETS.filter((t) => t !== 'ours-dsql-multi-region' || args.multiRegion);
    const rounds: TargetRound[] = [];
    let upstreamReady = false;
    for (let round = 1; round <= args.rounds; round++) {
      for (const target of targets) {
        const tdir = join(dir, `${target}-${round}`);
        const t0 = Date.now();
        let address: string;
        let stop: () => Promise<void>;
        let metricsUrl: string | undefined;
        let database: string;
        let role: string;
        const onDsql = target === 'ours-dsql' || target === 'ours-dsql-multi-region' || target === 'ours-dsql-nopipeline';
        if (target === 'ours-dsql-multi-region') {
          // Same dsql-local and database as ours-dsql; only the latency model changes, for this target only.
          const set = await dsql.setLatency(MULTI_REGION_LATENCY);
          if (set.commitMs !== MULTI_REGION_LATENCY.commitMs || set.roundTripMs !== MULTI_REGION_LATENCY.roundTripMs) {
            throw new Error(`dsql-local kept latency ${JSON.stringify(set)} after POST /config/latency ${JSON.stringify(MULTI_REGION_LATENCY)}`);
          }
        }
        const statsDb = onDsql ? adminDsql : admin;
        if (target === 'upstream') {
          // Upstream's schema tool creates the database once; later rounds reuse it.
          const up = await startUpstreamTemporal({
            postgres: pg,
            database: 'bench_upstream',
            openSearch: { url: os.url, index: index(target) },
            dir: tdir,
            skipSchema: upstreamReady,
            numHistoryShards: args.shards,
          });
          upstreamReady = true;
          address = up.address;
          stop = up.stop;
          database = 'bench_upstream';
          role = 'postgres';
        } else {
          // The two dsql-local targets run one after the other on one database: the previous
          // server's membership rows (its ports, now closed) would be the next one's ringpop
          // seeds, and its join can then exceed maxJoinDuration (seen: "join duration of 1m11s
          // exceeded max 30s"). A fresh cluster starts from an empty membership table.
          await statsDb.query('DELETE FROM cluster_membership');
          const ports = await pickServerPorts();
          const { configFile, env: configEnv } = writeServerConfig({
            dir: tdir,
            ports,
            persistence:
              onDsql
                ? { kind: 'dsql-local', dsql }
                : { kind: 'postgres', host: '127.0.0.1', port: pg.port, user: SERVER_DB_ROLE, database: 'postgres' },
            openSearchUrl: os.url,
            visibilityIndex: index(target),
            numHistoryShards: args.shards,
            pipeline: target !== 'ours-dsql-nopipeline',
          });
          const cred = dsql.credentials.find((c) => c.principalArn === dsql.principal('temporal-server'))!;
          const server = await startServer(serverBin, configFile, ports, join(tdir, 'server.log'), {
            ...configEnv,
            AWS_ACCESS_KEY_ID: cred.accessKeyId,
            AWS_SECRET_ACCESS_KEY: cred.secretAccessKey,
            AWS_REGION: dsql.region,
            AWS_EC2_METADATA_DISABLED: 'true',
          });
          address = server.address;
          stop = () => server.process.stop(20_000);
          metricsUrl = server.metricsUrl;
          database = 'postgres';
          role = SERVER_DB_ROLE;
        }
        const serverStartMs = Date.now() - t0;
        try {
          await ensureNamespace(address, 'default');
          let s0 = { all: 0, tx: 0 };
          let idleRate = 0;
          let c0 = 0;
          let r0 = 0;
          let d0: RoleStats | undefined;
          let idleRoundTrips: number | undefined;
          const dsqlStats = async () => (onDsql ? (await dsql.stats())[SERVER_DB_ROLE] : undefined);
          log(`round ${round}: ${target} up in ${serverStartMs} ms at ${address}; ${args.warmup} warm-up + ${args.workflows} workflows at concurrency ${args.concurrency}`);
          const w = await runHelloWorkload({
            address,
            concurrency: args.concurrency,
            workflows: args.workflows,
            warmup: args.warmup,
            beforeMeasure: async () => {
              const i0 = await statementCalls(statsDb, database, role);
              const di = await dsqlStats();
              const ti = Date.now();
              await new Promise((r) => setTimeout(r, args.idle * 1000));
              s0 = await statementCalls(statsDb, database, role);
              d0 = await dsqlStats();
              idleRate = ((s0.all - i0.all) * 1000) / (Date.now() - ti);
              if (di && d0) idleRoundTrips = ((d0.roundTrips - di.roundTrips) * 1000) / (Date.now() - ti);
              if (metricsUrl) {
                c0 = await readCounter(metricsUrl, 'dsql_occ_conflicts');
                r0 = await readCounter(metricsUrl, 'dsql_occ_retries');
              }
            },
          });
          const s1 = await statementCalls(statsDb, database, role);
          const d1 = await dsqlStats();
          const result: TargetRound = {
            target,
            round,
            ...w,
            statements: s1.all - s0.all,
            transactionStatements: s1.tx - s0.tx,
            idleStatementsPerSecond: idleRate,
            occConflicts: metricsUrl ? (await readCounter(metricsUrl, 'dsql_occ_conflicts')) - c0 : undefined,
            occRetries: metricsUrl ? (await readCounter(metricsUrl, 'dsql_occ_retries')) - r0 : undefined,
            dsqlLocal:
              d0 && d1
                ? {
                    roundTrips: d1.roundTrips - d0.roundTrips,
                    statements: d1.statements - d0.statements,
                    transactions: d1.transactions - d0.transactions,
                    conflicts: d1.conflicts - d0.conflicts,
                    occWounds: d1.occWounds - d0.occWounds,
                  }
                : undefined,
            idleRoundTripsPerSecond: idleRoundTrips,
            serverStartMs,
          };
          rounds.push(result);
          log(
            `round ${round}: ${target}: ${result.throughput.toFixed(1)} wf/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, ` +
              `${(result.statements / result.workflows).toFixed(1)} statements/wf (${netPerWorkflow(result).toFixed(1)} net of ${idleRate.toFixed(1)}/s idle), failed ${result.failed}` +
              (metricsUrl ? `, OCC conflicts ${result.occConflicts}, retries ${result.occRetries}` : '') +
              (result.dsqlLocal ? `, ${(result.dsqlLocal.roundTrips / result.workflows).toFixed(1)} round trips/wf, dsql-local 40001s ${result.dsqlLocal.conflicts}` : ''),
          );
        } finally {
          await stop();
          if (target === 'ours-dsql-multi-region') await dsql.setLatency(latency);
        }
      }
    }
    const summary = summarize(rounds, args);
    const dsqlRounds = rounds.filter((r) => r.dsqlLocal);
    if (dsqlRounds.length) {
      console.log(
        'dsql-local per round: ' +
          dsqlRounds
            .map((r) => `${r.target} round ${r.round}: ${r.dsqlLocal!.roundTrips} round trips, ${r.dsqlLocal!.transactions} transactions, ${r.dsqlLocal!.conflicts} 40001s, ${r.dsqlLocal!.occWounds} rows lost`)
            .join('; '),
      );
    }
    mkdirSync(join(ROOT, '.cache', 'bench'), { recursive: true });
    writeFileSync(args.out, JSON.stringify({ args, machine: machine(), rounds, summary }, null, 2));
    console.log(`\n${summary}\nraw results: ${args.out}`);
  } finally {
    await stopAll();
  }
}

/** Drops dsql-local's emulation triggers (not part of our schema) from every table of `pg`'s postgres database. */
async function dropEmulationTriggers(pg: LocalPostgres): Promise<void> {
  const c = await pg.connect('postgres');
  try {
    const r = await c.query(
      `SELECT tgname, tgrelid::regclass::text AS rel FROM pg_trigger WHERE NOT tgisinternal AND tgname IN ('dsql_local_write_limits', 'dsql_local_key_limits')`,
    );
    for (const row of r.rows as Array<{ tgname: string; rel: string }>) {
      await c.query(`DROP TRIGGER ${row.tgname} ON ${row.rel}`);
    }
    await c.query('DROP EVENT TRIGGER IF EXISTS dsql_local_write_limits');
  } finally {
    await c.end();
  }
}

function machine(): string {
  const c = cpus();
  return `${c.length} vCPU (${c[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, PostgreSQL 15 (Debian), OpenSearch 2.19 (embedded)`;
}

/** Markdown table of medians over rounds, with ratios against upstream. */
export function summarize(
  rounds: readonly TargetRound[],
  args: Pick<Args, 'concurrency' | 'workflows' | 'rounds' | 'idle'> & Partial<Pick<Args, 'shards' | 'latencyProfile'>>,
): string {
  const by = (t: TargetName) => rounds.filter((r) => r.target === t);
  const base = by('upstream');
  const baseTput = median(base.map((r) => r.throughput));
  const baseStmts = median(base.map((r) => r.statements / r.workflows));
  const baseNet = median(base.map(netPerWorkflow));
  const lines = [
    `Concurrency ${args.concurrency}, ${args.shards ?? 4} history shards, ${args.workflows} measured workflows per target and round, ${args.rounds} round(s), ` +
      `idle window ${args.idle} s; ours-dsql on dsql-local with DSQL concurrency and latency profile ${args.latencyProfile ?? 'none'}` +
      (rounds.some((r) => r.target === 'ours-dsql-multi-region') ? `; ours-dsql-multi-region on the same dsql-local with the dsql-multi-region latency (${JSON.stringify(MULTI_REGION_LATENCY)}) set for its turn` : '') +
      '; medians over rounds.',
    '',
    '| target | workflows/s | vs upstream | p50 ms | p99 ms | SQL statements/wf | of which BEGIN/COMMIT | vs upstream | net of idle /wf | vs upstream | idle statements/s | client round trips/wf (net of idle) | vs upstream statements/wf | OCC conflicts /1000 wf | OCC retries /1000 wf | failed |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const t of TARGETS) {
    const rs = by(t);
    if (rs.length === 0) continue;
    const tput = median(rs.map((r) => r.throughput));
    const stmts = median(rs.map((r) => r.statements / r.workflows));
    const tx = median(rs.map((r) => r.transactionStatements / r.workflows));
    const net = median(rs.map(netPerWorkflow));
    const occ = rs[0].occConflicts === undefined ? '-' : median(rs.map((r) => ((r.occConflicts ?? 0) * 1000) / r.workflows)).toFixed(1);
    const retries = rs[0].occRetries === undefined ? '-' : median(rs.map((r) => ((r.occRetries ?? 0) * 1000) / r.workflows)).toFixed(1);
    // OCC conflicts: the plugin's count, or dsql-local's 40001s when it saw more (statements
    // retried inside the driver are counted by both; dsql-local also sees those of transactions).
    const withDsql = rs.filter((r) => r.dsqlLocal);
    const rt = withDsql.length ? median(withDsql.map((r) => r.dsqlLocal!.roundTrips / r.workflows)) : undefined;
    const rtNet = withDsql.length
      ? median(withDsql.map((r) => (r.dsqlLocal!.roundTrips - ((r.idleRoundTripsPerSecond ?? 0) * r.elapsedMs) / 1000) / r.workflows))
      : undefined;
    lines.push(
      `| ${t} | ${tput.toFixed(1)} | ${(tput / baseTput).toFixed(2)} | ${median(rs.map((r) => r.p50Ms))} | ${median(rs.map((r) => r.p99Ms))} | ` +
        `${stmts.toFixed(1)} | ${tx.toFixed(1)} | ${(stmts / baseStmts).toFixed(2)} | ${net.toFixed(1)} | ${(net / baseNet).toFixed(2)} | ` +
        `${median(rs.map((r) => r.idleStatementsPerSecond)).toFixed(1)} | ${rt === undefined ? '-' : `${rt.toFixed(1)} (${rtNet!.toFixed(1)})`} | ` +
        `${rt === undefined ? '-' : (rt / baseStmts).toFixed(2)} | ${occ} | ${retries} | ${rs.reduce((n, r) => n + r.failed, 0)} |`,
    );
  }
  const on = by('ours-dsql');
  const off = by('ours-dsql-nopipeline');
  if (on.length && off.length) {
    const r = (f: (x: TargetRound) => number) => median(on.map(f)) / median(off.map(f));
    lines.push(
      '',
      `Pipelined transactions (ours-dsql vs ours-dsql-nopipeline, same dsql-local and latency): throughput ${r((x) => x.throughput).toFixed(2)}x, ` +
        `p50 ${r((x) => x.p50Ms).toFixed(2)}x, p99 ${r((x) => x.p99Ms).toFixed(2)}x, client round trips per workflow ` +
        `${r((x) => (x.dsqlLocal?.roundTrips ?? NaN) / x.workflows).toFixed(2)}x.`,
    );
  }
  const mr = by('ours-dsql-multi-region');
  if (on.length && mr.length) {
    const r = (f: (x: TargetRound) => number) => median(mr.map(f)) / median(on.map(f));
    lines.push(
      '',
      `Multi-Region latency profile (ours-dsql-multi-region vs ours-dsql, same dsql-local, database and run; commit ${MULTI_REGION_LATENCY.commitMs} ms, ` +
        `round trip ${MULTI_REGION_LATENCY.roundTripMs} ms): throughput ${r((x) => x.throughput).toFixed(2)}x, p50 ${r((x) => x.p50Ms).toFixed(2)}x, ` +
        `p99 ${r((x) => x.p99Ms).toFixed(2)}x, client round trips per workflow ${r((x) => (x.dsqlLocal?.roundTrips ?? NaN) / x.workflows).toFixed(2)}x; ` +
        `failed ${mr.reduce((n, x) => n + x.failed, 0)} (multi-Region), ${on.reduce((n, x) => n + x.failed, 0)} (single-Region).`,
    );
  }
  return lines.join('\n');
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(`[bench] ${(e as Error).stack ?? e}`);
      process.exit(1);
    },
  );
}
