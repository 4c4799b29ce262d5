/**
 * The local stack's authenticated mode on real parts (issue 14): a real OpenID provider
 * (oidc-provider) issues the JWTs, our server runs Temporal's default claim mapper and authorizer
 * with the provider's JWKS, the internal-frontend for the system worker, mutual TLS between roles
 * and TLS to the frontend with certificates made at start (openssl). Every client here is a real
 * SDK client or a real gRPC client; nothing is mocked.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createCa, FRONTEND_SERVER_NAME, INTERNODE_SERVER_NAME, issueCert } from '../../local/certs';
import { LocalOidcProvider, signJwt, startOidcProvider } from '../../local/oidc';
import { parse as parseYaml } from 'yaml';
import { BIN_DIR, ROOT } from '../../local/paths';
import { LocalStack, startLocalStack } from '../../local/stack';
import { startProcess } from '../../local/process';
import * as activities from './activities';

const ARTIFACTS = join(ROOT, 'test-results', 'e2e-auth');
/** gRPC status codes (grpc/status.h). */
const PERMISSION_DENIED = 7;

let stack: LocalStack;
const connections: Array<{ close(): Promise<void> }> = [];

jest.setTimeout(3 * 60_000);

beforeAll(async () => {
  Runtime.install({ logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => console.error(m) } });
  stack = await startLocalStack({ dir: join(ARTIFACTS, 'stack'), ui: false });
}, 20 * 60_000);

afterAll(async () => {
  for (const c of connections) await c.close().catch(() => undefined);
  await stack?.stop();
}, 120_000);

/** A client on `default` with the stack's CA and `token` (none: no authorization header). */
async function clientWith(token?: string): Promise<Client> {
  const connection = await Connection.connect(stack.auth!.clientOptions(stack.temporalAddress, token));
  connections.push(connection);
  return new Client({ connection, namespace: 'default' });
}

/** The message of the error `fn` fails with, its cause's included (throws when it succeeds). */
async function failureText(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    return `${(e as Error).message} / ${((e as { cause?: Error }).cause)?.message ?? ''}`;
  }
  throw new Error('the call succeeded');
}

/** The gRPC status code `fn` fails with (throws when it succeeds). */
async function failureCode(fn: () => Promise<unknown>): Promise<number | undefined> {
  try {
    await fn();
  } catch (e) {
    const err = e as { code?: number; cause?: { code?: number } };
    return err.code ?? err.cause?.code;
  }
  throw new Error('the call succeeded');
}

const list = (c: Client) => c.workflowService.listWorkflowExecutions({ namespace: 'default', pageSize: 1 });
const start = (c: Client) => c.workflow.start('helloActivity', { taskQueue: 'auth-none', workflowId: `auth-${randomUUID()}`, args: ['x'] });

test('the stack runs authenticated by default: the admin client options carry the CA and a bearer token', () => {
  expect(stack.auth).toBeDefined();
  expect(stack.clientOptions.tls?.serverRootCACertificate?.toString()).toContain('BEGIN CERTIFICATE');
  expect(stack.clientOptions.metadata?.authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
});

test('no token: PermissionDenied', async () => {
  const c = await clientWith(); // GetSystemInfo (the connect) needs no token
  expect(await failureCode(() => list(c))).toBe(PERMISSION_DENIED);
});

test('default:read lists but cannot start a workflow', async () => {
  const c = await clientWith(await stack.auth!.token(['default:read']));
  await expect(list(c)).resolves.toBeDefined();
  expect(await failureCode(() => start(c))).toBe(PERMISSION_DENIED);
});

test('default:write runs a workflow to completion with a worker on the same kind of token', async () => {
  const token = await stack.auth!.token(['default:write']);
  const c = await clientWith(token);
  const native = await NativeConnection.connect(stack.auth!.clientOptions(stack.temporalAddress, token));
  connections.push(native);
  const taskQueue = `auth-${randomUUID()}`;
  const worker = await Worker.create({ connection: native, namespace: 'default', taskQueue, workflowsPath: require.resolve('./workflows'), activities });
  const result = await worker.runUntil(
    c.workflow.execute('helloActivity', { taskQueue, workflowId: `auth-write-${randomUUID()}`, args: ['Auth'] }),
  );
  expect(result).toContain('Auth');
});

test('a token for another namespace is refused on default', async () => {
  const c = await clientWith(await stack.auth!.token(['payments:admin']));
  expect(await failureCode(() => list(c))).toBe(PERMISSION_DENIED);
});

test('a token signed by another key (same kid, admin claims) is refused', async () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const now = Math.floor(Date.now() / 1000);
  const forged = signJwt(privateKey, { kid: stack.auth!.oidc.keyId }, {
    iss: stack.auth!.oidc.issuer,
    aud: stack.auth!.oidc.audience,
    sub: 'mallory',
    iat: now,
    exp: now + 600,
    permissions: ['temporal-system:admin', 'default:admin'],
  });
  // A token that fails verification is refused on every call, GetSystemInfo (the connect) included.
  expect(await failureCode(async () => list(await clientWith(forged)))).toBe(PERMISSION_DENIED);
  // Control: the same claims from the provider's key pass.
  await expect(list(await clientWith(await stack.auth!.token(['default:admin'])))).resolves.toBeDefined();
});

describe('the token policy (docker/temporal-server/authz): issuer, audience and expiry of a validly signed token', () => {
  let other: LocalOidcProvider;
  beforeAll(async () => {
    // A second issuer that signs with the very same key: what a multi-tenant provider's shared keys
    // look like to the frontend. Its tokens verify against the stack's JWKS.
    other = await startOidcProvider({ dir: join(ARTIFACTS, 'other-issuer'), signingKey: stack.auth!.oidc.signingKey, audience: stack.auth!.oidc.audience });
  });
  afterAll(async () => other?.stop());

  /** One call of each kind a token opens: the connect, reads, writes and the operator API. */
  const everyApi: Array<[string, (c: Client) => Promise<unknown>]> = [
    ['ListWorkflowExecutions', list],
    ['DescribeNamespace', (c) => c.workflowService.describeNamespace({ namespace: 'default' })],
    ['StartWorkflowExecution', start],
    ['OperatorService.ListSearchAttributes', (c) => c.connection.operatorService.listSearchAttributes({ namespace: 'default' })],
  ];
  const admin = ['temporal-system:admin', 'default:admin'];
  const signed = (claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    const o = stack.auth!.oidc;
    return signJwt(o.signingKey.privateKey, { kid: o.keyId }, { iss: o.issuer, aud: o.audience, sub: 'mallory', iat: now, exp: now + 600, permissions: admin, ...claims });
  };
  async function expectDeniedEverywhere(token: string): Promise<void> {
    for (const [name, call] of everyApi) {
      expect([name, await failureCode(async () => call(await clientWith(token)))]).toEqual([name, PERMISSION_DENIED]);
    }
  }

  test('a token from another issuer, signed with the same key and carrying admin claims, is refused on every API', async () => {
    const token = await other.token(admin);
    expect(JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).iss).toBe(other.issuer);
    await expectDeniedEverywhere(token);
  });

  test('a token without the configured audience is refused on every API', async () => {
    await expectDeniedEverywhere(signed({ aud: 'urn:someone:else' }));
  });

  test('an expired token is refused on every API', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectDeniedEverywhere(signed({ iat: now - 3600, exp: now - 60 }));
  });

  test('control: the configured issuer and audience with the same claims pass every API', async () => {
    const c = await clientWith(signed({}));
    for (const [, call] of everyApi) await expect(call(c)).resolves.toBeDefined();
  });
});

test('a client that does not trust the stack CA cannot connect (TLS verification fails)', async () => {
  const token = { authorization: stack.clientOptions.metadata!.authorization };
  // The SDK client (system trust store only) never gets a connection...
  await expect(
    Connection.connect({ address: stack.temporalAddress, tls: { serverNameOverride: FRONTEND_SERVER_NAME }, metadata: token, connectTimeout: 2_000 }),
  ).rejects.toThrow();
  // ...and a raw gRPC client shows why: certificate verification. Control: with the stack CA it is SERVING.
  const service = 'temporal.api.workflowservice.v1.WorkflowService';
  expect(await healthCheck(stack.temporalAddress, grpc.credentials.createSsl(stack.auth!.tls.caPem), service, FRONTEND_SERVER_NAME)).toBe(1);
  const untrusted = await failureText(() => healthCheck(stack.temporalAddress, grpc.credentials.createSsl(), service, FRONTEND_SERVER_NAME));
  expect(untrusted).toMatch(/certificate/i);
  // Plaintext to the TLS port, with a valid token.
  const plaintext = await failureText(() => Connection.connect({ address: stack.temporalAddress, metadata: token, connectTimeout: 2_000 }));
  expect(plaintext).toMatch(/deadline|UNAVAILABLE/i);
  console.log(`no stack CA: ${untrusted}\nplaintext: ${plaintext}`);
});

/** grpc.health.v1.Health/Check over `creds` to `address`: the status number, or the gRPC error. */
function healthCheck(address: string, creds: grpc.ChannelCredentials, service: string, serverName = INTERNODE_SERVER_NAME): Promise<number> {
  const client = new grpc.Client(address, creds, { 'grpc.ssl_target_name_override': serverName });
  // HealthCheckRequest { string service = 1 } / HealthCheckResponse { ServingStatus status = 1 }.
  const encode = (s: string) => Buffer.concat([Buffer.from([0x0a, Buffer.byteLength(s)]), Buffer.from(s)]);
  const decode = (b: Buffer) => (b.length >= 2 && b[0] === 0x08 ? b[1] : 0);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest('/grpc.health.v1.Health/Check', encode, decode, service, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, status) => {
      client.close();
      if (err) reject(err);
      else resolve(status!);
    });
  });
}

/**
 * Opens a TLS connection to 127.0.0.1:`port` as an internode peer would: `open` when the handshake
 * completes and the server keeps the connection for 1.5 s, else the error (or `closed`).
 */
function tlsProbe(port: number, ca: Buffer, pair?: { cert: Buffer; key: Buffer }): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: INTERNODE_SERVER_NAME, ca, ...(pair ?? {}) });
    let timer: NodeJS.Timeout | undefined;
    const done = (r: string) => {
      if (timer) clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    socket.once('secureConnect', () => {
      timer = setTimeout(() => done('open'), 1_500);
    });
    socket.once('error', (e) => done(e.message));
    socket.once('close', () => done('closed'));
  });
}

test('internode is mutual TLS: a certificate from another CA cannot reach the history role; the stack one can', async () => {
  const member = stack.servers.members.find((m) => m.role === 'history' || m.role === 'all')!;
  const history = `127.0.0.1:${member.ports.history}`;
  const tlsDir = stack.auth!.tls;
  const service = 'temporal.api.workflowservice.v1.HistoryService';
  // Control: the stack's internode certificate gets an answer (SERVING = 1).
  const good = grpc.credentials.createSsl(tlsDir.caPem, tlsDir.internode.key, tlsDir.internode.cert);
  expect(await healthCheck(history, good, service)).toBe(1);
  // Same name and usages, issued by a CA the cluster does not trust.
  const rogueCa = await createCa(join(ARTIFACTS, 'rogue'), 'rogue-ca', 'Rogue CA');
  const rogue = await issueCert(rogueCa, join(ARTIFACTS, 'rogue'), 'internode', [`DNS:${INTERNODE_SERVER_NAME}`]);
  await expect(healthCheck(history, grpc.credentials.createSsl(tlsDir.caPem, rogue.key, rogue.cert), service)).rejects.toThrow();
  // No client certificate at all.
  await expect(healthCheck(history, grpc.credentials.createSsl(tlsDir.caPem), service)).rejects.toThrow();
  // The membership port (ringpop, system.enableRingpopTLS) takes the same certificates only.
  expect(await tlsProbe(member.ports.historyMembership, tlsDir.caPem, { cert: tlsDir.internode.cert, key: tlsDir.internode.key })).toBe('open');
  const rogueRingpop = await tlsProbe(member.ports.historyMembership, tlsDir.caPem, { cert: rogue.cert, key: rogue.key });
  const noCertRingpop = await tlsProbe(member.ports.historyMembership, tlsDir.caPem);
  console.log(`ringpop with a rogue certificate: ${rogueRingpop}; without one: ${noCertRingpop}`);
  expect(rogueRingpop).not.toBe('open');
  expect(noCertRingpop).not.toBe('open');
});

test('the samples take the token and the CA from the SDK environment configuration (TEMPORAL_API_KEY, TEMPORAL_TLS_SERVER_CA_CERT_PATH)', async () => {
  const env = {
    ...process.env,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    TEMPORAL_API_KEY: await stack.auth!.token(['default:write']),
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(stack.auth!.tls.dir, 'ca.pem'),
    TEMPORAL_TLS_SERVER_NAME: FRONTEND_SERVER_NAME,
    TEMPORAL_TASK_QUEUE: `sample-${randomUUID()}`,
  };
  const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
  const worker = startProcess({ name: 'sample-worker', command: tsx, args: [join(ROOT, 'samples', 'hello-activity', 'worker.ts')], env, logFile: join(ARTIFACTS, 'sample-worker.log') });
  try {
    const { stdout } = await promisify(execFile)(tsx, [join(ROOT, 'samples', 'hello-activity', 'client.ts'), 'Sample'], { env, timeout: 60_000 });
    expect(stdout).toMatch(/Hello, Sample/);
  } finally {
    await worker.stop(5_000);
  }
  // The same sample without the token is refused.
  const noToken: NodeJS.ProcessEnv = { ...env, TEMPORAL_TLS: 'true' };
  delete noToken.TEMPORAL_API_KEY;
  const denied = promisify(execFile)(tsx, [join(ROOT, 'samples', 'hello-activity', 'client.ts')], { env: noToken, timeout: 60_000 });
  await expect(denied).rejects.toMatchObject({ stderr: expect.stringMatching(/PERMISSION_DENIED|Request unauthorized/) });
});

/** GET https://127.0.0.1:`port``path` trusting `ca`, as frontend.temporal.internal: the status code. */
function httpsStatus(port: number, path: string, ca: Buffer, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, ca, servername: FRONTEND_SERVER_NAME, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test('the frontend HTTP API is TLS and goes through the same authorizer', async () => {
  const port = stack.servers.members.find((m) => m.role === 'frontend' || m.role === 'all')!.ports.frontendHttp;
  const path = '/api/v1/namespaces/default/workflows';
  const ca = stack.auth!.tls.caPem;
  expect(await httpsStatus(port, path, ca)).toBe(403);
  expect(await httpsStatus(port, path, ca, { authorization: `Bearer ${await stack.auth!.token(['default:read'])}` })).toBe(200);
  expect(await httpsStatus(port, path, ca, { authorization: `Bearer ${await stack.auth!.token(['payments:read'])}` })).toBe(403);
});

/** Serial number (hex) of the certificate the frontend presents on a new TLS connection. */
function frontendSerial(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: FRONTEND_SERVER_NAME, ca, ALPNProtocols: ['h2'] }, () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.destroy();
      resolve(serial);
    });
    socket.once('error', reject);
  });
}

test('a renewed frontend certificate in TEMPORAL_TLS_DIR is served without a restart', async () => {
  const tls = stack.auth!.tls;
  const port = Number(stack.temporalAddress.split(':')[1]);
  const before = await frontendSerial(port, tls.caPem);
  const renewedDir = join(ARTIFACTS, 'renewed');
  mkdirSync(renewedDir, { recursive: true });
  const renewed = await issueCert(tls.ca, renewedDir, 'frontend', [`DNS:${FRONTEND_SERVER_NAME}`, 'DNS:localhost', 'IP:127.0.0.1']);
  // Replace both files the way the server's own fetch does (write, then rename).
  for (const [name, content] of [['frontend.key', renewed.key], ['frontend.pem', renewed.cert]] as const) {
    writeFileSync(join(tls.dir, `${name}.new`), content, { mode: 0o600 });
    renameSync(join(tls.dir, `${name}.new`), join(tls.dir, name));
  }
  const deadline = Date.now() + 30_000;
  let now = before;
  while (now === before && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1_000));
    now = await frontendSerial(port, tls.caPem);
  }
  expect(now).not.toBe(before);
  // And an SDK client with the same CA still works on the new certificate.
  await expect(list(await clientWith(await stack.auth!.token(['default:read'])))).resolves.toBeDefined();
});

test('the container health check passes with TLS on for all five roles, internal-frontend included', async () => {
  const member = stack.servers.members[0];
  const config = parseYaml(readFileSync(member.configFile, 'utf8')) as { services: Record<string, { rpc: { grpcPort: number } }> };
  const port = (role: string) => String(config.services[role].rpc.grpcPort);
  const { stdout } = await promisify(execFile)(join(BIN_DIR, 'temporal-dsql-server'), ['healthcheck', '--timeout', '10s'], {
    env: {
      PATH: process.env.PATH,
      SERVICES: 'frontend,internal-frontend,history,matching,worker',
      TEMPORAL_TLS_DIR: stack.auth!.tls.dir,
      FRONTEND_GRPC_PORT: port('frontend'),
      INTERNAL_FRONTEND_GRPC_PORT: port('internal-frontend'),
      HISTORY_GRPC_PORT: port('history'),
      MATCHING_GRPC_PORT: port('matching'),
      WORKER_GRPC_PORT: port('worker'),
    },
  });
  for (const role of ['frontend', 'internal-frontend', 'history', 'matching', 'worker']) expect(stdout).toMatch(new RegExp(`^${role} 127\\.0\\.0\\.1:\\d+: SERVING$`, 'm'));
});
