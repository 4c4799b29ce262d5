/**
 * dsql-local conformance, concurrency, latency and accounting (../shared/DSQL.md, "Concurrency").
 *
 * Aurora DSQL never makes a statement wait for another transaction; of two transactions that
 * write or lock the same row, one fails with 40001 (OC000). Every test here is written so that a
 * statement that waits for another session's open transaction can never complete: the other
 * session only ends its transaction after the statement under test has settled. A regression to
 * PostgreSQL's blocking shows as a clear "waited" failure (the race below), never as a slow pass.
 * Timings are asserted only as lower bounds (added latency), which a loaded machine cannot break.
 */
import { Client } from 'pg';
import { DsqlLocal, startDsqlLocal } from '../support/dsql-local';
import { expectSqlError } from './expect-sql';

let dsql: DsqlLocal;
const clients: Client[] = [];

async function connect(d: DsqlLocal = dsql, user = 'admin'): Promise<Client> {
  const c = await d.connect({ user });
  clients.push(c);
  return c;
}

/** A fresh table `name (id int PRIMARY KEY, v int)` with rows 1..rows, through a new admin session. */
async function freshTable(name: string, rows = 0, d: DsqlLocal = dsql): Promise<Client> {
  const c = await connect(d);
  await c.query(`CREATE TABLE ${name} (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)`);
  if (rows > 0) await c.query(`INSERT INTO ${name} (id) SELECT g FROM generate_series(1, ${rows}) g`);
  return c;
}

/**
 * Settles `p`, failing with a clear message if it has not settled after `ms` (generous: a
 * statement that waits for an open transaction never settles here, because the transaction it
 * would wait for is only ended after this returns).
 */
async function withoutWaiting<T>(p: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} waited for another session's open transaction`)), ms);
  });
  try {
    return await Promise.race([p, waited]);
  } finally {
    clearTimeout(timer);
  }
}

/** Records whether a promise has settled, without awaiting it. */
function track<T>(p: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let done = false;
  const promise = p.finally(() => {
    done = true;
  });
  promise.catch(() => undefined);
  return { settled: () => done, promise };
}

beforeAll(async () => {
  dsql = await startDsqlLocal();
}, 300_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  await dsql?.stop();
});

describe('no statement waits for another transaction (default --concurrency=dsql)', () => {
  test('an update held open does not block a second updater; the second commits, the first fails at COMMIT', async () => {
    const a = await freshTable('cc_update', 1);
    const b = await connect();
    await a.query('BEGIN');
    await a.query('UPDATE cc_update SET v = 1 WHERE id = 1');
    // a's transaction stays open while b updates the same row and commits.
    await b.query('BEGIN');
    const upd = await withoutWaiting(b.query('UPDATE cc_update SET v = 2 WHERE id = 1'), "b's UPDATE");
    expect(upd.rowCount).toBe(1);
    expect((await withoutWaiting(b.query('COMMIT'), "b's COMMIT")).command).toBe('COMMIT');
    await expectSqlError(a.query('COMMIT'), '40001', '(OC000)');
    expect((await b.query('SELECT v FROM cc_update WHERE id = 1')).rows).toEqual([{ v: 2 }]);
    // Both sessions are usable afterwards.
    expect((await a.query('SELECT v FROM cc_update WHERE id = 1')).rows).toEqual([{ v: 2 }]);
  });

  test('the transaction that lost learns it at its next statement (OC000), then 25P02 until it ends', async () => {
    const a = await freshTable('cc_next', 1);
    const b = await connect();
    await a.query('BEGIN');
    await a.query('UPDATE cc_next SET v = 1 WHERE id = 1');
    await withoutWaiting(b.query('UPDATE cc_next SET v = 2 WHERE id = 1'), "b's autocommit UPDATE");
    await expectSqlError(a.query('SELECT v FROM cc_next'), '40001', '(OC000)');
    await expectSqlError(a.query('SELECT 1'), '25P02');
    // COMMIT of a failed transaction answers ROLLBACK, as after any refusal.
    expect((await a.query('COMMIT')).command).toBe('ROLLBACK');
    expect((await a.query('SELECT v FROM cc_next WHERE id = 1')).rows).toEqual([{ v: 2 }]);
  });

  test('two SELECT ... FOR UPDATE of one row that change nothing: exactly one commits (PostgreSQL lets both)', async () => {
    const a = await freshTable('cc_lock', 1);
    const b = await connect();
    await a.query('BEGIN');
    await a.query('SELECT v FROM cc_lock WHERE id = 1 FOR UPDATE');
    await b.query('BEGIN');
    expect((await withoutWaiting(b.query('SELECT v FROM cc_lock WHERE id = 1 FOR UPDATE'), "b's FOR UPDATE")).rows).toEqual([{ v: 0 }]);
    expect((await b.query('COMMIT')).command).toBe('COMMIT');
    await expectSqlError(a.query('COMMIT'), '40001', '(OC000)');
  });

  test('concurrent inserts of the same key: one commits, the other fails with OC000 (not 23505, no wait)', async () => {
    const a = await freshTable('cc_insert');
    const b = await connect();
    await a.query('BEGIN');
    await a.query('INSERT INTO cc_insert (id, v) VALUES (1, 10)');
    await b.query('BEGIN');
    await withoutWaiting(b.query('INSERT INTO cc_insert (id, v) VALUES (1, 20)'), "b's INSERT");
    expect((await b.query('COMMIT')).command).toBe('COMMIT');
    await expectSqlError(a.query('COMMIT'), '40001', '(OC000)');
    expect((await b.query('SELECT id, v FROM cc_insert')).rows).toEqual([{ id: 1, v: 20 }]);
  });

  test('a holder busy in a statement loses that statement (OC000) and its row goes to the writer', async () => {
    const a = await freshTable('cc_busy', 1);
    const b = await connect();
    await a.query('BEGIN');
    await a.query('UPDATE cc_busy SET v = 1 WHERE id = 1');
    const sleeping = track(a.query('SELECT pg_sleep(30)'));
    // b's update must not wait for a's 30-second statement, nor for a's transaction to end.
    await withoutWaiting(b.query('UPDATE cc_busy SET v = 2 WHERE id = 1'), "b's UPDATE", 20_000);
    await expectSqlError(sleeping.promise, '40001', '(OC000)');
    expect((await a.query('ROLLBACK')).command).toBe('ROLLBACK');
    expect((await a.query('SELECT v FROM cc_busy WHERE id = 1')).rows).toEqual([{ v: 2 }]);
  });

  test('a deadlock: exactly one transaction fails with OC000, without waiting for a deadlock timeout', async () => {
    const a = await freshTable('cc_dead', 2);
    const b = await connect();
    await a.query('BEGIN');
    await b.query('BEGIN');
    await a.query('UPDATE cc_dead SET v = 1 WHERE id = 1');
    await b.query('UPDATE cc_dead SET v = 1 WHERE id = 2');
    const results = await Promise.allSettled([
      withoutWaiting(a.query('UPDATE cc_dead SET v = 2 WHERE id = 2'), "a's second UPDATE"),
      withoutWaiting(b.query('UPDATE cc_dead SET v = 2 WHERE id = 1'), "b's second UPDATE"),
    ]);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(failed.map((f) => ({ code: f.reason.code, oc000: /\(OC000\)/.test(f.reason.message) }))).toEqual([{ code: '40001', oc000: true }]);
    // The survivor commits; the loser's COMMIT answers ROLLBACK (it was already told).
    const [winner, loser] = results[0].status === 'fulfilled' ? [a, b] : [b, a];
    expect((await winner.query('COMMIT')).command).toBe('COMMIT');
    expect((await loser.query('COMMIT')).command).toBe('ROLLBACK');
  });

  test('a writer whose COMMIT is in flight wins: the other write fails at once with OC000', async () => {
    const a = await freshTable('cc_commit', 1);
    const b = await connect();
    await dsql.setLatency({ commitMs: 3000, jitter: 0 });
    try {
      await a.query('BEGIN');
      await a.query('UPDATE cc_commit SET v = 1 WHERE id = 1');
      await b.query('BEGIN'); // b's statement below is no commit of its own, so it gets no commit latency
      const commit = track(a.query('COMMIT')); // held back 3 s before it reaches PostgreSQL
      await new Promise((r) => setTimeout(r, 300));
      await expectSqlError(withoutWaiting(b.query('SELECT v FROM cc_commit WHERE id = 1 FOR UPDATE'), "b's FOR UPDATE"), '40001', '(OC000)');
      // b failed while a's COMMIT was still in flight: nobody waited for it.
      expect(commit.settled()).toBe(false);
      expect((await commit.promise).command).toBe('COMMIT');
      await b.query('ROLLBACK');
    } finally {
      await dsql.setLatency({ commitMs: 0 });
    }
    expect((await b.query('SELECT v FROM cc_commit WHERE id = 1')).rows).toEqual([{ v: 1 }]);
  });

  test('an autocommit write that loses to a committing writer fails with OC000, and the session goes on', async () => {
    const a = await freshTable('cc_auto', 1);
    const b = await connect();
    await dsql.setLatency({ commitMs: 3000, jitter: 0 });
    try {
      await a.query('BEGIN');
      await a.query('UPDATE cc_auto SET v = 1 WHERE id = 1');
      const commit = track(a.query('COMMIT')); // held back 3 s before it reaches PostgreSQL
      await new Promise((r) => setTimeout(r, 300));
      await dsql.setLatency({ commitMs: 0 }); // b's own autocommit write gets no commit delay
      await expectSqlError(withoutWaiting(b.query('UPDATE cc_auto SET v = 2 WHERE id = 1'), "b's UPDATE"), '40001', '(OC000)');
      expect(commit.settled()).toBe(false);
      expect((await commit.promise).command).toBe('COMMIT');
    } finally {
      await dsql.setLatency({ commitMs: 0 });
    }
    // The lost statement was b's whole transaction: b's next statements run as usual.
    expect((await b.query('SELECT v FROM cc_auto WHERE id = 1')).rows).toEqual([{ v: 1 }]);
    expect((await b.query('UPDATE cc_auto SET v = 3 WHERE id = 1')).rowCount).toBe(1);
  });

  test('a write to a row another transaction changed and committed after this snapshot fails at the statement', async () => {
    const a = await freshTable('cc_stale', 1);
    const b = await connect();
    await a.query('BEGIN');
    await a.query('SELECT v FROM cc_stale WHERE id = 1'); // snapshot taken
    await b.query('UPDATE cc_stale SET v = 5 WHERE id = 1');
    // DSQL would fail a at COMMIT; PostgreSQL reports it at the write (documented in the README).
    await expectSqlError(a.query('UPDATE cc_stale SET v = 6 WHERE id = 1'), '40001', '(OC000)');
    await a.query('ROLLBACK');
  });
});

describe('--concurrency=postgres keeps PostgreSQL blocking, for comparison', () => {
  let pgMode: DsqlLocal;
  beforeAll(async () => {
    pgMode = await startDsqlLocal({ concurrency: 'postgres' });
  }, 300_000);
  afterAll(async () => {
    await pgMode?.stop();
  });

  test('a second updater waits for the open transaction and loses after it commits', async () => {
    const a = await freshTable('pg_update', 1, pgMode);
    const b = await connect(pgMode);
    await a.query('BEGIN');
    await a.query('UPDATE pg_update SET v = 1 WHERE id = 1');
    await b.query('BEGIN');
    await b.query('SELECT 1'); // b's snapshot is taken before a commits
    const upd = track(b.query('UPDATE pg_update SET v = 2 WHERE id = 1'));
    // Several round trips of a later, b's update is still waiting for a's row lock.
    for (let i = 0; i < 5; i++) await a.query('SELECT pg_sleep(0.05)');
    expect(upd.settled()).toBe(false);
    await a.query('COMMIT');
    await expectSqlError(upd.promise, '40001', '(OC000)');
    await b.query('ROLLBACK');
    expect((await pgMode.state()).concurrency).toBe('postgres');
  });
});

describe('accounting per database role', () => {
  test('round trips, statements, transactions, commits, conflicts and row-limit refusals', async () => {
    const admin = await freshTable('acct_t', 1);
    await admin.query('CREATE ROLE acct WITH LOGIN');
    await admin.query(`AWS IAM GRANT acct TO '${dsql.principal('temporal-server')}'`);
    await admin.query('GRANT ALL ON acct_t TO acct');
    const c = await connect(dsql, 'acct');
    // node-postgres sends each query without parameters as one simple Query: one round trip.
    await c.query('BEGIN');
    await c.query('SELECT v FROM acct_t WHERE id = 1');
    await c.query('UPDATE acct_t SET v = 3 WHERE id = 1');
    await c.query('COMMIT');
    await c.query('SELECT 1'); // an autocommit transaction
    // One conflict: another session takes the row while c's transaction holds it.
    await c.query('BEGIN');
    await c.query('UPDATE acct_t SET v = 4 WHERE id = 1');
    await withoutWaiting(admin.query('UPDATE acct_t SET v = 5 WHERE id = 1'), "admin's UPDATE");
    await expectSqlError(c.query('COMMIT'), '40001', '(OC000)');
    // One row-limit refusal (3,001 rows in one transaction).
    await expectSqlError(c.query('INSERT INTO acct_t (id) SELECT g FROM generate_series(2, 3002) g'), '54000', 'transaction row limit exceeded');
    // node-postgres rejects on the error, before the ReadyForQuery that ends the transaction
    // arrives; a last query settles the count.
    await c.query('SELECT 1');

    const s = (await dsql.stats()).acct;
    expect(s).toEqual({
      roundTrips: 10,
      syncs: 10,
      statements: 10,
      transactions: 5, // BEGIN..COMMIT, SELECT 1, BEGIN..failed COMMIT, failed INSERT, SELECT 1
      commits: 3,
      rollbacks: 2,
      conflicts: 1,
      occWounds: 1,
      rowLimitRefusals: 1,
    });
    const text = await dsql.metrics();
    expect(text).toContain('# TYPE dsql_local_round_trips_total counter');
    expect(text).toContain('dsql_local_round_trips_total{role="acct"} 10');
    expect(text).toContain('dsql_local_occ_conflicts_total{role="acct"} 1');
    expect(text).toContain('dsql_local_row_limit_refusals_total{role="acct"} 1');
  });

  test('statements pipelined in one extended-protocol round trip count as one round trip', async () => {
    const admin = await connect();
    await admin.query('CREATE ROLE acct2 WITH LOGIN');
    await admin.query(`AWS IAM GRANT acct2 TO '${dsql.principal('temporal-server')}'`);
    const c = await connect(dsql, 'acct2');
    // A parameterised query is Parse/Bind/Describe/Execute/Sync in one write: one round trip, one sync.
    await c.query('SELECT $1::int AS n', [7]);
    const s = (await dsql.stats()).acct2;
    expect({ roundTrips: s.roundTrips, syncs: s.syncs, statements: s.statements }).toEqual({ roundTrips: 1, syncs: 1, statements: 1 });
  });
});

describe('latency model', () => {
  test('each round trip gets the configured latency (lower bound, jitter 0)', async () => {
    const c = await connect();
    await dsql.setLatency({ roundTripMs: 40, commitMs: 0, jitter: 0 });
    try {
      const t0 = Date.now();
      for (let i = 0; i < 10; i++) await c.query('SELECT 1');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    } finally {
      await dsql.setLatency({ roundTripMs: 0 });
    }
  });

  test('each commit gets the commit latency; a read-only transaction does not count as a commit', async () => {
    await freshTable('lat_t', 1);
    const c = await connect();
    const s = await dsql.setLatency({ roundTripMs: 0, commitMs: 150, jitter: 0 });
    expect(s).toEqual({ roundTripMs: 0, commitMs: 150, jitter: 0 });
    try {
      const t0 = Date.now();
      await c.query('BEGIN');
      await c.query('UPDATE lat_t SET v = 1 WHERE id = 1');
      await c.query('COMMIT');
      await c.query('UPDATE lat_t SET v = 2 WHERE id = 1'); // autocommit write: a commit too
      expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    } finally {
      await dsql.setLatency({ commitMs: 0 });
    }
  });

  test('bad settings are refused with the allowed range', async () => {
    await expect(dsql.setLatency({ jitter: 2 })).rejects.toThrow('jitter must be between 0 and 1, got 2');
    await expect(dsql.setLatency({ commitMs: -1 })).rejects.toThrow('must be between 0 and 60s');
  });
});
