/**
 * The restore runbook, rehearsed on the local stack (docs/operations.md, "Restore the DSQL cluster
 * from a backup"; issue 23, item 2). What AWS does is stood in for, what we do is real:
 *   - AWS Backup's recovery point and its restore to a NEW cluster are a pg_dump of the running
 *     stack's database (taken with the servers stopped, step 1) loaded into a fresh dsql-local
 *     with its own PostgreSQL: a second cluster with other credentials, endpoint and port;
 *   - `dsql.existingCluster` is `stack.startServers({ dsql })`: the servers' persistence endpoint is
 *     the only thing that changes, as on AWS;
 *   - the schema custom resource's code (lambda/dsql/schema `migrate`) runs against the restored
 *     database and must find nothing to do.
 * Every workflow open at the backup (waiting for a signal, or in a timer) then runs to completion
 * on the restored database, with the old one stopped.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection, WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { migrate } from '../../lambda/dsql/schema/migrate';
import { loadVersionedSchema } from '../../lambda/dsql/schema/schema-dir';
import { DSQL_SCHEMA_DIR, ROOT, SERVER_DB_ROLE } from '../../local/paths';
import { LocalStack, startLocalStack } from '../../local/stack';
import { DsqlLocal, startDsqlLocal } from '../support/dsql-local';
import * as activities from './activities';
import { approvalWorkflow, approveSignal, stageQuery } from './workflows';

const DIR = join(ROOT, 'test-results', 'e2e-restore');
const TASK_QUEUE = 'restore';

let stack: LocalStack;
let restored: DsqlLocal | undefined;
let connection: Connection | undefined;
let nativeConnection: NativeConnection | undefined;
let worker: Worker | undefined;
let workerRun: Promise<void> | undefined;

jest.setTimeout(5 * 60_000);

/** psql / pg_dump arguments reaching a dsql-local's own PostgreSQL over its socket. */
function pgArgs(d: DsqlLocal): string[] {
  if (!d.pgSocketDir || !d.pgPort || !d.pgUser) throw new Error('dsql-local did not report its PostgreSQL socket');
  return ['-h', d.pgSocketDir, '-p', String(d.pgPort), '-U', d.pgUser, '-d', 'postgres'];
}

/** Row count of every table of the Temporal schema (schema public), by table. */
function rowCounts(d: DsqlLocal): Record<string, number> {
  const sql = "SELECT string_agg(format('SELECT %L AS t, count(*) AS n FROM %I.%I', table_name, table_schema, table_name), ' UNION ALL ') FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'";
  const union = execFileSync('psql', [...pgArgs(d), '-At', '-c', sql], { encoding: 'utf8' }).trim();
  const out = execFileSync('psql', [...pgArgs(d), '-At', '-F', '\t', '-c', union], { encoding: 'utf8' }).trim();
  return Object.fromEntries(out.split('\n').map((l) => l.split('\t')).map(([t, n]) => [t, Number(n)]));
}

afterAll(async () => {
  if (worker && worker.getState() === 'RUNNING') worker.shutdown();
  await workerRun?.catch(() => undefined);
  await nativeConnection?.close();
  await connection?.close();
  await stack?.stop();
  await restored?.stop();
}, 120_000);

test('a DSQL restore to a new cluster, adopted by the servers: every open workflow completes', async () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  Runtime.install({ logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => console.error(m) } });
  stack = await startLocalStack({ dir: join(DIR, 'stack'), ui: false });
  const original = stack.dsql;
  connection = await Connection.connect(stack.clientOptions);
  const client = new Client({ connection, namespace: stack.namespace });
  nativeConnection = await NativeConnection.connect(stack.clientOptions);
  worker = await Worker.create({ connection: nativeConnection, namespace: stack.namespace, taskQueue: TASK_QUEUE, workflowsPath: require.resolve('./workflows'), activities });
  workerRun = worker.run();

  // Open workflows at the time of the backup: three waiting for a signal, two in a 20 s timer.
  const start = (i: number) => client.workflow.start(approvalWorkflow, { taskQueue: TASK_QUEUE, workflowId: `restore-${i}-${randomUUID()}`, args: [`w${i}`, i < 2 ? 20_000 : 1_000] });
  const handles: WorkflowHandle<typeof approvalWorkflow>[] = await Promise.all([0, 1, 2, 3, 4].map(start));
  for (const h of handles.slice(0, 2)) await h.signal(approveSignal, 'before-backup');
  for (const [i, h] of handles.entries()) {
    const want = i < 2 ? 'timer' : 'waiting-for-approval';
    const giveUp = Date.now() + 30_000;
    while ((await h.query(stageQuery)) !== want) {
      if (Date.now() > giveUp) throw new Error(`${h.workflowId} never reached ${want}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  // Step 1: stop the writers. Then the "recovery point": a dump of the database, roles included.
  await stack.stopServers();
  const before = rowCounts(original);
  expect(before.executions).toBeGreaterThanOrEqual(5);
  const dump = join(DIR, 'recovery-point.sql');
  execFileSync('pg_dump', [...pgArgs(original), '--schema=public', '--file', dump]);
  const mappings = execFileSync('psql', [...pgArgs(original), '-At', '-c', `SELECT pg_role_name || '|' || arn FROM sys.iam_pg_role_mappings WHERE pg_role_name = '${SERVER_DB_ROLE}'`], { encoding: 'utf8' }).trim().split('\n');
  expect(mappings.length).toBeGreaterThanOrEqual(1);

  // Step 3: "restore to a new cluster": a fresh dsql-local, the role and its IAM mapping, the data.
  restored = await startDsqlLocal();
  expect(restored.port).not.toBe(original.port);
  // Roles and their IAM mappings are data of the cluster: recreated here with DSQL's own statements.
  const adminClient = await restored.connect();
  try {
    await adminClient.query(`CREATE ROLE ${SERVER_DB_ROLE} WITH LOGIN`);
    for (const m of mappings) await adminClient.query(`AWS IAM GRANT ${SERVER_DB_ROLE} TO '${m.split('|')[1]}'`);
  } finally {
    await adminClient.end();
  }
  // public exists in a new database: the dump's CREATE SCHEMA public is the one statement allowed to fail.
  const load = execFileSync('psql', [...pgArgs(restored), '-f', dump], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  expect(load).toContain('COPY');
  expect(rowCounts(restored)).toEqual(before);
  // The original is gone from here on: nothing can reach it by mistake.
  await original.stop();

  // The schema custom resource's code against the restored cluster: up to date, role and grants in place.
  const admin = restored.credentials.find((c) => c.admin)!;
  const result = await migrate({
    connection: { hostname: restored.hostname, host: restored.host, port: restored.port, region: restored.region, caFile: restored.caFile, credentials: { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey }, applicationName: 'restore-test' },
    schema: loadVersionedSchema(DSQL_SCHEMA_DIR),
    deadline: Date.now() + 120_000,
    serverRole: { roleName: SERVER_DB_ROLE, iamArns: [restored.principal('temporal-server')] },
  });
  expect([result.complete, result.apply.outcome, result.apply.statementsExecuted]).toEqual([true, 'up-to-date', 0]);
  expect([result.serverRole?.roleCreated, result.serverRole?.iamGranted, result.serverRole?.iamRevoked]).toEqual([false, [], []]);

  // Step 4: the servers adopt the restored cluster (the only change), and every workflow finishes.
  await stack.startServers({ dsql: restored });
  expect(stack.dsql).toBe(restored);
  for (const h of handles.slice(2)) await h.signal(approveSignal, 'after-restore');
  const results = await Promise.all(handles.map((h) => h.result()));
  expect(results).toEqual([0, 1, 2, 3, 4].map((i) => expect.stringMatching(new RegExp(`w${i}.*\\(approved by ${i < 2 ? 'before-backup' : 'after-restore'}\\)$`))));
  // ...on the restored database: the servers hold connections to it, and a new workflow runs too.
  expect((await restored.state()).connections.some((c) => c.user === SERVER_DB_ROLE)).toBe(true);
  const fresh = await start(5);
  await fresh.signal(approveSignal, 'new');
  expect(await fresh.result()).toMatch(/w5.*\(approved by new\)$/);
});
