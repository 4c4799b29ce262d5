/**
 * The operator CLI (bin/temporal-dsql-tool.ts): usage errors, then setup-schema, status and
 * update-schema against dsql-local, in process and once through `npm run dsql-tool`.
 * Credentials come from the AWS SDK default chain (environment), as for an operator.
 */
import { execFile } from 'child_process';
import * as path from 'path';
import { promisify } from 'util';
import { main } from '../../bin/temporal-dsql-tool';
import { DsqlLocal } from '../support/dsql-local';
import { credentialEnv, describeSchema, FIXTURES_DIR, startDsql } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, (s) => { out += s; }, (s) => { err += s; });
  return { code, out, err };
}

describe('usage errors (no endpoint needed)', () => {
  test('--help prints every command and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const word of ['setup-schema', 'update-schema', 'status', '--endpoint', '--ca-file', '--version']) expect(r.out).toContain(word);
  });
  test.each([
    [[], 'a command is required: setup-schema, update-schema or status'],
    [['migrate'], 'unknown command "migrate"; allowed: setup-schema, update-schema, status'],
    [['status', '--region', 'us-east-1'], '--endpoint is required'],
    [['status', '--endpoint', 'x.dsql.us-east-1.on.aws', '--region', 'us-east-1', '--port', 'abc'], '--port must be an integer from 1 to 65535, got "abc"'],
    [['status', '--endpoint', 'x', '--region', 'r', '--version', '1.0'], '--version, --server-role and --server-iam-arn apply to update-schema only, not status'],
    [['status', '--bogus'], "Unknown option '--bogus'"],
  ])('%j exits 2 with a clear message', async (args, message) => {
    const r = await run(args as string[]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
  });
  test('a missing schema directory exits 1 naming it', async () => {
    const r = await run(['status', '--endpoint', 'x', '--region', 'us-east-1', '--schema-dir', '/nonexistent/versioned']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('schema directory /nonexistent/versioned does not exist');
  });
});

describe('against dsql-local', () => {
  let dsql: DsqlLocal;
  let conn: string[];
  const savedEnv = { ...process.env };
  beforeAll(async () => {
    dsql = await startDsql();
    Object.assign(process.env, credentialEnv(dsql, 'admin'));
    conn = ['--endpoint', dsql.hostname, '--host', dsql.host, '--port', String(dsql.port), '--region', dsql.region, '--ca-file', dsql.caFile, '--schema-dir', FIXTURES_DIR];
  });
  afterAll(async () => {
    process.env = savedEnv;
    await dsql?.stop();
  });

  test('setup-schema records 0.0 and is idempotent', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await run(['setup-schema', ...conn]);
      expect(r).toMatchObject({ code: 0, out: 'schema version tables ready; current version 0.0\n' });
    }
  });

  test('status lists the pending versions', async () => {
    const r = await run(['status', ...conn]);
    expect(r.code).toBe(0);
    expect(r.out).toBe('current version: 0.0\nlatest version:  1.2\npending:         1.0, 1.1, 1.2\n');
  });

  test('update-schema --version applies up to that version', async () => {
    const r = await run(['update-schema', ...conn, '--version', '1.1']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^applied: 0\.0 -> 1\.1 \(target 1\.1; 11 statements executed\)\n$/);
    const st = await run(['status', ...conn, '--json']);
    expect(JSON.parse(st.out)).toMatchObject({ currentVersion: '1.1', pendingVersions: ['1.2'] });
  });

  test('update-schema with an unknown version fails with the allowed ones', async () => {
    const r = await run(['update-schema', ...conn, '--version', '7.7']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error: target version "7.7" is not in the schema directory; allowed: 1.0, 1.1, 1.2');
  });

  test('update-schema to the latest with the server role, then a lower --version is a no-op', async () => {
    const r = await run(['update-schema', ...conn, '--server-role', 'temporal_server', '--server-iam-arn', dsql.principal('temporal-server')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^applied: 1\.1 -> 1\.2 /);
    const app = await dsql.connect({ user: 'temporal_server', principal: 'temporal-server' });
    expect((await app.query('SELECT count(*)::int AS n FROM executions')).rows).toEqual([{ n: 0 }]);
    await app.end();
    const lower = await run(['update-schema', ...conn, '--version', '1.0']);
    expect(lower).toMatchObject({ code: 0 });
    expect(lower.out).toMatch(/^target-below-current: 1\.2 -> 1\.2 /);
  });

  test('npm run dsql-tool works as a separate process; a principal without admin rights gets the server error', async () => {
    const exec = promisify(execFile);
    const env = { ...process.env, ...credentialEnv(dsql, 'admin') };
    const ok = await exec('npm', ['run', '-s', 'dsql-tool', '--', 'status', '--json', ...conn], { cwd: ROOT, env });
    expect(JSON.parse(ok.stdout)).toMatchObject({ currentVersion: '1.2', pendingVersions: [] });
    const denied = await exec('npm', ['run', '-s', 'dsql-tool', '--', 'status', ...conn], { cwd: ROOT, env: { ...process.env, ...credentialEnv(dsql, 'other') } })
      .then(() => undefined, (e: { code: number; stderr: string }) => e);
    expect(denied?.code).toBe(1);
    expect(denied?.stderr).toMatch(/error: SQLSTATE 28P01: /);
    const c = await dsql.connect();
    expect((await describeSchema(c)).filter((l) => l.startsWith('version '))).toEqual(['version postgres 1.2 min=1.1']);
    await c.end();
  });
});
