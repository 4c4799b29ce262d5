/**
 * dsql-local conformance, dialect: every refusal in shared/DSQL.md answers with DSQL's SQLSTATE
 * and message, and the SQL DSQL supports works through the endpoint (real PostgreSQL behind it).
 */
import { Client } from 'pg';
import { DsqlLocal, startDsqlLocal } from '../support/dsql-local';
import { expectRefused, expectSqlError } from './expect-sql';

let dsql: DsqlLocal;
let db: Client;

beforeAll(async () => {
  dsql = await startDsqlLocal();
  db = await dsql.connect();
  await db.query('CREATE TABLE base (id uuid PRIMARY KEY, n bigint, doc jsonb)');
}, 300_000); // a cold `go build` of dsql-local compiles PostgreSQL's parser (cgo)

afterAll(async () => {
  await db?.end();
  await dsql?.stop();
});

const UNSUPPORTED = '0A000';

describe('unsupported statements are refused with 0A000', () => {
  const cases: [string, string][] = [
    ['TRUNCATE', 'TRUNCATE base'],
    ['CREATE TRIGGER', "CREATE TRIGGER trg AFTER INSERT ON base FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()"],
    ['temporary tables', 'CREATE TEMP TABLE tmp (a int)'],
    ['unlogged tables', 'CREATE UNLOGGED TABLE unl (a int)'],
    ['CREATE EXTENSION', 'CREATE EXTENSION pgcrypto'],
    ['PL/pgSQL functions', "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$"],
    ['DO blocks', 'DO $$ BEGIN NULL; END $$'],
    ['CREATE PROCEDURE', 'CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$'],
    ['CREATE TYPE (enum)', "CREATE TYPE mood AS ENUM ('ok')"],
    ['CREATE TYPE (composite)', 'CREATE TYPE pair AS (a int, b int)'],
    ['CREATE DATABASE', 'CREATE DATABASE other'],
    ['CREATE DOMAIN', 'CREATE DOMAIN posint AS int CHECK (VALUE > 0)'],
    ['LISTEN', 'LISTEN chan'],
    ['NOTIFY', 'NOTIFY chan'],
    ['VACUUM', 'VACUUM base'],
    ['MERGE', 'MERGE INTO base b USING base s ON b.id = s.id WHEN MATCHED THEN DELETE'],
    ['materialized views', 'CREATE MATERIALIZED VIEW mv AS SELECT 1 AS a'],
    ['CREATE TABLE AS', 'CREATE TABLE copy_of AS SELECT * FROM base'],
    ['SELECT INTO', 'SELECT * INTO copy_into FROM base'],
    ['partitioned tables', 'CREATE TABLE parted (a int, b int) PARTITION BY RANGE (a)'],
    ['COLLATE in DDL', 'CREATE TABLE coll (a text COLLATE "C")'],
    ['COPY from a file', "COPY base FROM '/etc/passwd'"],
    ['COPY to a file', "COPY base TO '/tmp/base.csv'"],
    ['SQL-level PREPARE', 'PREPARE q AS SELECT 1'],
    ['SQL-level EXECUTE', 'EXECUTE q'],
  ];
  test.each(cases)('%s', async (_name, sql) => {
    await expectRefused(db, sql, UNSUPPORTED);
  });

  test('SAVEPOINT, RELEASE and ROLLBACK TO', async () => {
    await db.query('BEGIN');
    await expectSqlError(db.query('SAVEPOINT s1'), UNSUPPORTED, 'SAVEPOINT');
    await db.query('ROLLBACK');
    await db.query('BEGIN');
    await expectSqlError(db.query('RELEASE SAVEPOINT s1'), UNSUPPORTED);
    await db.query('ROLLBACK');
    await db.query('BEGIN');
    await expectSqlError(db.query('ROLLBACK TO SAVEPOINT s1'), UNSUPPORTED);
    await db.query('ROLLBACK');
  });

  test('LOCK TABLE', async () => {
    await db.query('BEGIN');
    await expectSqlError(db.query('LOCK TABLE base IN ACCESS EXCLUSIVE MODE'), UNSUPPORTED, 'LOCK TABLE');
    await db.query('ROLLBACK');
  });
});

describe('locking clauses', () => {
  const msg = 'locking clauses other than FOR UPDATE/FOR KEY SHARE are not supported';
  test('FOR SHARE is refused (and the refusal is logged with its SQL)', async () => {
    await expectRefused(db, 'SELECT * FROM base FOR SHARE', UNSUPPORTED, msg);
    expect(dsql.logs()).toContain('0A000 locking clauses other than FOR UPDATE/FOR KEY SHARE are not supported: SELECT * FROM base FOR SHARE');
  });
  test('FOR NO KEY UPDATE is refused', async () => {
    await expectRefused(db, 'SELECT * FROM base FOR NO KEY UPDATE', UNSUPPORTED, msg);
  });
  test('FOR SHARE inside a subquery is refused', async () => {
    await expectRefused(db, 'SELECT * FROM (SELECT * FROM base FOR SHARE) s', UNSUPPORTED, msg);
  });
  test('FOR SHARE with parameters (extended protocol) is refused', async () => {
    await expectSqlError(db.query('SELECT * FROM base WHERE n = $1 FOR SHARE', [1]), UNSUPPORTED, msg);
  });
  test('FOR UPDATE and FOR KEY SHARE work', async () => {
    await db.query("INSERT INTO base VALUES ('00000000-0000-0000-0000-000000000001', 1, '{}')");
    await db.query('BEGIN');
    const a = await db.query('SELECT n FROM base WHERE n = $1 FOR UPDATE', [1]);
    const b = await db.query('SELECT n FROM base WHERE n = 1 FOR KEY SHARE');
    await db.query('COMMIT');
    expect(a.rows).toEqual([{ n: '1' }]);
    expect(b.rows).toEqual([{ n: '1' }]);
  });
});

describe('serial types, identity and sequences', () => {
  test.each(['serial', 'bigserial', 'smallserial', 'serial8'])('%s is refused with 42704', async (t) => {
    await expectRefused(db, `CREATE TABLE s_${t} (id ${t} PRIMARY KEY)`, '42704', `type "${t}" does not exist`);
  });
  test('identity without CACHE is refused', async () => {
    await expectRefused(db, 'CREATE TABLE ident0 (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY)', '22023', 'CACHE');
  });
  test('identity with CACHE 100 is refused', async () => {
    await expectRefused(db, 'CREATE TABLE ident1 (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 100) PRIMARY KEY)', '22023', 'CACHE');
  });
  test('integer identity is refused', async () => {
    await expectRefused(db, 'CREATE TABLE ident2 (id int GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY)', UNSUPPORTED, 'bigint');
  });
  test('sequence without CACHE is refused', async () => {
    await expectRefused(db, 'CREATE SEQUENCE seq0', '22023', 'CACHE');
  });
  test('sequence with CACHE 10 is refused', async () => {
    await expectRefused(db, 'CREATE SEQUENCE seq1 CACHE 10', '22023', 'CACHE');
  });
  test('sequences with CACHE 1 and CACHE >= 65536 work', async () => {
    await db.query('CREATE SEQUENCE seq_c1 CACHE 1');
    await db.query('CREATE SEQUENCE seq_big CACHE 65536');
    const r = await db.query("SELECT nextval('seq_c1') AS a, nextval('seq_c1') AS b, nextval('seq_big') AS c");
    expect(r.rows[0]).toEqual({ a: '1', b: '2', c: '1' });
  });
  test('bigint identity with CACHE 1 / 65536 works', async () => {
    await db.query('CREATE TABLE ident_ok (id bigint GENERATED BY DEFAULT AS IDENTITY (CACHE 65536) PRIMARY KEY, v text)');
    await db.query('CREATE TABLE ident_ok1 (id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY, v text)');
    const r = await db.query("INSERT INTO ident_ok (v) VALUES ('a'), ('b') RETURNING id");
    expect(r.rows.map((x) => x.id)).toEqual(['1', '2']);
    const r1 = await db.query("INSERT INTO ident_ok1 (v) VALUES ('a') RETURNING id");
    expect(r1.rows).toEqual([{ id: '1' }]);
  });
});

describe('column and key types', () => {
  test.each([
    ['bytea primary key', 'CREATE TABLE k1 (id bytea PRIMARY KEY)'],
    ['jsonb primary key', 'CREATE TABLE k2 (id jsonb PRIMARY KEY)'],
    ['json unique key', 'CREATE TABLE k3 (id int PRIMARY KEY, j json UNIQUE)'],
    ['bytea in a table-level primary key', 'CREATE TABLE k4 (a int, b bytea, PRIMARY KEY (a, b))'],
  ])('%s is refused', async (_n, sql) => {
    await expectRefused(db, sql, UNSUPPORTED, 'key column');
  });
  test.each([
    ['int[]', 'CREATE TABLE arr1 (id int PRIMARY KEY, tags int[])'],
    ['text[]', 'CREATE TABLE arr2 (id int PRIMARY KEY, tags text[])'],
    ['xml', 'CREATE TABLE ty1 (id int PRIMARY KEY, x xml)'],
    ['money', 'CREATE TABLE ty2 (id int PRIMARY KEY, m money)'],
    ['ranges', 'CREATE TABLE ty3 (id int PRIMARY KEY, r int4range)'],
  ])('%s columns are refused', async (_n, sql) => {
    await expectRefused(db, sql, UNSUPPORTED, 'datatype');
  });
  test('primary keys over 1 KiB are refused with 54000; 255-character ids fit', async () => {
    await db.query('CREATE TABLE wide_keys (ns uuid, workflow_id text, run_id text, body text, PRIMARY KEY (ns, workflow_id, run_id))');
    await db.query("INSERT INTO wide_keys VALUES (gen_random_uuid(), repeat('w', 255), repeat('r', 255), repeat('b', 5000))");
    await expectSqlError(
      db.query("INSERT INTO wide_keys VALUES (gen_random_uuid(), repeat('w', 900), repeat('r', 255), 'x')"),
      '54000',
      'key size exceeds the limit of 1024 bytes',
    );
    await expectSqlError(db.query("UPDATE wide_keys SET workflow_id = repeat('w', 1100)"), '54000');
  });

  test('index keys over 1 KiB are refused once an async index covers the column', async () => {
    await db.query('CREATE TABLE wide_idx (id int PRIMARY KEY, tag text)');
    await db.query("INSERT INTO wide_idx VALUES (1, repeat('t', 2000))");
    const job = (await db.query('CREATE INDEX ASYNC wide_idx_tag ON wide_idx (tag)')).rows[0].job_id as string;
    expect((await db.query(`CALL sys.wait_for_job('${job}')`)).rows).toEqual([{ succeeded: true }]);
    await expectSqlError(db.query("INSERT INTO wide_idx VALUES (2, repeat('t', 2000))"), '54000', 'key size exceeds');
    await db.query("INSERT INTO wide_idx VALUES (3, repeat('t', 1000))");
  });

  test('columns over 1 MiB and rows over 2 MiB are refused with 54000, also after ALTER TABLE', async () => {
    await db.query('CREATE TABLE big_rows (id int PRIMARY KEY, a text, b bytea, c text)');
    await db.query("INSERT INTO big_rows VALUES (1, repeat('a', 1000000), NULL, NULL)");
    await expectSqlError(db.query("INSERT INTO big_rows VALUES (2, repeat('a', 1100000), NULL, NULL)"), '54000', 'column "a" exceeds the size limit of 1 MiB');
    await expectSqlError(
      db.query("INSERT INTO big_rows VALUES (3, repeat('a', 1000000), convert_to(repeat('b', 1000000), 'UTF8'), repeat('c', 200000))"),
      '54000',
      'row size exceeds the limit of 2 MiB',
    );
    await db.query('ALTER TABLE big_rows RENAME COLUMN a TO body');
    await db.query('ALTER TABLE big_rows ADD COLUMN extra text');
    await db.query("INSERT INTO big_rows (id, body) VALUES (4, 'fine')");
    await expectSqlError(db.query("UPDATE big_rows SET extra = repeat('e', 1100000) WHERE id = 4"), '54000', 'column "extra"');
  });

  test('more than 8 key columns are refused', async () => {
    const cols = Array.from({ length: 9 }, (_, i) => `c${i} int`).join(', ');
    const keys = Array.from({ length: 9 }, (_, i) => `c${i}`).join(', ');
    await expectRefused(db, `CREATE TABLE nine_keys (${cols}, PRIMARY KEY (${keys}))`, '54011');
  });

  test('UUID keys, JSONB and bytea non-key columns work', async () => {
    await db.query('CREATE TABLE docs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), body jsonb, blob bytea, created timestamptz DEFAULT now())');
    await db.query('INSERT INTO docs (body, blob) VALUES ($1, $2)', [{ kind: 'x', n: 3 }, Buffer.from([1, 2, 3])]);
    const r = await db.query("SELECT body->>'kind' AS kind, (body->>'n')::int AS n, blob FROM docs");
    expect(r.rows).toEqual([{ kind: 'x', n: 3, blob: Buffer.from([1, 2, 3]) }]);
  });
});

describe('ALTER TABLE', () => {
  beforeAll(async () => {
    await db.query('CREATE TABLE alt (id int PRIMARY KEY, a text)');
  });
  test.each([
    ['ADD COLUMN with DEFAULT', "ALTER TABLE alt ADD COLUMN b text DEFAULT 'x'"],
    ['ADD COLUMN NOT NULL', 'ALTER TABLE alt ADD COLUMN c text NOT NULL'],
    ['ADD COLUMN UNIQUE', 'ALTER TABLE alt ADD COLUMN d text UNIQUE'],
    ['ALTER COLUMN TYPE', 'ALTER TABLE alt ALTER COLUMN a TYPE varchar(10)'],
    ['SET NOT NULL', 'ALTER TABLE alt ALTER COLUMN a SET NOT NULL'],
    ['ADD PRIMARY KEY', 'ALTER TABLE alt ADD PRIMARY KEY (id)'],
    ['ADD CHECK without NOT VALID', 'ALTER TABLE alt ADD CONSTRAINT c1 CHECK (id > 0)'],
  ])('%s is refused', async (_n, sql) => {
    await expectRefused(db, sql, UNSUPPORTED);
  });
  test('ADD COLUMN without default or constraints works', async () => {
    await db.query('ALTER TABLE alt ADD COLUMN e text');
    await db.query("INSERT INTO alt (id, a, e) VALUES (1, 'a', 'e')");
    expect((await db.query('SELECT e FROM alt')).rows).toEqual([{ e: 'e' }]);
  });
  test('ADD CHECK ... NOT VALID works', async () => {
    await db.query('ALTER TABLE alt ADD CONSTRAINT c2 CHECK (id > 0) NOT VALID');
    await expectSqlError(db.query("INSERT INTO alt (id) VALUES (-1)"), '23514');
  });
});

describe('isolation and session settings', () => {
  test('SET TRANSACTION is refused', async () => {
    await db.query('BEGIN');
    await expectSqlError(db.query('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE'), UNSUPPORTED, 'SET TRANSACTION');
    await db.query('ROLLBACK');
  });
  test('SET default_transaction_isolation is refused', async () => {
    await expectRefused(db, "SET default_transaction_isolation = 'serializable'", UNSUPPORTED);
  });
  test('SET SESSION CHARACTERISTICS is refused', async () => {
    await expectRefused(db, 'SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED', UNSUPPORTED);
  });
  test.each(['SERIALIZABLE', 'READ COMMITTED'])('BEGIN ISOLATION LEVEL %s is refused', async (lvl) => {
    await expectRefused(db, `BEGIN ISOLATION LEVEL ${lvl}`, UNSUPPORTED, 'isolation level');
  });
  test('BEGIN ISOLATION LEVEL REPEATABLE READ works and sessions run at repeatable read', async () => {
    await db.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    const r = await db.query('SHOW transaction_isolation');
    await db.query('COMMIT');
    expect(r.rows[0].transaction_isolation).toBe('repeatable read');
    expect((await db.query('SHOW transaction_isolation')).rows[0].transaction_isolation).toBe('repeatable read');
  });
  test.each([
    ['pg_advisory_lock', 'SELECT pg_advisory_lock(1)'],
    ['pg_try_advisory_xact_lock', 'SELECT pg_try_advisory_xact_lock(1, 2)'],
    ['pg_advisory_unlock_all', 'SELECT pg_catalog.pg_advisory_unlock_all()'],
  ])('advisory lock function %s is refused', async (_n, sql) => {
    await expectRefused(db, sql, UNSUPPORTED, 'not supported');
  });
});

describe('indexes', () => {
  test('CREATE INDEX without ASYNC is refused, even on an empty table', async () => {
    await db.query('CREATE TABLE empty_t (id int PRIMARY KEY, a int)');
    await expectRefused(db, 'CREATE INDEX empty_a ON empty_t (a)', UNSUPPORTED, 'unsupported mode. please use CREATE INDEX ASYNC.');
  });
  test.each([
    ['DESC keys', 'CREATE INDEX ASYNC i_desc ON base (n DESC)'],
    ['USING hash', 'CREATE INDEX ASYNC i_hash ON base USING hash (n)'],
    ['CONCURRENTLY', 'CREATE INDEX ASYNC CONCURRENTLY i_conc ON base (n)'],
    ['expression keys', 'CREATE INDEX ASYNC i_expr ON base ((n + 1))'],
    ['jsonb key column', 'CREATE INDEX ASYNC i_doc ON base (doc)'],
  ])('CREATE INDEX ASYNC with %s is refused', async (_n, sql) => {
    await expectRefused(db, sql, UNSUPPORTED);
  });
  test('CREATE UNIQUE INDEX ASYNC ... INCLUDE works and builds the index', async () => {
    const r = await db.query('CREATE UNIQUE INDEX ASYNC base_n_uq ON base (n) INCLUDE (doc)');
    expect(r.rows).toHaveLength(1);
    expect(r.rows[0].job_id).toMatch(/^[a-z2-7]{26}$/);
    const w = await db.query(`CALL sys.wait_for_job('${r.rows[0].job_id}')`);
    expect(w.rows).toEqual([{ succeeded: true }]);
    const idx = await db.query("SELECT indexdef FROM pg_indexes WHERE indexname = 'base_n_uq'");
    expect(idx.rows[0].indexdef).toMatch(/CREATE UNIQUE INDEX base_n_uq ON public\.base USING btree \(n\) INCLUDE \(doc\)/);
  });
  test('a table takes at most 24 indexes', async () => {
    await db.query('CREATE TABLE many_idx (id int PRIMARY KEY, ' + Array.from({ length: 24 }, (_, i) => `c${i} int`).join(', ') + ')');
    for (let i = 0; i < 23; i++) await db.query(`CREATE INDEX ASYNC many_idx_${i} ON many_idx (c${i})`);
    await expectSqlError(db.query('CREATE INDEX ASYNC many_idx_23 ON many_idx (c23)'), '54000', 'maximum of 24 indexes');
  });

  test('CREATE INDEX ASYNC IF NOT EXISTS on an existing index returns no job', async () => {
    const r = await db.query('CREATE INDEX ASYNC IF NOT EXISTS base_n_uq ON base (n)');
    expect(r.rows).toEqual([]);
  });
});

describe('supported SQL', () => {
  test('views', async () => {
    await db.query('CREATE VIEW base_ids AS SELECT id, n FROM base');
    expect((await db.query('SELECT count(*)::int AS c FROM base_ids')).rows[0].c).toBeGreaterThanOrEqual(1);
  });
  test('CREATE SCHEMA and tables in it; at most 10 schemas', async () => {
    for (let i = 1; i <= 9; i++) await db.query(`CREATE SCHEMA extra${i}`);
    await db.query('CREATE SCHEMA app');
    await expectSqlError(db.query('CREATE SCHEMA eleventh'), '54000', 'schema limit');
    await db.query('CREATE TABLE app.items (id uuid PRIMARY KEY, name text NOT NULL)');
    await db.query("INSERT INTO app.items VALUES (gen_random_uuid(), 'x')");
    expect((await db.query('SELECT name FROM app.items')).rows).toEqual([{ name: 'x' }]);
  });
  test('foreign keys are enforced', async () => {
    await db.query('CREATE TABLE parent (id bigint PRIMARY KEY)');
    await db.query('CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint REFERENCES parent (id))');
    await db.query('INSERT INTO parent VALUES (1)');
    await db.query('INSERT INTO child VALUES (1, 1)');
    await expectSqlError(db.query('INSERT INTO child VALUES (2, 42)'), '23503');
  });
  test('SQL-language functions', async () => {
    await db.query('CREATE FUNCTION add1(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x + 1 $$');
    expect((await db.query('SELECT add1(41) AS v')).rows[0].v).toBe(42);
  });
  test('upserts, CTEs and RETURNING', async () => {
    await db.query('CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL)');
    await db.query("INSERT INTO kv VALUES ('a', 1)");
    const r = await db.query(
      "WITH up AS (INSERT INTO kv VALUES ('a', 2), ('b', 3) ON CONFLICT (k) DO UPDATE SET v = kv.v + excluded.v RETURNING k, v) SELECT * FROM up ORDER BY k",
    );
    expect(r.rows).toEqual([{ k: 'a', v: 3 }, { k: 'b', v: 3 }]);
  });
  test('roles and grants', async () => {
    await db.query('CREATE ROLE reader WITH LOGIN');
    await db.query('GRANT SELECT ON base TO reader');
    const r = await db.query("SELECT has_table_privilege('reader', 'base', 'SELECT') AS ok");
    expect(r.rows[0].ok).toBe(true);
  });
});
