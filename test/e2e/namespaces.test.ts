/**
 * The namespace custom resource's handler (lambda/namespaces) on the real local stack:
 * dsql-local, an OpenSearch node, our Temporal DSQL server. The handler is invoked as CloudFormation
 * would (Create, Update with OldResourceProperties, Delete) and connects with the stack's
 * `clientOptions` (which carry TLS and a token when the stack runs with them); every outcome is
 * checked twice, by the handler's report and by reading the namespace or attributes back from the
 * frontend. The Lambda entry point, bundled by esbuild as the construct bundles it, then runs
 * with only its properties: it reads the admin client's secret from Secrets Manager (moto, the
 * stand-in for AWS's API: the only mock here), gets a token from the stack's OpenID provider with the
 * client-credentials grant and dials the frontend over TLS with the CA from its properties. A worker
 * then runs a workflow that upserts the new attributes and a visibility query finds it by them.
 */
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { build } from 'esbuild';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyEvent, HandlerResponse } from '../../lambda/namespaces';
import { LocalStack, startLocalStack } from '../../local/stack';
import { MotoServer, startMoto } from '../support/moto';
import type { upsertOrderAttributes } from './namespace-workflows';

jest.setTimeout(3 * 60_000);

let stack: LocalStack;
let connection: Connection;
const logs: string[] = [];

/**
 * Each server role caches the search attribute list for 60 s (common/searchattribute/manager.go,
 * cacheRefreshInterval): on a deployed cluster a new attribute is accepted by upserts within a
 * minute of the deployment. This dynamic config key (meant for tests) makes every read go to the
 * database so the suite does not wait that minute.
 */
const FRESH_SEARCH_ATTRIBUTES = 'system.forceSearchAttributesCacheRefreshOnRead:\n  - value: true\n';

/** The namespace admin: a client-credentials client of the stack's OpenID provider. */
const ADMIN = { clientId: 'namespace-admin', clientSecret: randomBytes(18).toString('base64url') };
let moto: MotoServer;
let bundleDir: string;
let bundled: { handler: (e: CloudFormationCustomResourceEvent) => Promise<HandlerResponse> };

beforeAll(async () => {
  bundleDir = mkdtempSync(join(tmpdir(), 'temporal-namespaces-bundle-'));
  const [s, m] = await Promise.all([
    startLocalStack({
      ui: false,
      dynamicConfig: FRESH_SEARCH_ATTRIBUTES,
      oidc: { clients: [{ client_id: ADMIN.clientId, client_secret: ADMIN.clientSecret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }] },
    }),
    startMoto(),
    // The construct's bundling options (lib/namespaces/namespaces.ts): CJS, node24, minified, nothing external.
    build({
      entryPoints: [join(__dirname, '..', '..', 'lambda', 'namespaces', 'index.ts')],
      bundle: true, platform: 'node', format: 'cjs', target: 'node24', minify: true, outfile: join(bundleDir, 'index.js'), logLevel: 'error',
    }),
  ]);
  stack = s;
  moto = m;
  connection = await Connection.connect(stack.clientOptions);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  bundled = require(join(bundleDir, 'index.js'));
}, 10 * 60_000);

afterAll(async () => {
  await connection?.close();
  await stack?.stop();
  await moto?.stop();
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
}, 120_000);

const ns = (name: string, retentionDays: number, extra: Record<string, string> = {}) => ({
  Name: name, RetentionDays: String(retentionDays), Description: `${name} team`, Archival: 'false', OwnerEmail: `${name}@example.com`, ...extra,
});
const BASE = {
  ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider',
  FrontendAddress: 'frontend.temporal-test.internal:7233',
  Namespaces: [ns('orders', 3), ns('billing', 7)],
  SearchAttributes: [
    { Name: 'CustomerId', Type: 'Keyword', Namespace: 'orders' },
    { Name: 'OrderTotal', Type: 'Double', Namespace: 'orders' },
    { Name: 'InvoiceCount', Type: 'Int', Namespace: 'billing' },
  ],
};
type Props = typeof BASE;

function event(type: 'Create' | 'Update' | 'Delete', props: Props, old?: Props): CloudFormationCustomResourceEvent {
  const common = {
    ServiceToken: props.ServiceToken, ResponseURL: 'https://example.com', StackId: 'stack', RequestId: randomUUID(),
    LogicalResourceId: 'Namespaces', ResourceType: 'Custom::TemporalNamespaces', ResourceProperties: props,
  };
  if (type === 'Create') return { ...common, RequestType: 'Create' };
  if (type === 'Update') return { ...common, RequestType: 'Update', PhysicalResourceId: 'temporal-namespaces', OldResourceProperties: old ?? props };
  return { ...common, RequestType: 'Delete', PhysicalResourceId: 'temporal-namespaces' };
}

const apply = (e: CloudFormationCustomResourceEvent): Promise<HandlerResponse> =>
  applyEvent(e, { connection: stack.clientOptions, log: (m, f) => logs.push(`${m} ${JSON.stringify(f ?? {})}`) });

/**
 * Versions the server bumps on every namespace write (`namespace_metadata.notification_version`)
 * and every search attribute write (`cluster_metadata_info.version`), read straight from dsql-local.
 */
async function writeVersions(): Promise<string> {
  const db = await stack.dsql.connect();
  try {
    const ns = await db.query('SELECT notification_version FROM namespace_metadata');
    const cm = await db.query('SELECT version FROM cluster_metadata_info ORDER BY cluster_name');
    return JSON.stringify({ namespaces: ns.rows.map((r) => String(r.notification_version)), clusterMetadata: cm.rows.map((r) => String(r.version)) });
  } finally {
    await db.end();
  }
}

async function describe(name: string) {
  const r = await connection.workflowService.describeNamespace({ namespace: name });
  return {
    retentionDays: Number(r.config!.workflowExecutionRetentionTtl!.seconds) / 86_400,
    description: r.namespaceInfo!.description,
    ownerEmail: r.namespaceInfo!.ownerEmail,
  };
}

async function attributes(namespace: string): Promise<Record<string, number>> {
  const r = await connection.operatorService.listSearchAttributes({ namespace });
  return Object.fromEntries(Object.entries(r.customAttributes ?? {}).map(([k, v]) => [k, Number(v)]));
}

test('Create resumes a half-done run: registers what is missing and brings an existing namespace to its configuration', async () => {
  // As if an earlier, interrupted run had registered `orders` with another retention and stopped.
  await connection.workflowService.registerNamespace({ namespace: 'orders', workflowExecutionRetentionPeriod: msToTs('1 day') });
  const r = await apply(event('Create', BASE));
  expect(r.PhysicalResourceId).toBe('temporal-namespaces@frontend.temporal-test.internal:7233');
  expect(r.Data.ChangeLog).toContain('namespace orders: retention 1 d -> 3 d');
  expect(r.Data.ChangeLog).toContain('registered namespace billing (retention 7 d)');
  expect(r.Data.ChangeLog).toContain('namespace orders: added search attributes CustomerId (Keyword), OrderTotal (Double)');
  expect(r.Data.ChangeLog).toContain('namespace billing: added search attributes InvoiceCount (Int)');
  expect(Number(r.Data.Changes)).toBe(4);
  expect(await describe('orders')).toEqual({ retentionDays: 3, description: 'orders team', ownerEmail: 'orders@example.com' });
  expect(await describe('billing')).toEqual({ retentionDays: 7, description: 'billing team', ownerEmail: 'billing@example.com' });
  // IndexedValueType: Keyword 2, Double 4, Int 3.
  expect(await attributes('orders')).toMatchObject({ CustomerId: 2, OrderTotal: 4, InvoiceCount: 3 });
});

test('the same configuration again changes nothing (report and state), and how long that takes', async () => {
  const before = await connection.workflowService.describeNamespace({ namespace: 'orders' });
  const versions = await writeVersions();
  const t = Date.now();
  const r = await apply(event('Update', BASE, BASE));
  const ms = Date.now() - t;
  console.log(`namespace resource on an unchanged configuration (2 namespaces, 3 search attributes): ${ms} ms`);
  expect(r.Data).toEqual({ Changes: '0', ChangeLog: 'none', NamespacesLeft: '', SearchAttributesLeft: '' });
  const after = await connection.workflowService.describeNamespace({ namespace: 'orders' });
  expect(after.config).toEqual(before.config);
  // Every namespace or search attribute write bumps one of these: equal means nothing was written.
  expect(await writeVersions()).toBe(versions);
});

test('an Update with a changed retention changes only that', async () => {
  const next = { ...BASE, Namespaces: [ns('orders', 5), ns('billing', 7)] };
  const versions = JSON.parse(await writeVersions());
  const r = await apply(event('Update', next, BASE));
  expect(r.Data.ChangeLog).toBe('namespace orders: retention 3 d -> 5 d');
  expect(r.Data.Changes).toBe('1');
  expect((await describe('orders')).retentionDays).toBe(5);
  // One namespace write (one UpdateNamespace), no search attribute write.
  const after = JSON.parse(await writeVersions());
  expect(Number(after.namespaces[0])).toBe(Number(versions.namespaces[0]) + 1);
  expect(after.clusterMetadata).toEqual(versions.clusterMetadata);
});

test('a namespace removed from the configuration is reported and left on the cluster', async () => {
  const before = { ...BASE, Namespaces: [ns('orders', 5), ns('billing', 7)] };
  const next = { ...BASE, Namespaces: [ns('orders', 5)], SearchAttributes: BASE.SearchAttributes.slice(0, 2) };
  const r = await apply(event('Update', next, before));
  expect(r.Data).toMatchObject({ Changes: '0', NamespacesLeft: 'billing', SearchAttributesLeft: 'billing/InvoiceCount' });
  expect(await describe('billing')).toEqual({ retentionDays: 7, description: 'billing team', ownerEmail: 'billing@example.com' });
  expect((await attributes('billing')).InvoiceCount).toBe(3);
  expect(logs.some((l) => l.startsWith('no longer configured, left on the cluster') && l.includes('billing'))).toBe(true);
  const d = await apply(event('Delete', next));
  expect(d.Data.NamespacesLeft).toBe('orders');
  expect((await describe('orders')).retentionDays).toBe(5);
});

test('a type change of an existing search attribute is refused, naming the attribute, its type and the requested one', async () => {
  const next = {
    ...BASE,
    Namespaces: [ns('orders', 9)],
    SearchAttributes: [{ Name: 'CustomerId', Type: 'Int', Namespace: 'orders' }, { Name: 'Region', Type: 'Keyword', Namespace: 'orders' }],
  };
  await expect(apply(event('Update', next, BASE))).rejects.toThrow(
    'search attribute CustomerId (namespace orders) exists as Keyword, the configuration asks for Int. Temporal cannot change the type of a search attribute',
  );
  // Refused before any write: neither the retention nor the other attribute changed.
  expect((await describe('orders')).retentionDays).toBe(5);
  const live = await attributes('orders');
  expect(live.CustomerId).toBe(2);
  expect(live.Region).toBeUndefined();
});

test('search attributes for a namespace that neither exists nor is configured are refused by name', async () => {
  const next = { ...BASE, Namespaces: [ns('orders', 5)], SearchAttributes: [{ Name: 'Shipment', Type: 'Keyword', Namespace: 'nowhere' }] };
  await expect(apply(event('Update', next, next))).rejects.toThrow(
    'search attributes are configured for namespace nowhere, which does not exist on the cluster and is not in the configured namespaces',
  );
  expect((await attributes('orders')).Shipment).toBeUndefined();
});

test('the bundled Lambda entry point signs in with the client-credentials grant and dials the frontend over TLS from its properties alone', async () => {
  expect(stack.auth).toBeDefined(); // the suite runs the stack in authenticated mode
  const env = { ...process.env };
  process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = moto.endpoint;
  process.env.AWS_ACCESS_KEY_ID = moto.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = moto.credentials.secretAccessKey;
  try {
    const sm = new SecretsManagerClient({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials });
    const good = await sm.send(new CreateSecretCommand({ Name: 'temporal/namespace-admin', SecretString: JSON.stringify(ADMIN) }));
    const bad = await sm.send(new CreateSecretCommand({ Name: 'temporal/namespace-admin-old', SecretString: JSON.stringify({ ...ADMIN, clientSecret: 'rotated-away' }) }));
    const tls = stack.clientOptions.tls!;
    const props = (secretArn: string): Props & Record<string, unknown> => ({
      ...BASE,
      FrontendAddress: stack.temporalAddress,
      Namespaces: [ns('orders', 5)],
      SearchAttributes: BASE.SearchAttributes.slice(0, 2),
      Tls: { CaCertificatePem: tls.serverRootCACertificate!.toString(), ...(tls.serverNameOverride ? { ServerNameOverride: tls.serverNameOverride } : {}) },
      Auth: { TokenUrl: `${stack.auth!.oidc.issuer}/token`, ClientSecretArn: secretArn, Scope: 'temporal-system:admin', Resource: stack.auth!.oidc.audience },
    });
    const t = Date.now();
    const r = await bundled.handler(event('Update', props(good.ARN!), props(good.ARN!)));
    console.log(`bundled handler, unchanged configuration, secret + token + TLS connection included: ${Date.now() - t} ms`);
    expect(r.Data).toEqual({ Changes: '0', ChangeLog: 'none', NamespacesLeft: '', SearchAttributesLeft: '' });
    // A secret the issuer no longer accepts fails in words an operator can act on.
    await expect(bundled.handler(event('Update', props(bad.ARN!), props(bad.ARN!)))).rejects.toThrow(
      `the token endpoint ${stack.auth!.oidc.issuer}/token refused the namespace admin client namespace-admin: HTTP 401`,
    );
    // Without a token at all the frontend refuses: the run above did authenticate.
    const { Auth: _a, ...noAuth } = props(good.ARN!);
    await expect(bundled.handler(event('Update', noAuth as Props, noAuth as Props))).rejects.toThrow('the frontend refused the namespace admin\'s credentials');
  } finally {
    process.env = env;
  }
});

test('a workflow upserting the new search attributes is found by a visibility query on them', async () => {
  Runtime.install({ logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => console.error(m) } });
  const native = await NativeConnection.connect(stack.clientOptions);
  const worker = await Worker.create({
    connection: native, namespace: 'orders', taskQueue: 'namespaces', workflowsPath: require.resolve('./namespace-workflows'),
  });
  const run = worker.run();
  try {
    const client = new Client({ connection, namespace: 'orders' });
    const customer = `c-${randomUUID().slice(0, 8)}`;
    const workflowId = `upsert-${customer}`;
    const handle = await client.workflow.start<typeof upsertOrderAttributes>('upsertOrderAttributes', { taskQueue: 'namespaces', workflowId, args: [customer, 42.5] });
    const result = await Promise.race([
      handle.result(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('workflow did not complete within 60 s')), 60_000).unref()),
    ]);
    expect(result).toBe(`${customer}/42.5`);
    const query = `CustomerId = '${customer}' AND OrderTotal > 40`;
    const deadline = Date.now() + 30_000;
    let found: string[] = [];
    while (Date.now() < deadline) {
      found = [];
      for await (const w of client.workflow.list({ query })) found.push(w.workflowId);
      if (found.length > 0) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(found).toEqual([workflowId]);
    // The same query with another value finds nothing: the match is on the attribute, not luck.
    const none: string[] = [];
    for await (const w of client.workflow.list({ query: `CustomerId = '${customer}' AND OrderTotal > 50` })) none.push(w.workflowId);
    expect(none).toEqual([]);
  } finally {
    worker.shutdown();
    await run;
    await native.close();
  }
});
