/**
 * dsql-local conformance, transactions: DDL rules, aborted transactions, repeatable read, row
 * limits, optimistic-concurrency errors (OC000/OC001) and async index jobs.
 */
import { Client } from 'pg';
import { DsqlLocal, startDsqlLocal } from '../support/dsql-local';
import { expectSqlError } from './expect-sql';

let dsql: DsqlLocal;
const clients: Client[] = [];

async function connect(): Promise<Client> {
  const c = await dsql.connect();
  clients.push(c);
  return c;
}

/** A fresh admin session and a fresh table `name (id int PRIMARY KEY, v int)` with rows 1..rows. */
async function freshTable(name: string, rows = 0): Promise<Client> {
  const c = await connect();
  await c.query(`CREATE TABLE ${name} (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)`);
  if (rows > 0) await c.query(`INSERT INTO ${name} (id) SELECT g FROM generate_series(1, ${rows}) g`);
  return c;
}

/** Runs a statement, retrying once on OC001 (what DSQL clients must do after DDL elsewhere). */
async function retryOc001<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if ((e as { code?: string }).code === '40001' && /OC001/.test((e as Error).message)) return fn();
    throw e;
  }
}

beforeAll(async () => {
  dsql = await startDsqlLocal();
}, 300_000); // a cold `go build` of dsql-local compiles PostgreSQL's parser (cgo)

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  await dsql?.stop();
});

const DDL_DDL = 'multiple ddl statements not supported in a transaction';
const DDL_DML = 'ddl and dml are not supported in the same transaction';

describe('DDL rules', () => {
  test('two DDL statements in one transaction: 0A000, then the transaction is aborted (25P02) and COMMIT rolls back', async () => {
    const c = await connect();
    await c.query('BEGIN');
    await c.query('CREATE TABLE ddl_a (id int PRIMARY KEY)');
    await expectSqlError(c.query('CREATE TABLE ddl_b (id int PRIMARY KEY)'), '0A000', DDL_DDL);
    await expectSqlError(c.query('SELECT 1'), '25P02');
    const commit = await c.query('COMMIT');
    expect(commit.command).toBe('ROLLBACK');
    const r = await c.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename IN ('ddl_a', 'ddl_b')");
    expect(r.rows[0].n).toBe(0);
  });

  test('DDL after DML in a transaction is refused', async () => {
    const c = await freshTable('mix1');
    await c.query('BEGIN');
    await c.query('INSERT INTO mix1 (id) VALUES (1)');
    await expectSqlError(c.query('CREATE TABLE mix1_b (id int PRIMARY KEY)'), '0A000', DDL_DML);
    await c.query('ROLLBACK');
    expect((await c.query('SELECT count(*)::int AS n FROM mix1')).rows[0].n).toBe(0);
  });

  test('DML after DDL in a transaction is refused (extended protocol)', async () => {
    const c = await freshTable('mix2');
    await c.query('BEGIN');
    await c.query('ALTER TABLE mix2 ADD COLUMN note text');
    await expectSqlError(c.query('INSERT INTO mix2 (id) VALUES ($1)', [1]), '0A000', DDL_DML);
    await c.query('ROLLBACK');
  });

  test('a multi-statement simple query is one transaction: DDL + DML refused and nothing applied', async () => {
    const c = await freshTable('multi1');
    await expectSqlError(c.query('INSERT INTO multi1 (id) VALUES (1); CREATE TABLE multi1_b (id int PRIMARY KEY)'), '0A000', DDL_DML);
    expect((await c.query('SELECT count(*)::int AS n FROM multi1')).rows[0].n).toBe(0);
    await expectSqlError(c.query('CREATE TABLE multi1_c (id int PRIMARY KEY); CREATE TABLE multi1_d (id int PRIMARY KEY)'), '0A000', DDL_DDL);
    // Several DML statements in one string are fine.
    await c.query('INSERT INTO multi1 (id) VALUES (1); INSERT INTO multi1 (id) VALUES (2)');
    expect((await c.query('SELECT count(*)::int AS n FROM multi1')).rows[0].n).toBe(2);
  });

  test('a refusal aborts the transaction it happens in', async () => {
    const c = await freshTable('abort1');
    await c.query('BEGIN');
    await c.query('INSERT INTO abort1 (id) VALUES (1)');
    await expectSqlError(c.query('SELECT * FROM abort1 FOR SHARE'), '0A000');
    await expectSqlError(c.query('INSERT INTO abort1 (id) VALUES (2)'), '25P02');
    expect((await c.query('COMMIT')).command).toBe('ROLLBACK');
    expect((await c.query('SELECT count(*)::int AS n FROM abort1')).rows[0].n).toBe(0);
  });

  test('one DDL per transaction in separate calls works', async () => {
    const c = await connect();
    await c.query('BEGIN');
    await c.query('CREATE TABLE one_ddl (id int PRIMARY KEY)');
    await c.query('COMMIT');
    await c.query('INSERT INTO one_ddl VALUES (1)');
    expect((await c.query('SELECT id FROM one_ddl')).rows).toEqual([{ id: 1 }]);
  });
});

describe('isolation', () => {
  test('sessions run at repeatable read: a snapshot does not see later commits', async () => {
    const a = await freshTable('snap', 1);
    const b = await connect();
    await a.query('BEGIN');
    expect((await a.query('SELECT count(*)::int AS n FROM snap')).rows[0].n).toBe(1);
    await b.query('INSERT INTO snap (id) VALUES (2)');
    expect((await a.query('SELECT count(*)::int AS n FROM snap')).rows[0].n).toBe(1);
    await a.query('COMMIT');
    expect((await a.query('SELECT count(*)::int AS n FROM snap')).rows[0].n).toBe(2);
  });
});

describe('row limit', () => {
  test('3,000 rows in one transaction work; 3,001 fail with 54000', async () => {
    const c = await freshTable('rows1');
    await c.query('INSERT INTO rows1 (id) SELECT g FROM generate_series(1, 3000) g');
    await expectSqlError(c.query('INSERT INTO rows1 (id) SELECT g FROM generate_series(3001, 6001) g'), '54000', 'transaction row limit exceeded');
    expect((await c.query('SELECT count(*)::int AS n FROM rows1')).rows[0].n).toBe(3000);
  });
  test('the limit counts across statements of one transaction and aborts it', async () => {
    const c = await freshTable('rows2', 2000);
    await c.query('BEGIN');
    await c.query('UPDATE rows2 SET v = 1');
    await expectSqlError(c.query('DELETE FROM rows2 WHERE id <= 1001'), '54000');
    expect((await c.query('COMMIT')).command).toBe('ROLLBACK');
    expect((await c.query('SELECT count(*)::int AS n, sum(v)::int AS s FROM rows2')).rows[0]).toEqual({ n: 2000, s: 0 });
  });
});

describe('optimistic concurrency', () => {
  test('conflicting writes: the later one fails with 40001 (OC000), the first committer wins', async () => {
    const a = await freshTable('occ1', 1);
    const b = await connect();
    await a.query('BEGIN');
    await b.query('BEGIN');
    await a.query('SELECT v FROM occ1 WHERE id = 1');
    await b.query('SELECT v FROM occ1 WHERE id = 1');
    await a.query('UPDATE occ1 SET v = 1 WHERE id = 1');
    await a.query('COMMIT');
    // a committed first; b's write to the row a changed after b's snapshot loses (DSQL: at b's
    // COMMIT; dsql-local: at the write, see concurrency.test.ts and the README).
    await expectSqlError(b.query('UPDATE occ1 SET v = 2 WHERE id = 1'), '40001', '(OC000)');
    expect((await b.query('COMMIT')).command).toBe('ROLLBACK');
    expect((await b.query('SELECT v FROM occ1 WHERE id = 1')).rows).toEqual([{ v: 1 }]);
  });

  test('SELECT ... FOR UPDATE of a row another transaction committed a change to fails with OC000', async () => {
    const a = await freshTable('occ2', 1);
    const b = await connect();
    await a.query('BEGIN');
    await a.query('SELECT v FROM occ2 WHERE id = 1');
    await b.query('UPDATE occ2 SET v = 5 WHERE id = 1');
    await expectSqlError(a.query('SELECT v FROM occ2 WHERE id = 1 FOR UPDATE'), '40001', '(OC000)');
    await a.query('ROLLBACK');
  });

  test('FOR KEY SHARE conflicts with a delete committed first (OC000) but not with a non-key update', async () => {
    const a = await freshTable('occ6', 2);
    const b = await connect();
    // Non-key update by b while a holds FOR KEY SHARE: no conflict, both commit.
    await a.query('BEGIN');
    await a.query('SELECT id FROM occ6 WHERE id = 1 FOR KEY SHARE');
    await b.query('UPDATE occ6 SET v = 7 WHERE id = 1');
    await a.query('COMMIT');
    // Delete by b committed after a's snapshot, before a locks the row: a loses.
    await a.query('BEGIN');
    await a.query('SELECT count(*) FROM occ6');
    await b.query('DELETE FROM occ6 WHERE id = 2');
    await expectSqlError(a.query('SELECT id FROM occ6 WHERE id = 2 FOR KEY SHARE'), '40001', '(OC000)');
    await a.query('ROLLBACK');
  });

  test('a deadlock is reported as OC000', async () => {
    const a = await freshTable('occ3', 2);
    const b = await connect();
    await a.query('BEGIN');
    await b.query('BEGIN');
    await a.query('UPDATE occ3 SET v = 1 WHERE id = 1');
    await b.query('UPDATE occ3 SET v = 1 WHERE id = 2');
    const results = await Promise.allSettled([a.query('UPDATE occ3 SET v = 2 WHERE id = 2'), b.query('UPDATE occ3 SET v = 2 WHERE id = 1')]);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect({ code: failed[0].reason.code, oc: /\(OC000\)/.test(failed[0].reason.message) }).toEqual({ code: '40001', oc: true });
    await a.query('ROLLBACK');
    await b.query('ROLLBACK');
  });

  test('DDL committed by another session fails an open transaction at COMMIT with OC001', async () => {
    const a = await freshTable('occ4', 1);
    const b = await connect();
    await a.query('BEGIN');
    await a.query('UPDATE occ4 SET v = 9 WHERE id = 1');
    await b.query('CREATE TABLE occ4_other (id int PRIMARY KEY)');
    await expectSqlError(a.query('COMMIT'), '40001', '(OC001)');
    // The transaction was rolled back and the session is usable again.
    expect((await a.query('SELECT v FROM occ4 WHERE id = 1')).rows).toEqual([{ v: 0 }]);
  });

  test('after DDL elsewhere, an idle session fails once with OC001, then succeeds on retry', async () => {
    const a = await freshTable('occ5', 1);
    const b = await connect();
    await b.query('ALTER TABLE occ5 ADD COLUMN note text');
    await expectSqlError(a.query('SELECT note FROM occ5'), '40001', '(OC001)');
    expect((await a.query('SELECT note FROM occ5')).rows).toEqual([{ note: null }]);
    // The session that ran the DDL is not affected.
    expect((await b.query('SELECT count(*)::int AS n FROM occ5')).rows[0].n).toBe(1);
  });
});

describe('async indexes and sys.jobs', () => {
  test('CREATE INDEX ASYNC returns a job id; sys.wait_for_job returns succeeded; sys.jobs has DSQL columns', async () => {
    const c = await freshTable('idx1', 10);
    const r = await c.query('CREATE INDEX ASYNC idx1_v ON idx1 (v, id)');
    const jobId = r.rows[0].job_id as string;
    expect(jobId).toMatch(/^[a-z2-7]{26}$/);
    const w = await c.query('CALL sys.wait_for_job($1)', [jobId]);
    expect(w.rows).toEqual([{ succeeded: true }]);
    const j = await c.query('SELECT * FROM sys.jobs WHERE job_id = $1', [jobId]);
    expect(Object.keys(j.rows[0]).sort()).toEqual(['details', 'job_id', 'job_type', 'object_name', 'start_time', 'status', 'update_time']);
    expect(j.rows[0]).toMatchObject({ status: 'completed', object_name: 'public.idx1_v', details: null });
    const ix = await c.query("SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'idx1_v'");
    expect(ix.rows[0].n).toBe(1);
  });

  test('several index builds of one table submitted together all succeed, and the key-size check covers every index', async () => {
    // Builds of one table that finish together used to collide while rebuilding the table's
    // size-limit trigger (XX000 tuple concurrently updated). Several rounds make a race visible.
    for (let round = 0; round < 4; round++) {
      const t = `idxmany${round}`;
      const c = await connect();
      await c.query(`CREATE TABLE ${t} (id int PRIMARY KEY, a text, b text, c text, d text)`);
      const jobs: string[] = [];
      for (const col of ['a', 'b', 'c', 'd']) {
        jobs.push((await retryOc001(() => c.query(`CREATE INDEX ASYNC ${t}_${col} ON ${t} (${col})`))).rows[0].job_id);
      }
      for (const id of jobs) {
        const w = await retryOc001(() => c.query('CALL sys.wait_for_job($1)', [id]));
        const j = await retryOc001(() => c.query('SELECT status, details FROM sys.jobs WHERE job_id = $1', [id]));
        expect({ round, ...w.rows[0], ...j.rows[0] }).toEqual({ round, succeeded: true, status: 'completed', details: null });
      }
      // The last index built is part of the key-size check: a 2 KiB key on it is refused.
      await expectSqlError(retryOc001(() => c.query(`INSERT INTO ${t} (id, d) VALUES (1, repeat('x', 2048))`)), '54000');
      await expectSqlError(retryOc001(() => c.query(`INSERT INTO ${t} (id, a) VALUES (2, repeat('x', 2048))`)), '54000');
    }
  });

  test('sys.wait_for_job is refused inside a transaction block', async () => {
    const c = await connect();
    await c.query('BEGIN');
    await expectSqlError(c.query("CALL sys.wait_for_job('aaaaaaaaaaaaaaaaaaaaaaaaaa')"), '25001');
    await c.query('ROLLBACK');
  });

  test('the build runs after the delay: status is not final before, completed after waiting', async () => {
    const c = await freshTable('idx2', 5);
    await dsql.setIndexBuildDelay(1500);
    try {
      // The build cannot finish earlier than 1.5 s after it was submitted, so a wait that returns
      // success must return at least that late (a busy machine only adds to it).
      const submitted = Date.now();
      const jobId = (await c.query('CREATE INDEX ASYNC idx2_v ON idx2 (v)')).rows[0].job_id as string;
      const before = await c.query('SELECT status FROM sys.jobs WHERE job_id = $1', [jobId]);
      expect(['submitted', 'processing']).toContain(before.rows[0].status);
      expect((await c.query(`CALL sys.wait_for_job('${jobId}')`)).rows).toEqual([{ succeeded: true }]);
      expect(Date.now() - submitted).toBeGreaterThanOrEqual(1490); // 1500 less millisecond rounding
      const after = await c.query('SELECT status FROM sys.jobs WHERE job_id = $1', [jobId]);
      expect(after.rows[0].status).toBe('completed');
    } finally {
      await dsql.setIndexBuildDelay(0);
    }
  });

  test('a unique index over duplicates fails: wait_for_job returns false and sys.jobs says why', async () => {
    const c = await freshTable('idx3', 3);
    const jobId = (await c.query('CREATE UNIQUE INDEX ASYNC idx3_v ON idx3 (v)')).rows[0].job_id as string;
    expect((await c.query(`CALL sys.wait_for_job('${jobId}')`)).rows).toEqual([{ succeeded: false }]);
    const j = await c.query('SELECT status, details FROM sys.jobs WHERE job_id = $1', [jobId]);
    expect(j.rows[0].status).toBe('failed');
    expect(j.rows[0].details).toMatch(/could not create unique index/);
  });

  test('an injected build failure is reported as failed with its message', async () => {
    const c = await freshTable('idx4', 3);
    await dsql.failIndexBuilds('^public\\.idx4_', 'simulated build failure');
    try {
      const jobId = (await c.query('CREATE INDEX ASYNC idx4_v ON idx4 (v)')).rows[0].job_id as string;
      expect((await c.query(`CALL sys.wait_for_job('${jobId}')`)).rows).toEqual([{ succeeded: false }]);
      const j = await c.query('SELECT status, details FROM sys.jobs WHERE job_id = $1', [jobId]);
      expect(j.rows[0]).toEqual({ status: 'failed', details: 'simulated build failure' });
    } finally {
      await dsql.clearFaults();
    }
  });

  test('CREATE INDEX ASYNC counts as DDL: refused after DML in the same transaction', async () => {
    const c = await freshTable('idx5', 1);
    await c.query('BEGIN');
    await c.query('UPDATE idx5 SET v = 1');
    await expectSqlError(c.query('CREATE INDEX ASYNC idx5_v ON idx5 (v)'), '0A000', DDL_DML);
    await c.query('ROLLBACK');
  });

  test('a reused prepared CREATE INDEX ASYNC gets a new job id each time', async () => {
    const c = await freshTable('idx7', 1);
    const q = { name: 'mk_idx7', text: 'CREATE INDEX ASYNC IF NOT EXISTS idx7_v ON idx7 (v)' };
    const first = (await c.query(q)).rows[0].job_id as string;
    expect((await c.query(`CALL sys.wait_for_job('${first}')`)).rows).toEqual([{ succeeded: true }]);
    await c.query('DROP INDEX idx7_v');
    const second = (await c.query(q)).rows[0].job_id as string;
    expect(second).toMatch(/^[a-z2-7]{26}$/);
    expect(second).not.toBe(first);
  });

  test('CREATE INDEX ASYNC on a missing table or column fails like PostgreSQL', async () => {
    const c = await connect();
    await retryOc001(() => c.query('SELECT 1'));
    await expectSqlError(c.query('CREATE INDEX ASYNC nope_v ON nope (v)'), '42P01');
    await c.query('CREATE TABLE idx6 (id int PRIMARY KEY)');
    await expectSqlError(c.query('CREATE INDEX ASYNC idx6_x ON idx6 (x)'), '42703');
  });
});
