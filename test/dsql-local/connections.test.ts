/**
 * dsql-local conformance, connections: TLS and SNI, IAM-token authentication, AWS IAM GRANT /
 * REVOKE role mappings, connection age and rate limits, and the fault-injection API.
 */
import { Client, Pool } from 'pg';
import { DsqlLocal, startDsqlLocal } from '../support/dsql-local';
import { expectSqlError } from './expect-sql';

let dsql: DsqlLocal;
const clients: Client[] = [];

async function connect(options: Parameters<DsqlLocal['connect']>[0] = {}): Promise<Client> {
  const c = await dsql.connect(options);
  clients.push(c);
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  dsql = await startDsqlLocal();
}, 300_000); // a cold `go build` of dsql-local compiles PostgreSQL's parser (cgo)

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  await dsql?.stop();
});

describe('TLS', () => {
  test('a connection without TLS is refused', async () => {
    const cfg = await dsql.clientConfig();
    const c = new Client({ ...cfg, ssl: false });
    await expectSqlError(c.connect(), '28000', 'TLS is required');
  });

  test('the certificate verifies against caFile for the hostname', async () => {
    const c = await connect();
    const r = await c.query('SELECT current_user AS u, current_database() AS d');
    expect(r.rows).toEqual([{ u: 'admin', d: 'postgres' }]);
  });

  test('a client that sends another server name (SNI) is refused', async () => {
    const cfg = await dsql.clientConfig();
    const c = new Client({ ...cfg, ssl: { ca: (cfg.ssl as { ca: string }).ca, servername: 'other.example.com', checkServerIdentity: () => undefined } });
    await expectSqlError(c.connect(), '08004', 'unknown endpoint');
  });
});

describe('pools', () => {
  test('poolConfig signs a fresh token for each new connection', async () => {
    const cfg = dsql.poolConfig();
    expect(typeof cfg.password).toBe('function');
    // Record what the pool sends as the password of each new connection.
    const sign = cfg.password as () => Promise<string>;
    const sent: string[] = [];
    const pool = new Pool({ ...cfg, password: async () => { const t = await sign(); sent.push(t); return t; } });
    const signedAt = (token: string) => new URL(`https://${token}`).searchParams.get('X-Amz-Date');
    try {
      const first = await pool.connect();
      // SigV4 dates have one-second resolution: a second later a freshly signed token differs.
      await sleep(1100);
      const second = await pool.connect(); // the first is checked out, so this is a new connection
      const pids = await Promise.all([first, second].map(async (c) => (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid));
      first.release();
      second.release();
      expect(new Set(pids).size).toBe(2);
      expect(sent).toHaveLength(2);
      expect(signedAt(sent[1])! > signedAt(sent[0])!).toBe(true);
    } finally {
      await pool.end();
    }
  });
});

describe('authentication', () => {
  test('database other than postgres is refused with 3D000', async () => {
    const c = new Client(await dsql.clientConfig({ database: 'other' }));
    await expectSqlError(c.connect(), '3D000');
  });

  test('a password that is not an IAM token is refused with 28P01', async () => {
    const c = new Client(await dsql.clientConfig({ password: 'hunter2' }));
    await expectSqlError(c.connect(), '28P01', 'password authentication failed for user "admin"');
  });

  test('a token with a tampered signature is refused', async () => {
    const token = await dsql.token();
    const tampered = token.replace(/X-Amz-Signature=([0-9a-f])/, (_m, ch: string) => `X-Amz-Signature=${ch === '0' ? '1' : '0'}`);
    expect(tampered).not.toBe(token);
    const c = new Client(await dsql.clientConfig({ password: tampered }));
    await expectSqlError(c.connect(), '28P01');
  });

  test('a token signed for another host is refused', async () => {
    const { DsqlSigner } = await import('@aws-sdk/dsql-signer');
    const admin = dsql.credentials.find((x) => x.admin)!;
    const token = await new DsqlSigner({
      hostname: 'abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws',
      region: dsql.region,
      credentials: { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey },
    }).getDbConnectAdminAuthToken();
    const c = new Client(await dsql.clientConfig({ password: token }));
    await expectSqlError(c.connect(), '28P01');
  });

  test('a token signed with an unknown secret is refused', async () => {
    const { DsqlSigner } = await import('@aws-sdk/dsql-signer');
    const admin = dsql.credentials.find((x) => x.admin)!;
    const token = await new DsqlSigner({
      hostname: dsql.hostname,
      region: dsql.region,
      credentials: { accessKeyId: admin.accessKeyId, secretAccessKey: 'not-the-secret' },
    }).getDbConnectAdminAuthToken();
    const c = new Client(await dsql.clientConfig({ password: token }));
    await expectSqlError(c.connect(), '28P01');
  });

  test('an expired token is refused', async () => {
    const token = await dsql.token({ expiresIn: 1 });
    await sleep(2100);
    const c = new Client(await dsql.clientConfig({ password: token }));
    await expectSqlError(c.connect(), '28P01');
  });

  test('admin needs a DbConnectAdmin token: a DbConnect token is refused', async () => {
    const dbConnectToken = await dsql.token({ user: 'someone', principal: 'admin' });
    expect(dbConnectToken).toContain('Action=DbConnect&');
    const c = new Client(await dsql.clientConfig({ password: dbConnectToken }));
    await expectSqlError(c.connect(), '28P01');
  });

  test('a principal without dsql:DbConnectAdmin cannot connect as admin', async () => {
    const c = new Client(await dsql.clientConfig({ principal: 'temporal-server' }));
    await expectSqlError(c.connect(), '28P01');
  });
});

describe('AWS IAM GRANT / REVOKE', () => {
  test('a custom role logs in only after AWS IAM GRANT, only for that principal, and not after REVOKE', async () => {
    const admin = await connect();
    await admin.query('CREATE ROLE app WITH LOGIN');
    await admin.query('GRANT USAGE ON SCHEMA public TO app');
    const server = dsql.principal('temporal-server');

    await expectSqlError(dsql.connect({ user: 'app', principal: 'temporal-server' }), '28P01');
    await admin.query(`AWS IAM GRANT app TO '${server}'`);

    const mappings = await admin.query('SELECT arn, pg_role_name, grantor_pg_role_name FROM sys.iam_pg_role_mappings');
    expect(mappings.rows).toEqual([{ arn: server, pg_role_name: 'app', grantor_pg_role_name: 'admin' }]);

    const app = await connect({ user: 'app', principal: 'temporal-server' });
    expect((await app.query('SELECT current_user AS u')).rows).toEqual([{ u: 'app' }]);
    await expectSqlError(dsql.connect({ user: 'app', principal: 'other' }), '28P01');

    await admin.query(`AWS IAM REVOKE app FROM '${server}'`);
    expect((await admin.query('SELECT count(*)::int AS n FROM sys.iam_pg_role_mappings')).rows[0].n).toBe(0);
    await expectSqlError(dsql.connect({ user: 'app', principal: 'temporal-server' }), '28P01');
    // The open connection outlives the revocation (the token is checked only at connect); its
    // next transaction fails once with OC001 because REVOKE changed the catalog.
    await expectSqlError(app.query('SELECT 1 AS ok'), '40001', '(OC001)');
    expect((await app.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });

  test('AWS IAM GRANT of an unknown role fails with 42704', async () => {
    const admin = await connect();
    await expectSqlError(admin.query(`AWS IAM GRANT nobody TO '${dsql.principal('other')}'`), '42704');
  });
});

describe('fault injection', () => {
  test('chosen statements fail with OC000 the given number of times', async () => {
    const c = await connect();
    await dsql.failStatements('^SELECT 42', 'OC000', 1);
    await expectSqlError(c.query('SELECT 42 AS v'), '40001', '(OC000)');
    expect((await c.query('SELECT 42 AS v')).rows).toEqual([{ v: 42 }]);
  });

  test('chosen statements fail with OC001 until cleared (extended protocol too)', async () => {
    const c = await connect();
    await dsql.failStatements('fault_target', 'OC001');
    await expectSqlError(c.query('SELECT $1::int AS fault_target', [1]), '40001', '(OC001)');
    await expectSqlError(c.query('SELECT 2 AS fault_target'), '40001', '(OC001)');
    await dsql.clearFaults();
    expect((await c.query('SELECT 3 AS fault_target')).rows).toEqual([{ fault_target: 3 }]);
  });

  test('a fraction of commits fails: with fraction 1 every COMMIT fails and nothing is committed', async () => {
    const c = await connect();
    await c.query('CREATE TABLE commits (id int PRIMARY KEY)');
    await dsql.failCommits(1, 'OC000');
    try {
      await c.query('BEGIN');
      await c.query('INSERT INTO commits VALUES (1)');
      await expectSqlError(c.query('COMMIT'), '40001', '(OC000)');
    } finally {
      await dsql.failCommits(0);
    }
    expect((await c.query('SELECT count(*)::int AS n FROM commits')).rows[0].n).toBe(0);
    await c.query('BEGIN');
    await c.query('INSERT INTO commits VALUES (1)');
    await c.query('COMMIT');
    expect((await c.query('SELECT count(*)::int AS n FROM commits')).rows[0].n).toBe(1);
  });

  test('injected commit failures also apply to a COMMIT sent over the extended protocol', async () => {
    const c = await connect();
    await c.query('CREATE TABLE commits_ext (id int PRIMARY KEY)');
    await dsql.failCommits(1, 'OC001');
    try {
      await c.query('BEGIN');
      await c.query('INSERT INTO commits_ext VALUES ($1)', [1]);
      await expectSqlError(c.query({ name: 'commit_stmt', text: 'COMMIT' }), '40001', '(OC001)');
    } finally {
      await dsql.failCommits(0);
    }
    // The transaction is over (rolled back): no ROLLBACK needed, prepared statements still work.
    expect((await c.query('SELECT count(*)::int AS n FROM commits_ext')).rows[0].n).toBe(0);
    await c.query('BEGIN');
    await c.query('INSERT INTO commits_ext VALUES ($1)', [2]);
    expect((await c.query({ name: 'commit_stmt', text: 'COMMIT' })).command).toBe('COMMIT');
    expect((await c.query({ text: 'SELECT id FROM commits_ext', values: [] })).rows).toEqual([{ id: 2 }]);
  });

  test('a fraction of 0.5 fails some commits and not others', async () => {
    const c = await connect();
    await dsql.failCommits(0.5, 'OC001');
    let failed = 0;
    try {
      for (let i = 0; i < 40; i++) {
        await c.query('BEGIN');
        await c.query('SELECT 1');
        try {
          await c.query('COMMIT');
        } catch (e) {
          expect((e as { code: string }).code).toBe('40001');
          failed++;
        }
      }
    } finally {
      await dsql.failCommits(0);
    }
    expect(failed).toBeGreaterThan(0);
    expect(failed).toBeLessThan(40);
  });

  test('dropped connections fail their next query', async () => {
    const c = await connect();
    const n = await dsql.dropConnections();
    expect(n).toBeGreaterThanOrEqual(1);
    await expect(c.query('SELECT 1')).rejects.toThrow();
  });

  test('new connections are refused for a while, then accepted again', async () => {
    // Ordering, not a fixed sleep: refused right after the fault is set, then retried until the
    // first success, which must come only once the window dsql-local reports has ended.
    await dsql.refuseConnections(5, 'error');
    const until = Date.parse(String((await dsql.state()).faults.refuseConnectionsUntil));
    await expectSqlError(dsql.connect(), '08006');
    let c: Client | undefined;
    const giveUp = Date.now() + 60_000;
    while (!c && Date.now() < giveUp) {
      const attempt = Date.now();
      c = await dsql.connect().catch((e: { code?: string }) => {
        expect(e.code).toBe('08006');
        return undefined;
      });
      if (c) {
        clients.push(c);
        expect(Date.now()).toBeGreaterThanOrEqual(until);
      } else {
        expect(attempt).toBeLessThan(until); // an attempt started after the window was refused
        await sleep(200);
      }
    }
    expect((await c!.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });

  test('refused connections in reset mode are closed before TLS', async () => {
    await dsql.refuseConnections(3, 'reset');
    try {
      const err = await dsql.connect().then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
      expect(err).toBeDefined();
      expect(err!.code ?? '').not.toMatch(/^[0-9A-Z]{5}$/); // a network error, not a SQLSTATE
    } finally {
      await dsql.refuseConnections(0);
    }
    const c = await connect();
    expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });

  test("refused connections in rate mode get DSQL's 53400 rate refusal", async () => {
    await dsql.refuseConnections(3, 'rate');
    try {
      await expectSqlError(dsql.connect(), '53400', 'rate exceeded');
    } finally {
      await dsql.refuseConnections(0);
    }
    const c = await connect();
    expect((await c.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
  });

  test('bad fault requests are rejected with a message naming the field', async () => {
    await expect(dsql.failCommits(2)).rejects.toThrow(/fraction must be between 0 and 1, got 2/);
    await expect(dsql.failStatements('(', 'OC000')).rejects.toThrow(/pattern/);
  });
});

describe('limits', () => {
  let limited: DsqlLocal;
  let small: DsqlLocal;
  afterAll(async () => {
    await limited?.stop();
    await small?.stop();
  });

  test('transaction age, bytes per transaction and open connections are limited; finished jobs are pruned', async () => {
    small = await startDsqlLocal({ txMaxAgeSeconds: 2, txByteLimit: 100_000, maxConns: 2, extraArgs: ['--job-retention=1s'] });
    const a = await small.connect();
    const b = await small.connect();
    try {
      await expectSqlError(small.connect(), '53300');
      await a.query('CREATE TABLE blobs (id int PRIMARY KEY, body text)');
      await expectSqlError(a.query("INSERT INTO blobs SELECT g, repeat('x', 1000) FROM generate_series(1, 200) g"), '54000', 'transaction size limit exceeded');
      await a.query("INSERT INTO blobs SELECT g, repeat('x', 1000) FROM generate_series(1, 50) g");
      await expectSqlError(b.query('SELECT 1'), '40001', '(OC001)'); // a's DDL
      await b.query('BEGIN');
      await b.query('SELECT count(*) FROM blobs');
      await sleep(2300);
      await expectSqlError(b.query('SELECT count(*) FROM blobs'), '54000', 'transaction age limit');
      expect((await b.query('ROLLBACK')).command).toBe('ROLLBACK');

      // Finished jobs are pruned from sys.jobs after --job-retention (DSQL: about 30 min).
      const jobId = (await a.query('CREATE INDEX ASYNC blobs_body ON blobs (body)')).rows[0].job_id as string;
      expect((await a.query(`CALL sys.wait_for_job('${jobId}')`)).rows).toEqual([{ succeeded: true }]);
      await sleep(2500);
      expect((await a.query('SELECT count(*)::int AS n FROM sys.jobs WHERE job_id = $1', [jobId])).rows[0].n).toBe(0);
    } finally {
      await a.end();
      await b.end();
    }
  });

  test('connections are closed at the maximum age; new connections beyond the rate get 53400', async () => {
    limited = await startDsqlLocal({ maxConnAgeSeconds: 3, connRate: 0.2, connBurst: 2 });
    const a = await limited.connect();
    const b = await limited.connect();
    await expectSqlError(limited.connect(), '53400', 'rate exceeded');
    expect((await a.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    await sleep(3300);
    await expect(a.query('SELECT 1')).rejects.toThrow();
    await expect(b.query('SELECT 1')).rejects.toThrow();
    await a.end().catch(() => undefined);
    await b.end().catch(() => undefined);
  });
});
