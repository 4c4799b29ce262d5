/**
 * The failover command (bin/failover, issue 25 item 2) against:
 *  - moto 5.2.5 for the AWS control planes it calls (ECS ListClusters/DescribeClusters/ListServices/
 *    DescribeServices/UpdateService, Application Auto Scaling DescribeScalableTargets/
 *    RegisterScalableTarget): moto stands in for AWS, it is not AWS (it sets runningCount to
 *    desiredCount at once and does not enforce scalable-target floors);
 *  - a RECORDING FAKE for the DSQL control plane (GetClusterPolicy/PutClusterPolicy), which moto
 *    5.2.5 does not serve; the policy document it receives is built by the pure `withFence`,
 *    tested on its own below;
 *  - dsql-local (real PostgreSQL behind DSQL's rules) with the real Temporal schema, applied by the
 *    schema runner, for cluster_membership and shards.
 * No Temporal server runs here: a STAND-IN (`servers`, below) writes what upstream's servers
 * write (membership heartbeats; shard acquisition: range_id + 1 conditioned on the previous value,
 * ShardInfo.owner `<ip:port>-<seq>-<uuid>` in the Proto3 blob) when moto says the new Region's
 * history service has tasks. The local two-Region rehearsal (test/faults) runs real servers.
 */
import { ApplicationAutoScalingClient, RegisterScalableTargetCommand } from '@aws-sdk/client-application-auto-scaling';
import { DSQLClient } from '@aws-sdk/client-dsql';
import { CreateClusterCommand, CreateServiceCommand, ECSClient, RegisterTaskDefinitionCommand, UpdateServiceCommand } from '@aws-sdk/client-ecs';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Client } from 'pg';
import { Writer } from 'protobufjs/minimal';
import { ENVIRONMENTS } from '../../config';
import type { PlatformConfigInput } from '../../lib/config';
import { migrate } from '../../lambda/dsql/schema/migrate';
import { loadVersionedSchema } from '../../lambda/dsql/schema/schema-dir';
import { AwsRegionFleet } from '../../bin/failover/aws-fleet';
import { AwsDatabaseFence, fenceSid, vpcOfPolicy, withFence } from '../../bin/failover/aws-fence';
import { failoverMain } from '../../bin/failover/cli';
import { PgClusterDatabase, shardOwnerFromBlob } from '../../bin/failover/database';
import { Route53Record } from '../../bin/failover/route53';
import { cidrMatcher, compressIds, runFailover } from '../../bin/failover/failover';
import { RoleCount, StepResult } from '../../bin/failover/types';
import { main } from '../../bin/temporal-dsql-tool';
import { DsqlLocal, startDsqlLocal } from '../support/dsql-local';
import { MotoServer, startMoto } from '../support/moto';
import { freePort } from '../../local/process';

jest.setTimeout(60_000);

const OLD = 'us-east-1';
const NEW = 'us-east-2';
const SHARDS = 4;
const ARNS = {
  [OLD]: 'arn:aws:dsql:us-east-1:111122223333:cluster/aaaaaaaaaaaaaaaaaaaaaaaaaa',
  [NEW]: 'arn:aws:dsql:us-east-2:111122223333:cluster/bbbbbbbbbbbbbbbbbbbbbbbbbb',
};
/** dev, on two Regions with disjoint CIDRs (dev's 10.0.0.0/16 and 10.41.0.0/16), 4 shards. */
const ENV: PlatformConfigInput = {
  ...ENVIRONMENTS.dev, numHistoryShards: SHARDS,
  multiRegion: { regions: [OLD, NEW], witnessRegion: 'us-west-2', clusterArns: ARNS, regionOverrides: { [NEW]: { network: { azCount: 2, natGateways: 'one', cidr: '10.41.0.0/16' } } } },
};
/** dev's `small` preset: frontend and matching autoscale 1-2, history and worker run 1. */
const TARGET: RoleCount[] = [
  { role: 'frontend', desired: 1, min: 1, max: 2 }, { role: 'history', desired: 1 }, { role: 'matching', desired: 1, min: 1, max: 2 }, { role: 'worker', desired: 1 },
];
/** Membership (ring) port 6934; shard owners name the gRPC port 7234 (lib/services TEMPORAL_PORTS). */
const OLD_HISTORY = { host: '10.0.1.10', port: 6934 };
const NEW_HISTORY = { host: '10.41.1.10', port: 6934 };
const GRPC = 7234;

let moto: MotoServer;
let dsql: DsqlLocal;
let db: Client;
let closedPort: number;

const clientsAt = (endpoint: string) => (region: string) => {
  const cfg = { region, endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 };
  return { ecs: new ECSClient(cfg), autoscaling: new ApplicationAutoScalingClient(cfg), dsql: new DSQLClient(cfg) };
};
const motoClients = (region: string) => clientsAt(moto.endpoint)(region);
const adminCred = () => dsql.credentials.find((c) => c.admin)!;
const dbConnection = () => ({
  hostname: dsql.hostname, host: dsql.host, port: dsql.port, region: dsql.region, caFile: dsql.caFile,
  credentials: { accessKeyId: adminCred().accessKeyId, secretAccessKey: adminCred().secretAccessKey },
});
const dbArgs = () => ['--dsql-endpoint', dsql.hostname, '--dsql-host', dsql.host, '--dsql-port', String(dsql.port), '--ca-file', dsql.caFile];

beforeAll(async () => {
  const t0 = Date.now();
  [moto, dsql, closedPort] = await Promise.all([startMoto(), startDsqlLocal({ indexBuildDelayMs: 0, region: NEW }), freePort()]);
  if (process.env.FAILOVER_PRINT) process.stdout.write(`servers ${Date.now() - t0} ms\n`);
  const schemaDir = path.join(__dirname, '..', '..', 'schema', 'dsql', 'temporal', 'versioned');
  const r = await migrate({ connection: dbConnection(), schema: loadVersionedSchema(schemaDir), deadline: Date.now() + 60_000, log: () => undefined });
  expect(r.complete).toBe(true);
  db = await dsql.connect();
  if (process.env.FAILOVER_PRINT) process.stdout.write(`schema ${Date.now() - t0} ms\n`);
});
afterAll(async () => {
  await db?.end();
  await Promise.all([moto?.stop(), dsql?.stop()]);
});

// ---- AWS state in moto: one stack's ECS cluster per Region, tagged like lib/platform-stack.ts ----

async function seedAws(): Promise<void> {
  await fetch(`${moto.endpoint}/moto-api/reset`, { method: 'POST' });
  for (const [region, running] of [[OLD, true], [NEW, false]] as const) {
    const { ecs, autoscaling } = motoClients(region);
    const tags = [{ key: 'project', value: 'temporal-dsql' }, { key: 'environment', value: 'mr' }];
    await ecs.send(new CreateClusterCommand({ clusterName: `Temporal-mr-${region}-Cluster1234`, tags }));
    await ecs.send(new CreateClusterCommand({ clusterName: 'someone-else', tags: [{ key: 'environment', value: 'mr' }] }));
    await ecs.send(new RegisterTaskDefinitionCommand({ family: 'temporal', containerDefinitions: [{ name: 'temporal', image: 'x', memory: 512 }] }));
    for (const t of TARGET) {
      const serviceName = `Temporal-mr-${region}-${t.role}Service-ABC`;
      const cluster = `Temporal-mr-${region}-Cluster1234`;
      const desired = running ? t.desired : 0;
      await ecs.send(new CreateServiceCommand({ cluster, serviceName, taskDefinition: 'temporal', desiredCount: desired, tags: [...tags, { key: 'temporal:role', value: t.role }] }));
      await ecs.send(new UpdateServiceCommand({ cluster, service: serviceName, desiredCount: desired })); // moto: running = desired
      if (t.min !== undefined) {
        await autoscaling.send(new RegisterScalableTargetCommand({
          ServiceNamespace: 'ecs', ScalableDimension: 'ecs:service:DesiredCount', ResourceId: `service/${cluster}/${serviceName}`,
          MinCapacity: running ? t.min : 0, MaxCapacity: t.max,
        }));
      }
    }
  }
}

const fleetOf = (region: string, endpoint = moto.endpoint) => new AwsRegionFleet({ region, envName: 'mr', ...clientsAt(endpoint)(region), pollIntervalMs: 50 });
const awsState = async () => ({ old: await fleetOf(OLD).describe(), new: await fleetOf(NEW).describe() });

// ---- database rows: what upstream writes ----

/** upstream's ShardInfo blob (persistence.v1.ShardInfo: shard_id 1, range_id 2, owner 3), Proto3. */
function shardBlob(id: number, rangeId: number, owner: string): Buffer {
  return Buffer.from(Writer.create().uint32(8).int32(id).uint32(16).int64(rangeId).uint32(26).string(owner).finish());
}
let seq = 0;
const uuid = () => `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`;

async function upsertMember(host: { host: string; port: number }, role: number, ageMs: number, hostId = `${host.host}:${host.port}:${role}`): Promise<void> {
  const id = hostIdOf(hostId);
  await db.query(`INSERT INTO cluster_membership (membership_partition, host_id, rpc_address, rpc_port, role, session_start, last_heartbeat, record_expiry)
    VALUES (0, $1, $2, $3, $4, now() AT TIME ZONE 'UTC', (now() - make_interval(secs => $5::float8 / 1000)) AT TIME ZONE 'UTC', (now() + interval '48 hours') AT TIME ZONE 'UTC')
    ON CONFLICT (membership_partition, host_id) DO UPDATE SET last_heartbeat = excluded.last_heartbeat`, [id, host.host, host.port, role, ageMs]);
}
const ids = new Map<string, string>();
const hostIdOf = (key: string) => { if (!ids.has(key)) ids.set(key, uuid()); return ids.get(key)!; };

/** The old Region's hosts (one per role) heartbeating `ageMs` ago; shards owned by its history host at range_id 5. */
async function seedDb(o: { oldAgeMs: number; extraStale?: number }): Promise<void> {
  await db.query('DELETE FROM cluster_membership');
  await db.query('DELETE FROM shards');
  for (const [role, port] of [[1, 6933], [2, 6934], [3, 6935], [4, 6939]] as const) await upsertMember({ host: OLD_HISTORY.host, port }, role, o.oldAgeMs);
  for (let i = 0; i < (o.extraStale ?? 0); i++) await upsertMember({ host: `10.0.9.${i + 1}`, port: 6934 }, 2, 3_600_000); // long-gone tasks
  for (let id = 1; id <= SHARDS; id++) {
    await db.query(`INSERT INTO shards (shard_id, range_id, data, data_encoding) VALUES ($1, 5, $2, 'Proto3')`, [id, shardBlob(id, 5, `${OLD_HISTORY.host}:${GRPC}-1-${uuid()}`)]);
  }
}
const dbState = async () => ({
  members: (await db.query('SELECT host_id::text, rpc_address, rpc_port, role, last_heartbeat FROM cluster_membership ORDER BY host_id')).rows,
  shards: (await db.query('SELECT shard_id, range_id::text, encode(data, \'hex\') AS data FROM shards ORDER BY shard_id')).rows,
});

/**
 * STAND-IN for the servers: while moto's new-Region history service has desired > 0, its history
 * host heartbeats and acquires each shard like upstream's renewRangeLocked (range_id + 1,
 * conditioned on the previous value, owner = `<ip:port>-<seq>-<uuid>`); `skipShards` are never
 * acquired; `oldHeartbeats` keeps the old Region's history host heartbeating (a fence that did not take).
 */
function servers(o: { skipShards?: number[]; oldHeartbeats?: boolean } = {}): { stop: () => Promise<void> } {
  let running = true;
  const loop = (async () => {
    const fleet = fleetOf(NEW);
    while (running) {
      if (o.oldHeartbeats) await upsertMember(OLD_HISTORY, 2, 0);
      const history = (await fleet.describe()).find((r) => r.role === 'history')!;
      if (history.running > 0) {
        await upsertMember(NEW_HISTORY, 2, 0);
        for (let id = 1; id <= SHARDS; id++) {
          if (o.skipShards?.includes(id)) continue;
          const { rows } = await db.query('SELECT range_id::text AS r, data FROM shards WHERE shard_id = $1', [id]);
          if (shardOwnerFromBlob(rows[0].data, 'Proto3').startsWith(`${NEW_HISTORY.host}:`)) continue;
          const prev = Number(rows[0].r);
          await db.query('UPDATE shards SET range_id = $2, data = $3 WHERE shard_id = $1 AND range_id = $4',
            [id, prev + 1, shardBlob(id, prev + 1, `${NEW_HISTORY.host}:${GRPC}-1-${uuid()}`), prev]);
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { stop: async () => { running = false; await loop; } };
}

// Route 53 in moto: the record the failover points at the new Region's NLB.
const route53At = (o: { zoneId: string; name: string }) => new Route53Record({ ...o, endpoint: moto.endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });

/** Creates a hosted zone in moto (a stand-in for the account's zone) and returns its id. */
async function createZone(name: string): Promise<string> {
  const body = `<?xml version="1.0" encoding="UTF-8"?><CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>${name}</Name><CallerReference>${Date.now()}-${Math.random()}</CallerReference></CreateHostedZoneRequest>`;
  // moto routes a request to its service by the credential scope of the Authorization header (it checks no signature).
  const authorization = 'AWS4-HMAC-SHA256 Credential=testing/20261205/us-east-1/route53/aws4_request, SignedHeaders=host, Signature=0';
  const res = await fetch(`${moto.endpoint}/2013-04-01/hostedzone`, { method: 'POST', body, headers: { 'content-type': 'text/xml', authorization } });
  const text = await res.text();
  const id = /<Id>\/hostedzone\/([^<]+)<\/Id>/.exec(text)?.[1];
  if (!res.ok || !id) throw new Error(`moto CreateHostedZone: ${res.status} ${text.slice(0, 300)}`);
  return id;
}

const statuses = (rs: StepResult[]) => Object.fromEntries(rs.map((r) => [r.step, r.status]));
const baseOptions = { from: OLD, to: NEW, targetCounts: TARGET, shardCount: SHARDS, oldRegionHosts: '10.0.0.0/16', pollIntervalMs: 100, heartbeatCutoffMs: 1_000 };

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await failoverMain(args, (s) => { out += s; }, (s) => { err += s; }, {
    environments: { mr: ENV, dev: ENVIRONMENTS.dev }, clients: motoClients,
    dsqlCredentials: { accessKeyId: adminCred().accessKeyId, secretAccessKey: adminCred().secretAccessKey },
    route53: route53At,
  });
  return { code, out, err };
}

describe('failover against moto (ECS, Application Auto Scaling) and dsql-local (membership, shards)', () => {
  test('dry run (the default) plans every step and changes nothing in AWS or the database', async () => {
    await seedAws();
    await seedDb({ oldAgeMs: 0, extraStale: 2 });
    const before = { aws: await awsState(), db: await dbState() };
    const r = await cli(['--env', 'mr', '--to', NEW, ...dbArgs()]);
    if (process.env.FAILOVER_PRINT) process.stdout.write(r.out);
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    expect(r.out).toContain('DRY RUN');
    expect(r.out).toMatch(/planned +fence-old-region .*would scale frontend 1 \[1-2\] -> 0 \[0-2\], history 1 -> 0/);
    expect(r.out).toMatch(/planned +remove-stale-members .*would delete 2 rows/);
    expect(r.out).toMatch(/planned +scale-new-region .*history 0 -> 1/);
    expect(r.out).toMatch(/planned +wait-shards-owned .*now 0 of 4 shards owned/);
    expect({ aws: await awsState(), db: await dbState() }).toEqual(before);
  });

  test('execute: fences, removes stale rows, scales, waits for ownership; a second run answers already', async () => {
    await seedAws();
    await seedDb({ oldAgeMs: 0, extraStale: 2 });
    const sim = servers();
    const lines: string[] = [];
    try {
      const deps = { oldFleet: fleetOf(OLD), newFleet: fleetOf(NEW), database: new PgClusterDatabase({ connection: dbConnection() }), print: (l: string) => lines.push(l) };
      // The old hosts' heartbeats stop with the fence (nothing renews them); step 2 waits until they are over the 1 s cutoff.
      const first = await runFailover({ ...baseOptions, execute: true, waitTimeoutMs: 10_000 }, deps);
      expect(statuses(first)).toEqual({ 'fence-old-region': 'done', 'remove-stale-members': 'done', 'scale-new-region': 'done', 'wait-shards-owned': 'done', 'client-endpoint': 'skipped' });
      const aws = await awsState();
      expect(aws.old.map((r) => [r.role, r.desired, r.running, r.min])).toEqual([['frontend', 0, 0, 0], ['history', 0, 0, undefined], ['matching', 0, 0, 0], ['worker', 0, 0, undefined]]);
      expect(aws.new.map(({ role, desired, min, max }) => ({ role, desired, ...(min !== undefined ? { min, max } : {}) }))).toEqual(TARGET);
      const state = await dbState();
      expect(state.members.map((m) => m.rpc_address)).toEqual([NEW_HISTORY.host]);
      expect(state.shards.map((s) => Number(s.range_id))).toEqual([6, 6, 6, 6]);
      expect(first.find((s) => s.step === 'remove-stale-members')!.detail).toMatch(/deleted 6 rows .*\(6 of us-east-1\)/);

      const second = await runFailover({ ...baseOptions, execute: true, waitTimeoutMs: 5_000 }, deps);
      expect(statuses(second)).toEqual({ 'fence-old-region': 'already', 'remove-stale-members': 'already', 'scale-new-region': 'already', 'wait-shards-owned': 'already', 'client-endpoint': 'skipped' });
      await deps.database.close();
    } finally {
      await sim.stop();
    }
    expect(lines.every((l) => /^(done|already|skipped) /.test(l))).toBe(true);
  });

  test('CLI --execute --json against moto and dsql-local (the runbook example) exits 0 with every step timed', async () => {
    await seedAws();
    await seedDb({ oldAgeMs: 60_000 }); // the old Region's hosts stopped a minute ago: nothing to wait for in step 2
    const outputs = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'failover-')), 'outputs.json');
    fs.writeFileSync(outputs, JSON.stringify({ [`Temporal-mr-${NEW}`]: { FrontendAddress: 'internal-Tempo-abc.elb.us-east-2.amazonaws.com:7233' } }));
    const zone = await createZone('example.com');
    const record = route53At({ zoneId: zone, name: 'temporal.example.com' });
    expect(await record.current()).toBeUndefined();
    const sim = servers();
    let r: { code: number; out: string; err: string };
    try {
      r = await cli(['--env', 'mr', '--to', NEW, '--execute', '--poll-seconds', '0.1', '--wait-timeout', '10', ...dbArgs(),
        '--outputs-file', outputs, '--route53-zone', zone, '--route53-record', 'temporal.example.com']);
      if (process.env.FAILOVER_PRINT) process.stdout.write(r.out);
    } finally {
      await sim.stop();
    }
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    expect(r.out).toMatch(/^done +fence-old-region +\d+\.\d s/m);
    expect(r.out).toMatch(/^done +wait-shards-owned .*4 of 4 shards owned by 1 live us-east-2 history hosts/m);
    expect(r.out).toContain('TEMPORAL_ADDRESS=internal-Tempo-abc.elb.us-east-2.amazonaws.com:7233');
    expect(r.out).toMatch(/^done +client-endpoint .*temporal\.example\.com -> internal-Tempo-abc\.elb\.us-east-2\.amazonaws\.com \(Route 53 change /m);
    expect(await record.current()).toBe('internal-Tempo-abc.elb.us-east-2.amazonaws.com');
    expect(r.out).toContain(`aws route53 change-resource-record-sets --hosted-zone-id ${zone} --change-batch '{"Comment":"Temporal failover to us-east-2","Changes":[{"Action":"UPSERT","ResourceRecordSet":{"Name":"temporal.example.com","Type":"CNAME","TTL":60,"ResourceRecords":[{"Value":"internal-Tempo-abc.elb.us-east-2.amazonaws.com"}]}}]}'`);
    // A second execute run: every step already done, the record included.
    const again = await cli(['--env', 'mr', '--to', NEW, '--execute', '--poll-seconds', '0.1', '--wait-timeout', '5', ...dbArgs(),
      '--outputs-file', outputs, '--route53-zone', zone, '--route53-record', 'temporal.example.com']);
    expect(again.out).toMatch(/^already +client-endpoint .*temporal\.example\.com already points to internal-Tempo-abc/m);
    // A zone that does not exist: the step fails with Route 53's answer, exit 1; the record is untouched.
    const noZone = await cli(['--env', 'mr', '--to', NEW, '--execute', '--poll-seconds', '0.1', '--wait-timeout', '5', ...dbArgs(),
      '--outputs-file', outputs, '--route53-zone', 'ZNOSUCHZONE1', '--route53-record', 'temporal.example.com']);
    expect(noZone.out).toMatch(/^failed +client-endpoint .*Route 53 NoSuchHostedZone/m);
    expect(noZone.code).toBe(1);
    expect(await record.current()).toBe('internal-Tempo-abc.elb.us-east-2.amazonaws.com');
    const json = await cli(['--env', 'mr', '--to', NEW, '--json', ...dbArgs()]);
    const doc = JSON.parse(json.out);
    expect(doc.steps.map((s: StepResult) => s.status)).toEqual(['already', 'already', 'already', 'already', 'planned']);
    expect(doc.steps.every((s: StepResult) => typeof s.ms === 'number')).toBe(true);
    expect(doc.endpointSwitch[0]).toMatch(/^clients: the FrontendAddress output of Temporal-mr-us-east-2/);
  });

  test('old Region unreachable: without --deny-old-region-vpc the fence fails and nothing else runs', async () => {
    await seedAws();
    await seedDb({ oldAgeMs: 60_000 });
    const before = await fleetOf(NEW).describe();
    const rs = await runFailover({ ...baseOptions, execute: true, waitTimeoutMs: 2_000 }, {
      oldFleet: fleetOf(OLD, `http://127.0.0.1:${closedPort}`), newFleet: fleetOf(NEW), database: new PgClusterDatabase({ connection: dbConnection() }),
    });
    expect(statuses(rs)).toEqual({ 'fence-old-region': 'failed', 'remove-stale-members': 'skipped', 'scale-new-region': 'skipped', 'wait-shards-owned': 'skipped', 'client-endpoint': 'skipped' });
    expect(rs[0].detail).toMatch(/Region us-east-1 cannot be reached: .*ECONNREFUSED.*run again with --deny-old-region-vpc/);
    expect(await fleetOf(NEW).describe()).toEqual(before);
  });

  test('old Region unreachable with --deny-old-region-vpc: fenced at the database (DSQL policy via a recording fake), then the failover completes', async () => {
    await seedAws();
    await seedDb({ oldAgeMs: 60_000 });
    // RECORDING FAKE of the DSQL control plane (moto 5.2.5 serves no cluster policies): the old
    // cluster's policy as the stack writes it (lib/security/temporal-auth.ts dsqlVpcOnlyPolicy).
    const { dsqlVpcOnlyPolicy } = await import('../../lib/security/temporal-auth');
    let policy = JSON.stringify(dsqlVpcOnlyPolicy('vpc-0old'));
    const calls: { name: string; input: Record<string, unknown> }[] = [];
    const fakeDsql = { send: async (cmd: { constructor: { name: string }; input: Record<string, unknown> }) => {
      calls.push({ name: cmd.constructor.name, input: cmd.input });
      if (cmd.constructor.name === 'GetClusterPolicyCommand') return { policy, policyVersion: String(calls.length) };
      policy = cmd.input.policy as string;
      return { policyVersion: String(calls.length) };
    } } as unknown as DSQLClient;
    const fence = new AwsDatabaseFence({ clientFor: () => fakeDsql, clusters: ARNS });
    const sim = servers();
    try {
      const deps = { oldFleet: fleetOf(OLD, `http://127.0.0.1:${closedPort}`), newFleet: fleetOf(NEW), database: new PgClusterDatabase({ connection: dbConnection() }), fence };
      const rs = await runFailover({ ...baseOptions, execute: true, denyOldRegion: true, waitTimeoutMs: 10_000 }, deps);
      expect(statuses(rs)).toEqual({ 'fence-old-region': 'skipped', 'deny-old-region': 'done', 'remove-stale-members': 'done', 'scale-new-region': 'done', 'wait-shards-owned': 'done', 'client-endpoint': 'skipped' });
      expect(rs[0].detail).toMatch(/cannot be reached.*fencing it at the database instead/);
      expect(calls.map((c) => c.name)).toEqual(['GetClusterPolicyCommand', 'PutClusterPolicyCommand']);
      expect(calls[1].input).toMatchObject({ identifier: ARNS[OLD], expectedPolicyVersion: '1' });
      expect(JSON.parse(policy).Statement.map((s: { Sid: string }) => s.Sid)).toEqual(['DenyConnectFromOutsideAnyVpc', 'DenyConnectFromOtherVpcs', fenceSid(OLD)]);
      const again = await runFailover({ ...baseOptions, execute: true, denyOldRegion: true, waitTimeoutMs: 5_000 }, deps);
      expect(statuses(again)['deny-old-region']).toBe('already');
      expect(calls.map((c) => c.name)).toEqual(['GetClusterPolicyCommand', 'PutClusterPolicyCommand', 'GetClusterPolicyCommand']);
      await deps.database.close();
    } finally {
      await sim.stop();
    }
  });

  test('wait timeout names the shards the new Region does not own', async () => {
    await seedAws();
    await seedDb({ oldAgeMs: 60_000 });
    const sim = servers({ skipShards: [2, 3] });
    try {
      const database = new PgClusterDatabase({ connection: dbConnection() });
      const rs = await runFailover({ ...baseOptions, execute: true, waitTimeoutMs: 1_000 }, { oldFleet: fleetOf(OLD), newFleet: fleetOf(NEW), database });
      expect(statuses(rs)['wait-shards-owned']).toBe('failed');
      expect(rs.find((s) => s.step === 'wait-shards-owned')!.detail).toMatch(/after 1 s 2 shards not owned by us-east-2: 2-3 \(shard 2: range_id 5 not above 5 \(not acquired since the fence\)/);
      await database.close();
    } finally {
      await sim.stop();
    }
  });

  test('an old-Region host still heartbeating after the fence fails step 2 and is not deleted', async () => {
    await seedAws();
    await seedDb({ oldAgeMs: 0 });
    const sim = servers({ oldHeartbeats: true });
    try {
      const database = new PgClusterDatabase({ connection: dbConnection() });
      const rs = await runFailover({ ...baseOptions, execute: true, waitTimeoutMs: 1_000 }, { oldFleet: fleetOf(OLD), newFleet: fleetOf(NEW), database });
      expect(statuses(rs)).toMatchObject({ 'fence-old-region': 'done', 'remove-stale-members': 'failed', 'scale-new-region': 'skipped' });
      expect(rs[1].detail).toMatch(/us-east-1 hosts still heartbeating: 10\.0\.1\.10:6934 .*the fence did not take/);
      expect((await dbState()).members.some((m) => m.rpc_address === OLD_HISTORY.host && m.role === 2)).toBe(true);
      await database.close();
    } finally {
      await sim.stop();
    }
  });

  test('deleting membership rows survives a DSQL conflict (40001 OC000, as when a host heartbeats at that moment): retried, rows gone', async () => {
    await seedDb({ oldAgeMs: 60_000 });
    const database = new PgClusterDatabase({ connection: dbConnection() });
    try {
      const rows = await database.listMembers();
      await dsql.failStatements('DELETE FROM cluster_membership', 'OC000', 1);
      expect(await database.deleteMembers(rows.map((m) => m.hostId))).toBe(4);
      expect(await database.listMembers()).toEqual([]);
      expect(await database.deleteMembers(rows.map((m) => m.hostId))).toBe(0);
    } finally {
      await dsql.clearFaults();
      await database.close();
    }
  });

  test.each([
    [[OLD], /--to = "us-east-1"; allowed: us-east-2\. us-east-1 is already the active Region/],
    [['eu-west-1'], /--to = "eu-west-1"; allowed: us-east-2 \(mr\.multiRegion\.regions is \["us-east-1", "us-east-2"\]\)/],
  ])('--to %j is refused with exit code 2', async ([to], message) => {
    const r = await cli(['--env', 'mr', '--to', to]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  test.each([
    [['--route53-zone', 'Z1'], /--route53-zone needs --route53-record/],
    [['--route53-record', 'temporal.example.com'], /--route53-record needs --route53-zone/],
    [['--route53-zone', 'Z1', '--route53-record', 'temporal.example.com'], /--route53-zone needs --outputs-file/],
    [['--route53-zone', 'not a zone', '--route53-record', 'temporal.example.com', '--outputs-file', 'OUTPUTS'], /route53 zoneId = "not a zone"; allowed: a hosted zone id/],
    [['--route53-zone', 'Z1', '--route53-record', 'bad name!', '--outputs-file', 'OUTPUTS'], /route53 record name = "bad name!"; allowed: a DNS name/],
  ])('Route 53 options %j are refused with exit code 2', async (args, message) => {
    const outputs = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'failover-')), 'outputs.json');
    fs.writeFileSync(outputs, JSON.stringify({ [`Temporal-mr-${NEW}`]: { FrontendAddress: 'nlb.example:7233' } }));
    const r = await cli(['--env', 'mr', '--to', NEW, ...args.map((a) => (a === 'OUTPUTS' ? outputs : a))]);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(2);
  });

  test('usage errors: an environment without multiRegion, overlapping CIDRs; the dsql-tool entry point dispatches', async () => {
    const noMr = await cli(['--env', 'dev', '--to', NEW]);
    expect(noMr).toMatchObject({ code: 2 });
    expect(noMr.err).toMatch(/--env = "dev": environment has no multiRegion section; allowed: an environment with multiRegion \(mr\)/);
    let err = '';
    const same = await failoverMain(['--env', 'x', '--to', NEW], () => undefined, (s) => { err += s; }, {
      environments: { x: { ...ENV, multiRegion: { ...ENV.multiRegion!, regionOverrides: {} } } },
    });
    expect(same).toBe(2);
    expect(err).toMatch(/x\.multiRegion\.regionOverrides\["us-east-2"\]\.network\.cidr = "10\.0\.0\.0\/16" overlaps us-east-1's "10\.0\.0\.0\/16"/);
    let out = '';
    expect(await main(['failover', '--help'], (s) => { out += s; }, () => undefined)).toBe(0);
    expect(out).toMatch(/^Usage: temporal-dsql-tool failover --to REGION/);
  });
});

describe('pure parts', () => {
  test('withFence adds the Deny once, keeps the stack\'s statements, replaces a changed one', () => {
    const base = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'DenyConnectFromOtherVpcs', Effect: 'Deny', Condition: { StringNotEquals: { 'aws:SourceVpc': 'vpc-1' } } }] });
    expect(vpcOfPolicy(base)).toBe('vpc-1');
    const a = withFence(base, OLD, 'vpc-1');
    expect(a.changed).toBe(true);
    expect(JSON.parse(a.policy).Statement[1]).toEqual({
      Sid: 'TemporalFailoverDenyVpcuseast1', Effect: 'Deny', Principal: { AWS: '*' }, Resource: '*',
      Action: ['dsql:DbConnect', 'dsql:DbConnectAdmin'], Condition: { StringEquals: { 'aws:SourceVpc': 'vpc-1' } },
    });
    expect(withFence(a.policy, OLD, 'vpc-1')).toEqual({ policy: a.policy, changed: false });
    const c = withFence(a.policy, OLD, 'vpc-2');
    expect(JSON.parse(c.policy).Statement).toHaveLength(2);
    expect(JSON.parse(withFence(undefined, OLD, 'vpc-1').policy).Statement).toHaveLength(1);
  });

  test('shard owner from upstream\'s blob, CIDR matching, shard id ranges', () => {
    expect(shardOwnerFromBlob(shardBlob(3, 9, '10.41.1.10:6934-7-x'), 'Proto3')).toBe('10.41.1.10:6934-7-x');
    expect(shardOwnerFromBlob(Buffer.from(Writer.create().uint32(8).int32(3).finish()), 'Proto3')).toBe('');
    expect(() => shardOwnerFromBlob(Buffer.alloc(0), 'Json')).toThrow(/only Proto3/);
    const m = cidrMatcher('10.0.0.0/16');
    const row = (a: string) => ({ hostId: 'h', rpcAddress: a, rpcPort: 1, role: 2, lastHeartbeat: new Date(), recordExpiry: new Date() });
    expect([m(row('10.0.255.1')), m(row('10.1.0.1')), m(row('::1'))]).toEqual([true, false, false]);
    expect(() => cidrMatcher('10.0.0.0')).toThrow(/oldRegionHosts = "10.0.0.0"; allowed: an IPv4 CIDR/);
    expect(compressIds([7, 1, 2, 3, 9])).toBe('1-3, 7, 9');
  });
});

// ---- reconcile-visibility: the command around bin/failover/visibility-reconcile.ts ----
// Its real run (RefreshWorkflowTasks through a real frontend, records back in OpenSearch) is in
// test/faults/multi-region.test.ts; here: the refusals, the dry run's count from the database, and a
// frontend that is down.
describe('reconcile-visibility', () => {
  const NS_A = '11111111-1111-4111-8111-111111111111';
  const NS_B = '22222222-2222-4222-8222-222222222222';
  const runIds = ['aaaaaaaa-0000-4000-8000-000000000001', 'aaaaaaaa-0000-4000-8000-000000000002', 'aaaaaaaa-0000-4000-8000-000000000003'];
  const reconcile = async (args: string[]) => {
    let out = '';
    let err = '';
    const code = await main(['reconcile-visibility', ...args], (s) => { out += s; }, (s) => { err += s; });
    return { code, out, err };
  };
  const withCreds = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    let out = '';
    let err = '';
    const { reconcileMain } = await import('../../bin/failover/reconcile-cli');
    const code = await reconcileMain(args, (s) => { out += s; }, (s) => { err += s; },
      { env, dsqlCredentials: { accessKeyId: adminCred().accessKeyId, secretAccessKey: adminCred().secretAccessKey } });
    return { code, out, err };
  };
  const dbArgsWithRegion = () => [...dbArgs(), '--region', dsql.region];

  beforeAll(async () => {
    for (const [i, ns] of [NS_A, NS_A, NS_B].entries()) {
      await db.query(`INSERT INTO executions (shard_id, namespace_id, workflow_id, run_id, next_event_id, last_write_version, data, data_encoding, state, state_encoding)
        VALUES ($1, $2, $3, $4, 1, 0, '\\x'::bytea, 'Proto3', '\\x'::bytea, 'Proto3')`, [i + 1, ns, `reconcile-${i}`, runIds[i]]);
    }
  });
  afterAll(async () => {
    await db?.query('DELETE FROM executions WHERE run_id = ANY($1::uuid[])', [runIds]);
  });

  test.each([
    [['--dsql-endpoint', 'x', '--region', 'r', '--plaintext'], '--frontend is required'],
    [['--frontend', 'host-without-port', '--dsql-endpoint', 'x', '--region', 'r', '--plaintext'], '--frontend = "host-without-port"; allowed: HOST:PORT'],
    [['--frontend', 'h:7233', '--dsql-endpoint', 'x', '--region', 'r'], 'one of --tls-ca FILE'],
    [['--frontend', 'h:7233', '--dsql-endpoint', 'x', '--region', 'r', '--plaintext', '--tls-ca', 'ca.pem'], '--plaintext and --tls-ca exclude each other'],
    [['--frontend', 'h:7233', '--dsql-endpoint', 'x', '--region', 'r', '--tls-ca', '/nonexistent/ca.pem'], '--tls-ca = "/nonexistent/ca.pem": ENOENT'],
    [['--frontend', 'h:7233', '--dsql-endpoint', 'x', '--region', 'r', '--plaintext', '--tls-cert', 'c.pem'], '--tls-cert and --tls-key go together'],
    [['--frontend', 'h:7233', '--dsql-endpoint', 'x', '--region', 'r', '--plaintext', '--namespace-id', 'default'], '--namespace-id = "default"; allowed: a namespace id (UUID), not its name'],
    [['--frontend', 'h:7233', '--dsql-endpoint', 'x', '--region', 'r', '--plaintext', '--concurrency', '0'], '--concurrency = "0"; allowed: an integer from 1 to 64'],
    [['--frontend', 'h:7233', '--dsql-endpoint', 'x', '--region', 'r', '--plaintext', '--token-env', 'NO_SUCH_TOKEN_VAR'], '--token-env = "NO_SUCH_TOKEN_VAR": that environment variable is empty or unset'],
  ])('refuses %j: exit 2 naming the option', async (args, message) => {
    const r = await reconcile(args);
    expect(r.err).toContain(message);
    expect(r.code).toBe(2);
  });

  test('dry run counts the executions from the database (all, or one namespace) and calls no frontend', async () => {
    // Port 1 on loopback: nothing listens, so a call would fail; the dry run makes none.
    const all = await withCreds(['--frontend', '127.0.0.1:1', '--plaintext', ...dbArgsWithRegion(), '--json']);
    expect(all.err).toBe('');
    expect(all.code).toBe(0);
    expect(JSON.parse(all.out).executions).toBeGreaterThanOrEqual(3);
    const one = await withCreds(['--frontend', '127.0.0.1:1', '--plaintext', ...dbArgsWithRegion(), '--namespace-id', NS_A]);
    expect(one.out).toContain('DRY RUN: 2 executions would be refreshed through 127.0.0.1:1');
    expect(one.code).toBe(0);
  });

  test('a frontend that is down: exit 1, every failed execution named, nothing changed in the database', async () => {
    const before = (await db.query('SELECT count(*)::int AS n FROM executions')).rows[0].n;
    const r = await withCreds(['--frontend', `127.0.0.1:${closedPort}`, '--plaintext', ...dbArgsWithRegion(), '--namespace-id', NS_B, '--execute', '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ execute: true, executions: 1, refreshed: 0 });
    expect(report.failures).toEqual([expect.objectContaining({ workflowId: 'reconcile-2', runId: runIds[2], error: expect.stringMatching(/UNAVAILABLE|ECONNREFUSED/) })]);
    expect((await db.query('SELECT count(*)::int AS n FROM executions')).rows[0].n).toBe(before);
  });
});
