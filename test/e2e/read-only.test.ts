/**
 * Read-only containers, proven locally (issue 24 item 4): the local stack's server (all four roles
 * in one process) and UI server run as their task definitions run them, with a read-only root
 * filesystem, only the writable paths lib/services/read-only.ts declares (the list the task
 * definitions mount) and the containers' non-root users, in bubblewrap (local/read-only.ts). The
 * server gets the task definition's TEMPORAL_DYNAMIC_CONFIG_FILE, so it writes its dynamic config
 * where the ECS task does. A workflow with an activity completes and the UI serves its page and
 * answers its API. The stack runs without TLS and authorization (TEMPORAL_TLS_DIR unset: the
 * image's default under the same directory, left empty here).
 *
 * The TLS start-up on its own: the server, read-only with the task definition's TEMPORAL_TLS_DIR,
 * fetches the two certificate secrets from Secrets Manager (moto, standing in for AWS's API: the
 * only mock here), writes the five PEM files and turns ringpop TLS on in its dynamic config, all
 * inside its one writable directory (backed by a directory of this machine, to be read afterwards),
 * then stops at the config check (the stack's config file names no certificate files).
 *
 * The bad day: the server with its path left out exits at start with a read-only-file-system error
 * naming the file.
 */
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { CONTAINER_USERS, SERVER_RUNTIME_DIR, SERVER_RUNTIME_ENV, SERVER_WRITABLE_PATHS, UI_WRITABLE_PATHS } from '../../lib/services/read-only';
import { createTlsDir } from '../../local/certs';
import { startProcess } from '../../local/process';
import { readOnlySandbox } from '../../local/read-only';
import { LocalStack, startLocalStack } from '../../local/stack';
import { MotoServer, startMoto } from '../support/moto';
import * as activities from './activities';
import { helloActivity } from './workflows';

const ROOT = resolve(__dirname, '..', '..');
const ARTIFACTS = join(ROOT, 'test-results', 'e2e-read-only');
const TASK_QUEUE = 'read-only';

/** The server's environment for its dynamic config: the task definition's (lib/services/read-only.ts). */
const SERVER_ENV = { TEMPORAL_DYNAMIC_CONFIG_FILE: SERVER_RUNTIME_ENV.TEMPORAL_DYNAMIC_CONFIG_FILE };

let stack: LocalStack;
let moto: MotoServer;

jest.setTimeout(3 * 60_000);

beforeAll(async () => {
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  Runtime.install({ logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => console.error(m) } });
  [stack, moto] = await Promise.all([
    startLocalStack({
      dir: join(ARTIFACTS, 'stack'),
      auth: false,
      serverEnv: SERVER_ENV,
      wrapServer: readOnlySandbox({ writable: SERVER_WRITABLE_PATHS, user: CONTAINER_USERS.server }),
      wrapUi: readOnlySandbox({ writable: UI_WRITABLE_PATHS, user: CONTAINER_USERS.ui }),
    }),
    startMoto({ logDir: ARTIFACTS }),
  ]);
}, 3 * 60_000);

afterAll(async () => {
  await Promise.all([stack?.stop(), moto?.stop()]);
});

/** The pid of the process bwrap runs (its only child) for the stack process named `name`. */
function sandboxed(name: string): number {
  const bwrap = stack.processes.find((p) => p.name === name)!.pid;
  const children = readFileSync(`/proc/${bwrap}/task/${bwrap}/children`, 'utf8').trim().split(/\s+/).map(Number);
  expect(children).toHaveLength(1);
  return children[0];
}

test('server and UI run read-only as their non-root users; a workflow completes; the UI serves its page and API', async () => {
  // The processes: the containers' users, root mounted read-only, the declared paths writable.
  for (const [name, user, writable] of [
    ['temporal-dsql-server', CONTAINER_USERS.server, SERVER_WRITABLE_PATHS],
    ['temporal-ui-server', CONTAINER_USERS.ui, UI_WRITABLE_PATHS],
  ] as const) {
    const pid = sandboxed(name);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(status)![1]).toBe(user.split(':')[0]);
    const mounts = readFileSync(`/proc/${pid}/mounts`, 'utf8').split('\n').map((l) => l.split(' '));
    expect(mounts.find((m) => m[1] === '/')![3].split(',')).toContain('ro');
    expect(mounts.filter((m) => m[3]?.split(',').includes('rw') && m[2] === 'tmpfs').map((m) => m[1]).filter((p) => p !== '/dev' && !p.startsWith('/dev/')))
      .toEqual(writable.map((w) => w.containerPath));
  }
  // The server wrote its dynamic config into its writable directory, seen from inside its mount namespace.
  expect(readdirSync(`/proc/${sandboxed('temporal-dsql-server')}/root${SERVER_RUNTIME_DIR}`)).toEqual(['dynamicconfig.yaml']);

  const workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('./workflows'), logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => console.error(m) } });
  const nativeConnection = await NativeConnection.connect(stack.clientOptions);
  const worker = await Worker.create({ connection: nativeConnection, namespace: stack.namespace, taskQueue: TASK_QUEUE, workflowBundle, activities });
  const connection = await Connection.connect(stack.clientOptions);
  try {
    const client = new Client({ connection, namespace: stack.namespace });
    const workflowId = `read-only-${randomUUID()}`;
    const result = await worker.runUntil(client.workflow.execute(helloActivity, { taskQueue: TASK_QUEUE, workflowId, args: ['read-only'] }));
    expect(result).toBe('Hello, read-only!');

    const page = await fetch(`${stack.uiUrl}/namespaces/${stack.namespace}/workflows/${workflowId}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const api = await fetch(`${stack.uiUrl}/api/v1/namespaces/${stack.namespace}/workflows/${workflowId}`);
    expect(api.status).toBe(200);
    const described = (await api.json()) as { workflowExecutionInfo?: { status?: string; execution?: { workflowId?: string } } };
    expect(described.workflowExecutionInfo?.execution?.workflowId).toBe(workflowId);
    expect(described.workflowExecutionInfo?.status).toBe('WORKFLOW_EXECUTION_STATUS_COMPLETED');
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
});

test('with its writable path left out, the server exits at start: read-only file system, naming the file', async () => {
  const member = stack.servers.member('all');
  const config = readFileSync(member.configFile, 'utf8');
  expect(config).toContain(SERVER_RUNTIME_ENV.TEMPORAL_DYNAMIC_CONFIG_FILE);
  const logFile = join(ARTIFACTS, 'server-without-writable-path.log');
  const proc = startProcess({
    name: 'temporal-server-no-writable-path',
    command: member.binary,
    args: ['--config-file', member.configFile, 'start'],
    env: { ...process.env, ...SERVER_ENV, TEMPORAL_ALLOW_PLAINTEXT: 'true', TEMPORAL_ALLOW_NO_AUTH: 'true', TEMPORAL_DYNAMIC_CONFIG: 'limit.maxIDLength:\n  - value: 255\n' },
    logFile,
    wrap: readOnlySandbox({ writable: [], user: CONTAINER_USERS.server }),
  });
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([proc.exited, new Promise((r) => { timer = setTimeout(() => r('still running after 20 s'), 20_000); })]);
  clearTimeout(timer);
  await proc.stop(1_000);
  expect(code).not.toBe(0);
  expect(code).not.toBe('still running after 20 s');
  expect(proc.logTail()).toMatch(new RegExp(`${SERVER_RUNTIME_ENV.TEMPORAL_DYNAMIC_CONFIG_FILE.replace(/\./g, '\\.')}.*read-only file system`));
  expect(existsSync(SERVER_RUNTIME_ENV.TEMPORAL_DYNAMIC_CONFIG_FILE)).toBe(false); // nothing leaked to this machine's /tmp
});

test('TLS at start: the certificate secrets are written, and ringpop TLS turned on, inside the one writable directory', async () => {
  // Two certificate secrets as the certificates function writes them (lib/security/certificates.ts).
  const tls = await createTlsDir(join(ARTIFACTS, 'tls-source'));
  const sm = new SecretsManagerClient({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials });
  const secret = async (name: string, pair: 'internode' | 'frontend') => (await sm.send(new CreateSecretCommand({
    Name: `temporal/${name}`,
    SecretString: JSON.stringify({ certificate: readFileSync(join(tls.dir, `${pair}.pem`), 'utf8'), privateKey: readFileSync(join(tls.dir, `${pair}.key`), 'utf8'), caBundle: tls.caPem.toString() }),
  }))).ARN!;
  const [internodeArn, frontendArn] = await Promise.all([secret('internode', 'internode'), secret('frontend', 'frontend')]);
  // The stack's config with its database address closed, should it get that far.
  const member = stack.servers.member('all');
  const config = parseYaml(readFileSync(member.configFile, 'utf8'));
  config.persistence.datastores.dsql.sql.connectAddr = config.persistence.datastores.dsql.sql.connectAddr.replace(/:\d+$/, ':1');
  const configFile = join(ARTIFACTS, 'tls-config.yaml');
  writeFileSync(configFile, stringifyYaml(config));
  const runtimeDir = join(ARTIFACTS, 'tls-runtime');
  mkdirSync(runtimeDir);
  const [uid, gid] = CONTAINER_USERS.server.split(':').map(Number);
  chownSync(runtimeDir, uid, gid);
  const proc = startProcess({
    name: 'temporal-server-tls',
    command: member.binary,
    args: ['--config-file', configFile, 'start'],
    env: {
      ...process.env, ...SERVER_RUNTIME_ENV,
      TEMPORAL_TLS_INTERNODE_SECRET_ARN: internodeArn, TEMPORAL_TLS_FRONTEND_SECRET_ARN: frontendArn,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.endpoint, AWS_REGION: moto.region, AWS_ACCESS_KEY_ID: moto.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: moto.credentials.secretAccessKey, AWS_EC2_METADATA_DISABLED: 'true',
      TEMPORAL_ALLOW_NO_AUTH: 'true', TEMPORAL_DYNAMIC_CONFIG: 'limit.maxIDLength:\n  - value: 255\n',
    },
    logFile: join(ARTIFACTS, 'server-tls.log'),
    wrap: readOnlySandbox({ writable: SERVER_WRITABLE_PATHS, user: CONTAINER_USERS.server, hostDirs: { [SERVER_RUNTIME_DIR]: runtimeDir } }),
  });
  // Its start-up steps done, it stops at the config check: this config file (the stack's, written
  // without TLS) names no certificate files, unlike the image's template with TEMPORAL_TLS_DIR.
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([proc.exited, new Promise((r) => { timer = setTimeout(() => r('still running after 20 s'), 20_000); })]);
  clearTimeout(timer);
  await proc.stop(1_000);
  expect(code).toBe(1);
  expect(proc.logTail()).toContain('refusing to start without TLS');
  expect(proc.logTail()).not.toMatch(/read-only file system/);
  expect(readFileSync(join(runtimeDir, 'dynamicconfig.yaml'), 'utf8')).toMatch(/^system\.enableRingpopTLS:\n  - value: true$/m);
  expect(readdirSync(join(runtimeDir, 'tls')).sort()).toEqual(['ca.pem', 'frontend.key', 'frontend.pem', 'internode.key', 'internode.pem']);
  for (const f of readdirSync(join(runtimeDir, 'tls'))) {
    const st = statSync(join(runtimeDir, 'tls', f));
    expect([f, st.uid, st.mode & 0o777]).toEqual([f, uid, 0o600]);
  }
  expect(readdirSync(runtimeDir).sort()).toEqual(['dynamicconfig.yaml', 'tls']);
});

test('the sandbox refuses a root or malformed user and a relative path, naming the value', () => {
  expect(() => readOnlySandbox({ writable: [], user: '0:0' })).toThrow("user must be 'uid:gid' with a non-zero uid, got '0:0'");
  expect(() => readOnlySandbox({ writable: [], user: 'nonroot' })).toThrow("got 'nonroot'");
  expect(() => readOnlySandbox({ writable: [{ volumeName: 'v', containerPath: 'tmp/x', what: '' }], user: '1:1' })).toThrow("writable path v must be absolute, got 'tmp/x'");
});
