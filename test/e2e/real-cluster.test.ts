/**
 * The local stack's real-cluster mode (local/real-cluster.ts, `npm run local -- --dsql-endpoint`)
 * through its own code path, against dsql-local: dsql-local's TLS (its own CA, SNI) and its SigV4
 * token checks (known access keys, the secret that signed, DbConnectAdmin vs DbConnect, IAM
 * mappings of database roles) stand in for the real endpoint's. The caller's credentials come from
 * the AWS SDK's default provider chain (environment variables here, set to dsql-local's admin
 * principal); STS is not reachable, so the caller's ARN is given (`--iam-arn`).
 *
 * Proves: the plan is made and printed before anything changes; a token signed with the wrong
 * secret and an endpoint whose certificate is not trusted are refused; the schema is applied with
 * the schema custom resource's runner; the caller gets a database role of its own mapped to its
 * ARN and the server runs as that role; a cluster whose schema is newer than ours is refused with
 * both versions and nothing is changed; a cluster with live servers elsewhere in its membership
 * table is refused.
 */
import { Connection } from '@temporalio/client';
import { join, resolve } from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import {
  ClusterInUseError, describePlan, localRoleName, mappingArnOf, planRealCluster, RealClusterOptions, RealClusterStack, SchemaTooNewError, startRealClusterStack,
} from '../../local/real-cluster';
import { DsqlLocal, startDsqlLocal } from '../support/dsql-local';

const ROOT = resolve(__dirname, '..', '..');
const ARTIFACTS = join(ROOT, 'test-results', 'e2e-real-cluster');
const AWS_VARS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_REGION', 'AWS_EC2_METADATA_DISABLED'];

let dsql: DsqlLocal;
let stack: RealClusterStack | undefined;
const savedEnv: Record<string, string | undefined> = {};
let target: RealClusterOptions;
let adminArn: string;

jest.setTimeout(4 * 60_000);

beforeAll(async () => {
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  dsql = await startDsqlLocal();
  const admin = dsql.credentials.find((c) => c.admin)!;
  adminArn = admin.principalArn;
  // The caller's credentials, where the default provider chain looks first.
  for (const k of AWS_VARS) savedEnv[k] = process.env[k];
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
  process.env.AWS_ACCESS_KEY_ID = admin.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = admin.secretAccessKey;
  process.env.AWS_REGION = dsql.region;
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  target = { endpoint: dsql.hostname, host: dsql.host, port: dsql.port, region: dsql.region, caFile: dsql.caFile, iamArn: adminArn };
});

afterAll(async () => {
  await stack?.stop();
  await dsql?.stop();
  for (const k of AWS_VARS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

test('caller identities map to IAM roles or users and to a database role of their own', () => {
  expect(mappingArnOf('arn:aws:sts::123456789012:assumed-role/Developer/jane@example.com')).toBe('arn:aws:iam::123456789012:role/Developer');
  expect(mappingArnOf('arn:aws:iam::123456789012:user/jane')).toBe('arn:aws:iam::123456789012:user/jane');
  expect(() => mappingArnOf('arn:aws:iam::123456789012:root')).toThrow('DSQL maps IAM roles and users only');
  expect(localRoleName('arn:aws:iam::123456789012:role/Dev-Ops.Team')).toBe('local_dev_ops_team');
  expect(localRoleName(`arn:aws:iam::123456789012:role/${'x'.repeat(80)}`)).toHaveLength(63);
});

test('a token signed with the wrong secret is refused before anything changes', async () => {
  const admin = dsql.credentials.find((c) => c.admin)!;
  const wrongKey = async () => ({ accessKeyId: admin.accessKeyId, secretAccessKey: `${admin.secretAccessKey}-wrong` });
  await expect(planRealCluster({ ...target, credentials: wrongKey })).rejects.toMatchObject({ code: expect.stringMatching(/^28/) });
});

test('an endpoint whose certificate the caller does not trust is refused', async () => {
  await expect(planRealCluster({ ...target, caFile: undefined })).rejects.toThrow(/certificate/i);
});

test('plans, applies the schema and the caller\'s role, and runs the server as that role on the cluster', async () => {
  const plan = await planRealCluster(target);
  expect(plan).toMatchObject({ endpoint: dsql.hostname, region: dsql.region, iamArn: adminArn, databaseRole: 'local_admin', schemaFrom: undefined });
  expect(plan.schemaTo).toMatch(/^\d+\.\d+$/);
  const lines: string[] = [];
  stack = await startRealClusterStack({ ...target, ui: false, dir: join(ARTIFACTS, 'stack'), log: (m) => lines.push(m) });
  // The plan is printed first, in operator words.
  expect(lines.slice(0, 4)).toEqual(describePlan(plan));
  expect(lines[0]).toContain(`Aurora DSQL cluster ${dsql.hostname} (${dsql.region}), as ${adminArn}`);
  expect(lines[1]).toContain(`apply the schema from scratch up to version ${plan.schemaTo}`);
  expect(lines[2]).toContain(`create database role local_admin with the servers' privileges and map it to ${adminArn}`);

  const admin = await dsql.connect();
  try {
    const version = await admin.query('SELECT curr_version FROM schema_version');
    expect(version.rows).toEqual([{ curr_version: plan.schemaTo }]);
    const mappings = await admin.query('SELECT arn FROM sys.iam_pg_role_mappings WHERE pg_role_name = $1', ['local_admin']);
    expect(mappings.rows).toEqual([{ arn: adminArn }]);
  } finally {
    await admin.end();
  }
  // The server's connections log in as the caller's role, with tokens signed by the caller.
  const serverConns = (await dsql.state()).connections.filter((c) => c.user === 'local_admin');
  expect(serverConns.length).toBeGreaterThan(0);
  expect(new Set(serverConns.map((c) => c.principal))).toEqual(new Set([adminArn]));
  const c = await Connection.connect(stack.clientOptions);
  try {
    const ns = await c.workflowService.describeNamespace({ namespace: 'default' });
    expect(ns.namespaceInfo?.name).toBe('default');
  } finally {
    await c.close();
  }
  await stack.stop();
  stack = undefined;

  // A second plan on the same cluster: nothing to apply.
  const again = await planRealCluster(target);
  expect(again.schemaFrom).toBe(plan.schemaTo);
  expect(describePlan(again)[1]).toContain(`schema already at version ${plan.schemaTo}: nothing to apply`);
});

test('a cluster that servers elsewhere use (live membership rows off loopback) is refused; the local run\'s own rows are not', async () => {
  const admin = await dsql.connect();
  try {
    // The stopped local server's rows (127.0.0.1) are still there and do not count.
    expect((await admin.query(`SELECT 1 FROM cluster_membership WHERE rpc_address LIKE '127.%'`)).rowCount).toBeGreaterThan(0);
    await admin.query(`INSERT INTO cluster_membership (membership_partition, host_id, rpc_address, rpc_port, role, session_start, last_heartbeat, record_expiry)
      VALUES (0, '6f1c1d6e-0000-4000-8000-000000000001', '10.0.1.5', 7234, 2, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', (now() AT TIME ZONE 'UTC') + interval '48 hours')`);
    const refused = planRealCluster(target);
    await expect(refused).rejects.toBeInstanceOf(ClusterInUseError);
    await expect(refused).rejects.toThrow('in use by running Temporal servers (10.0.1.5:7234 (role 2) heartbeated within the last 20 s)');
    // A member that stopped heartbeating is not live.
    await admin.query(`UPDATE cluster_membership SET last_heartbeat = (now() AT TIME ZONE 'UTC') - interval '1 minute' WHERE rpc_address = '10.0.1.5'`);
    await expect(planRealCluster(target)).resolves.toMatchObject({ databaseRole: 'local_admin' });
  } finally {
    await admin.query(`DELETE FROM cluster_membership WHERE rpc_address = '10.0.1.5'`).catch(() => undefined);
    await admin.end();
  }
});

test('a cluster whose schema is newer than ours is refused with both versions, and nothing changes', async () => {
  const ours = (await planRealCluster(target)).schemaTo;
  const admin = await dsql.connect();
  try {
    await admin.query(`UPDATE schema_version SET curr_version = '99.0'`);
  } finally {
    await admin.end();
  }
  const attempt = startRealClusterStack({ ...target, databaseRole: 'local_refused', ui: false, dir: join(ARTIFACTS, 'refused') });
  await expect(attempt).rejects.toBeInstanceOf(SchemaTooNewError);
  await expect(attempt).rejects.toThrow(`schema version 99.0, newer than this checkout's ${ours}`);
  const check = await dsql.connect();
  try {
    expect((await check.query(`SELECT 1 FROM pg_roles WHERE rolname = 'local_refused'`)).rowCount).toBe(0);
    expect((await check.query('SELECT curr_version FROM schema_version')).rows).toEqual([{ curr_version: '99.0' }]);
  } finally {
    await check.end();
  }
});
