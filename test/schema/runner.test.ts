/**
 * The migration runner against dsql-local (real PostgreSQL behind DSQL's rules): fresh apply,
 * no-op rerun, upgrade, crash after every statement, OCC and connection faults, failed index
 * builds, refused statements, a lower target, and the server role's grants and IAM mappings.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MigrationError } from '../../lambda/dsql/schema/errors';
import { migrate } from '../../lambda/dsql/schema/migrate';
import { SchemaRunner } from '../../lambda/dsql/schema/runner';
import { loadVersionedSchema, VersionedSchema } from '../../lambda/dsql/schema/schema-dir';
import { DsqlLocal } from '../support/dsql-local';
import { adminConnection, describeSchema, fixtures, FIXTURES_DIR, startDsql } from './helpers';

const inMinute = () => Date.now() + 60_000;

/** End state of a clean apply of the fixtures, computed once on a fresh endpoint. */
let reference: string[];

beforeAll(async () => {
  const dsql = await startDsql();
  try {
    const r = await new SchemaRunner({ connection: adminConnection(dsql), schema: fixtures() }).apply({ deadline: inMinute() });
    expect(r.outcome).toBe('applied');
    const c = await dsql.connect();
    reference = await describeSchema(c);
    await c.end();
  } finally {
    await dsql.stop();
  }
});

describe('on one endpoint, in order', () => {
  let dsql: DsqlLocal;
  beforeAll(async () => { dsql = await startDsql(); });
  afterAll(async () => { await dsql?.stop(); });

  test('status before anything: no version recorded, every version pending', async () => {
    const st = await new SchemaRunner({ connection: adminConnection(dsql), schema: fixtures() }).status();
    expect(st).toEqual({ currentVersion: undefined, minCompatibleVersion: undefined, latestVersion: '1.2', pendingVersions: ['1.0', '1.1', '1.2'], inFlight: [] });
  });

  test('upgrade from an older version: 1.0 first, then the rest', async () => {
    const runner = new SchemaRunner({ connection: adminConnection(dsql), schema: fixtures() });
    const first = await runner.apply({ targetVersion: '1.0', deadline: inMinute() });
    expect(first).toMatchObject({ outcome: 'applied', fromVersion: '0.0', currentVersion: '1.0', appliedVersions: ['1.0'] });
    const c = await dsql.connect();
    try {
      const cols = await c.query(`SELECT column_name FROM information_schema.columns WHERE table_name = 'executions' AND column_name = 'state_encoding'`);
      expect(cols.rows).toHaveLength(0);
      const second = await runner.apply({ deadline: inMinute() });
      expect(second).toMatchObject({ outcome: 'applied', fromVersion: '1.0', currentVersion: '1.2', appliedVersions: ['1.1', '1.2'] });
      expect(await describeSchema(c)).toEqual(reference);
    } finally {
      await c.end();
    }
  });

  test('sequential index builds (batchIndexBuilds: false) reach the same end state', async () => {
    const other = await startDsql();
    try {
      const r = await new SchemaRunner({ connection: adminConnection(other), schema: fixtures(), batchIndexBuilds: false }).apply({ deadline: inMinute() });
      expect(r.outcome).toBe('applied');
      const c = await other.connect();
      expect(await describeSchema(c)).toEqual(reference);
      await c.end();
    } finally {
      await other.stop();
    }
  });

  test('a second run is a no-op', async () => {
    const r = await new SchemaRunner({ connection: adminConnection(dsql), schema: fixtures() }).apply({ deadline: inMinute() });
    expect(r).toMatchObject({ outcome: 'up-to-date', currentVersion: '1.2', appliedVersions: [], statementsExecuted: 0 });
  });

  test('a target below the current version succeeds and changes nothing', async () => {
    const r = await new SchemaRunner({ connection: adminConnection(dsql), schema: fixtures() }).apply({ targetVersion: '1.0', deadline: inMinute() });
    expect(r).toMatchObject({ outcome: 'target-below-current', currentVersion: '1.2', statementsExecuted: 0 });
    const c = await dsql.connect();
    expect(await describeSchema(c)).toEqual(reference);
    await c.end();
  });

  test('server role: created with data privileges only and mapped to the task role; a new ARN revokes the old', async () => {
    const conn = adminConnection(dsql);
    const server = dsql.principal('temporal-server');
    const other = dsql.principal('other');
    const r1 = await migrate({ connection: conn, schema: fixtures(), deadline: inMinute(), serverRole: { roleName: 'temporal_server', iamArns: [server] } });
    expect(r1.serverRole).toMatchObject({ roleCreated: true, iamGranted: [server], iamRevoked: [] });
    expect(r1.serverRole?.tablesGranted).toEqual(['buffered_events', 'executions', 'namespace_metadata', 'namespaces', 'schema_update_history', 'schema_version', 'task_queues', 'tasks']);

    const app = await dsql.connect({ user: 'temporal_server', principal: 'temporal-server' });
    try {
      await app.query(`INSERT INTO tasks (range_hash, task_queue_id, task_id, data) VALUES (1, 'q', 1, 'd')`);
      await app.query(`UPDATE tasks SET data = 'e' WHERE range_hash = 1`);
      expect((await app.query('SELECT data FROM tasks')).rows).toEqual([{ data: 'e' }]);
      await app.query(`INSERT INTO buffered_events (shard_id, namespace_id, workflow_id, run_id, data) VALUES (1, gen_random_uuid(), 'w', gen_random_uuid(), 'x')`);
      await app.query('DELETE FROM tasks');
      expect((await app.query('SELECT curr_version FROM schema_version')).rows).toEqual([{ curr_version: '1.2' }]);
      await expect(app.query(`UPDATE schema_version SET curr_version = '9.9'`)).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('SELECT * FROM schema_migration_progress')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('CREATE TABLE evil (id INT PRIMARY KEY)')).rejects.toMatchObject({ code: '42501' });
    } finally {
      await app.end();
    }

    const again = await migrate({ connection: conn, schema: fixtures(), deadline: inMinute(), serverRole: { roleName: 'temporal_server', iamArns: [server] } });
    expect(again.serverRole).toEqual({ roleCreated: false, tablesGranted: [], sequencesGranted: [], iamGranted: [], iamRevoked: [] });

    const moved = await migrate({ connection: conn, schema: fixtures(), deadline: inMinute(), serverRole: { roleName: 'temporal_server', iamArns: [other] } });
    expect(moved.serverRole).toMatchObject({ iamGranted: [other], iamRevoked: [server] });
    await expect(dsql.connect({ user: 'temporal_server', principal: 'temporal-server' })).rejects.toMatchObject({ code: '28P01' });
    const viaOther = await dsql.connect({ user: 'temporal_server', principal: 'other' });
    await viaOther.end();
    const admin = await dsql.connect();
    const mappings = await admin.query(`SELECT arn FROM sys.iam_pg_role_mappings WHERE pg_role_name = 'temporal_server'`);
    await admin.end();
    expect(mappings.rows).toEqual([{ arn: other }]);
  });

  test('bad role names and ARNs are refused before any SQL', async () => {
    const conn = adminConnection(dsql);
    await expect(migrate({ connection: conn, schema: fixtures(), deadline: inMinute(), serverRole: { roleName: 'admin', iamArns: [] } }))
      .rejects.toThrow(/server database role name .* got "admin"/);
    await expect(migrate({ connection: conn, schema: fixtures(), deadline: inMinute(), serverRole: { roleName: 'temporal_server', iamArns: ["arn:aws:iam::1:role/x'; DROP TABLE tasks; --"] } }))
      .rejects.toThrow(/must be an IAM role or user ARN/);
  });
});

test('a crash after each statement, then a rerun, converges to the same schema', async () => {
  const dsql = await startDsql();
  try {
    const schema = fixtures();
    const total = schema.versions.reduce((n, v) => n + v.statements.length, 0);
    let runs = 0;
    for (let crashAt = 0; ; crashAt++) {
      runs++;
      expect(runs).toBeLessThanOrEqual(total + 1);
      let seen = 0;
      const ordinal = (version: string, index: number) =>
        schema.versions.slice(0, schema.versions.findIndex((v) => v.version === version)).reduce((n, v) => n + v.statements.length, 0) + index;
      const runner = new SchemaRunner({
        connection: adminConnection(dsql), schema,
        hooks: {
          afterStatement: (version, st) => {
            seen++;
            if (ordinal(version, st.index) === crashAt) throw new Error(`injected crash after v${version} statement ${st.index}`);
          },
        },
      });
      try {
        const r = await runner.apply({ deadline: inMinute() });
        expect(r.currentVersion).toBe('1.2');
        break;
      } catch (e) {
        expect((e as Error).message).toMatch(/^injected crash after/);
        expect(seen).toBeGreaterThan(0);
      }
    }
    expect(runs).toBe(total + 1);
    const c = await dsql.connect();
    expect(await describeSchema(c)).toEqual(reference);
    await c.end();
  } finally {
    await dsql.stop();
  }
});

test('a crash before each version is marked complete, then a rerun, converges to the same schema', async () => {
  const dsql = await startDsql();
  try {
    const crashed = new Set<string>();
    let runs = 0;
    for (;;) {
      runs++;
      expect(runs).toBeLessThanOrEqual(4);
      const runner = new SchemaRunner({
        connection: adminConnection(dsql), schema: fixtures(),
        hooks: {
          beforeVersionComplete: (version) => {
            if (crashed.has(version)) return;
            crashed.add(version);
            throw new Error(`injected crash before v${version} complete`);
          },
        },
      });
      const r = await runner.apply({ deadline: inMinute() }).catch((e: Error) => e.message);
      if (typeof r !== 'string') {
        expect(r).toMatchObject({ outcome: 'applied', appliedVersions: ['1.2'], statementsExecuted: 0 });
        break;
      }
      expect(r).toBe(`injected crash before v${[...crashed].pop()} complete`);
      expect((await runner.status()).currentVersion).toBe(({ '1.0': '0.0', '1.1': '1.0', '1.2': '1.1' } as Record<string, string>)[[...crashed].pop() as string]);
    }
    expect(runs).toBe(4);
    const c = await dsql.connect();
    expect(await describeSchema(c)).toEqual(reference);
    await c.end();
  } finally {
    await dsql.stop();
  }
});

test('OCC on statements and commits, refused and dropped connections are retried', async () => {
  const dsql = await startDsql();
  try {
    await dsql.failStatements('^CREATE TABLE', 'OC000', 3);
    await dsql.failStatements('^ALTER TABLE', 'OC001', 2);
    await dsql.failStatements('^INSERT INTO schema_migration_progress', 'OC000', 4);
    await dsql.failCommits(0.5, 'OC000');
    const log: string[] = [];
    const runner = new SchemaRunner({ connection: adminConnection(dsql), schema: fixtures(), log: (m) => log.push(m) });
    await runner.setup();
    await dsql.refuseConnections(1, 'error');
    const r = await runner.apply({ deadline: inMinute() });
    expect(r.outcome).toBe('applied');
    const retries = log.filter((m) => m.startsWith('retry '));
    expect(retries.filter((m) => /OC000/.test(m)).length).toBeGreaterThanOrEqual(7);
    expect(retries.filter((m) => /OC001/.test(m)).length).toBeGreaterThanOrEqual(2);
    expect(retries.filter((m) => /connection error/.test(m)).length).toBeGreaterThanOrEqual(1);
    await dsql.clearFaults();
    const c = await dsql.connect();
    expect(await describeSchema(c)).toEqual(reference);
    await c.end();
  } finally {
    await dsql.stop();
  }
});

test('a failing index build fails the run with the job status and details, and leaves the version incomplete', async () => {
  const dsql = await startDsql();
  try {
    await dsql.failIndexBuilds('^public\\.tasks_by_id_idx$', 'could not create unique index: key (task_id)=(7) is duplicated');
    const runner = new SchemaRunner({ connection: adminConnection(dsql), schema: fixtures() });
    const err = await runner.apply({ deadline: inMinute() }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect((err as Error).message).toMatch(/^index build failed: v1\.1\/task_queues\.sql:19 index tasks_by_id_idx job [a-z2-7]{26}: status failed, details: .*key \(task_id\)=\(7\) is duplicated/);
    const st = await runner.status();
    expect(st.currentVersion).toBe('1.0');
    // The other index of v1.1 completed and is recorded; the failed one stays submitted.
    expect(st.inFlight.filter((f) => f.state !== 'done').map((f) => f.step)).toEqual([4]);
    // Still failing: a new build job, a new failure with its details.
    const second = await runner.apply({ deadline: inMinute() }).then(() => 'applied', (e: Error) => e.message);
    expect(second).toMatch(/^index build failed: v1\.1\/task_queues\.sql:19 index tasks_by_id_idx job [a-z2-7]{26}: status failed/);
    expect(second).not.toBe((err as Error).message);
    // Cause fixed: the rerun resubmits the failed build and completes.
    await dsql.clearFaults();
    const third = await runner.apply({ deadline: inMinute() });
    expect(third).toMatchObject({ outcome: 'applied', currentVersion: '1.2', appliedVersions: ['1.1', '1.2'] });
    const c = await dsql.connect();
    expect(await describeSchema(c)).toEqual(reference);
    await c.end();
  } finally {
    await dsql.stop();
  }
});

test.each([
  ['42704', 'CREATE TABLE IF NOT EXISTS bad (id SERIAL PRIMARY KEY);', 'type "serial" does not exist'],
  ['0A000', 'CREATE INDEX IF NOT EXISTS bad_idx ON tasks USING btree (task_id)', ''],
  ['0A000', 'CREATE TABLE IF NOT EXISTS bad (id BIGINT PRIMARY KEY, tags TEXT[]);', ''],
  ['54000', "INSERT INTO tasks (range_hash, task_queue_id, task_id, data) SELECT 1, 'q', g, 'd' FROM generate_series(1, 3001) AS g;", 'transaction row limit exceeded'],
])('a statement DSQL refuses (SQLSTATE %s) is reported with its location and not retried', async (code, sql, message) => {
  let dir: string;
  let schema: VersionedSchema;
  if (sql.endsWith(';')) {
    dir = writeV12(sql);
    schema = loadVersionedSchema(dir);
  } else {
    // The loader refuses a synchronous CREATE INDEX before anything runs. To see what the runner
    // does when DSQL itself refuses one (a schema loaded by older code, a loader bug), load a
    // placeholder and put the statement in its place.
    expect(() => loadVersionedSchema(writeV12(sql + ';'))).toThrow(/DSQL refuses synchronous CREATE INDEX/);
    dir = writeV12('CREATE TABLE IF NOT EXISTS placeholder (id BIGINT PRIMARY KEY);');
    schema = withStatementSql(loadVersionedSchema(dir), '1.2', 0, sql);
  }
  const dsql = await startDsql();
  try {
    const log: string[] = [];
    const runner = new SchemaRunner({ connection: adminConnection(dsql), schema, log: (m) => log.push(m) });
    const err = await runner.apply({ deadline: inMinute() }).then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect(err?.message).toMatch(new RegExp(`^v1\\.2/buffered_events\\.sql:1 failed: SQLSTATE ${code}: .*${message.replace(/"/g, '.')}.* \\(not retried: a bug or a DSQL limit\\); statement: `));
    expect(log.filter((m) => m.startsWith('retry '))).toEqual([]);
    expect((await runner.status()).currentVersion).toBe('1.1');
  } finally {
    await dsql.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** `schema` with statement `index` of `version` replaced by `sql` (kind and location kept). */
function withStatementSql(schema: VersionedSchema, version: string, index: number, sql: string): VersionedSchema {
  return {
    ...schema,
    versions: schema.versions.map((v) => v.version !== version ? v : {
      ...v,
      statements: v.statements.map((st) => st.index !== index ? st : { ...st, sql, sha256: createHash('sha256').update(sql).digest('hex') }),
    }),
  };
}

/** A copy of the fixtures whose v1.2 holds only `sql`. */
function writeV12(sql: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schema-bad-'));
  fs.cpSync(FIXTURES_DIR, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'v1.2', 'buffered_events.sql'), `${sql}\n`);
  return dir;
}

test('connection-rate refusals (53400) and connections dropped during index waits are retried', async () => {
  // Builds last 3 s: the window in which the waits hold their connections, long enough for the
  // poll below to see it and drop them even on a loaded machine.
  const dsql = await startDsql({ connRate: 2, connBurst: 3, indexBuildDelayMs: 3000 });
  try {
    const log: string[] = [];
    const runner = new SchemaRunner({ connection: adminConnection(dsql), schema: fixtures(), log: (m) => log.push(m) });
    const applying = runner.apply({ deadline: inMinute() });
    // Once the two v1.0 builds are being awaited (three open connections), drop every connection.
    // (No fixed number of polls: connection-rate refusals and a busy machine only make it later.)
    const giveUp = Date.now() + 60_000;
    while ((await dsql.state()).connections.length < 3 && Date.now() < giveUp) await new Promise((r) => setTimeout(r, 25));
    expect(await dsql.dropConnections()).toBeGreaterThanOrEqual(3);
    const r = await applying;
    expect(r.outcome).toBe('applied');
    const retries = log.filter((m) => m.startsWith('retry '));
    expect(retries.filter((m) => /rate error: SQLSTATE 53400/.test(m)).length).toBeGreaterThanOrEqual(1);
    expect(retries.filter((m) => /waiting for job .* connection error/.test(m)).length).toBeGreaterThanOrEqual(1);
    await new Promise((res) => setTimeout(res, 1000)); // the test's own connection must fit the 2/s budget
    const c = await dsql.connect();
    expect(await describeSchema(c)).toEqual(reference);
    await c.end();
  } finally {
    await dsql.stop();
  }
});

test('a statement changed after it was applied is refused', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schema-edit-'));
  fs.cpSync(FIXTURES_DIR, dir, { recursive: true });
  const dsql = await startDsql();
  try {
    const first = new SchemaRunner({
      connection: adminConnection(dsql), schema: loadVersionedSchema(dir),
      hooks: { afterStatement: (v, st) => { if (v === '1.1' && st.index === 1) throw new Error('crash'); } },
    });
    await expect(first.apply({ deadline: inMinute() })).rejects.toThrow('crash');
    fs.writeFileSync(path.join(dir, 'v1.1', 'add_columns.sql'), 'ALTER TABLE executions ADD COLUMN IF NOT EXISTS state_encoding VARCHAR(32);\n');
    const second = new SchemaRunner({ connection: adminConnection(dsql), schema: loadVersionedSchema(dir) });
    await expect(second.apply({ deadline: inMinute() })).rejects.toThrow(/^v1\.1\/add_columns\.sql:1 changed after it was applied .* put the change in a new version/);
  } finally {
    await dsql.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the deadline stops the run between steps and while index builds run; the next run resumes', async () => {
  const dsql = await startDsql({ indexBuildDelayMs: 3000 });
  try {
    const runner = new SchemaRunner({ connection: adminConnection(dsql), schema: fixtures() });
    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await runner.apply({ deadline: Date.now() + 1500 });
      outcomes.push(r.outcome);
      if (r.outcome !== 'in-progress') break;
      expect(r.pendingJobs.every((j) => /^[a-z2-7]{26}$/.test(j))).toBe(true);
    }
    expect(outcomes[0]).toBe('in-progress');
    expect(outcomes[outcomes.length - 1]).toBe('applied');
    const c = await dsql.connect();
    expect(await describeSchema(c)).toEqual(reference);
    await c.end();
  } finally {
    await dsql.stop();
  }
});
