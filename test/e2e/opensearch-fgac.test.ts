/**
 * Our real Temporal server writing and reading visibility as the server principal on OpenSearch with
 * fine-grained access control (issue 24 item 6), end to end: the secured node
 * (test/support/opensearch-secured.ts), the index job's handler as the IAM master user applying the
 * template, the index and the server's role mapping, then the local stack's server talking to the
 * node through a proxy that adds the server stand-in's credentials (SigV4 cannot be checked outside
 * AWS; the stand-in carries the server task role ARN as its backend role, as OpenSearch Service
 * presents a signed IAM role session).
 *
 * Long (server build and start, about a minute): runs with OPENSEARCH_FGAC_E2E=1
 * (`npm run test:fgac`); the short form in `npm test` is test/visibility/fgac.test.ts, which makes the
 * same calls the server's Elasticsearch client makes.
 */
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { handler } from '../../lambda/visibility/index';
import { PROPERTY } from '../../lambda/visibility/index/properties';
import { loadVisibilityTemplate } from '../../lib/visibility/visibility-index';
import { LOCAL_VISIBILITY_INDEX } from '../../local/paths';
import { LocalStack, startLocalStack } from '../../local/stack';
import { SecuredOpenSearch, startSecuredOpenSearch, StandIn } from '../support/opensearch-secured';
import { RecordingProxy, startRecordingProxy } from '../visibility/recording-proxy';

const RUN = process.env.OPENSEARCH_FGAC_E2E === '1';
const ARTIFACTS = join(resolve(__dirname, '..', '..'), 'test-results', 'e2e-opensearch-fgac');
const arn = (name: string) => `arn:aws:iam::111122223333:role/${name}`;
const MASTER: StandIn = { name: 'index-job', arn: arn('Temporal-prod-VisibilityIndexHandlerRole') };
const SERVER: StandIn = { name: 'server', arn: arn('Temporal-prod-TemporalServerTaskRole') };
const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

jest.setTimeout(6 * 60_000);

(RUN ? describe : describe.skip)('our Temporal server on OpenSearch with fine-grained access control, as the mapped server principal', () => {
  let os: SecuredOpenSearch;
  let masterProxy: RecordingProxy;
  let serverProxy: RecordingProxy;
  let stack: LocalStack;
  let connection: Connection;
  let client: Client;
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  beforeAll(async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    os = await startSecuredOpenSearch(MASTER, [SERVER]);
    masterProxy = await startRecordingProxy(os.url, { authorization: os.authorization(MASTER.name) });
    const t = loadVisibilityTemplate();
    const event = {
      RequestType: 'Create', RequestId: randomUUID(), ServiceToken: 'x', ResponseURL: '...', StackId: 'arn:aws:cloudformation:us-east-1:111122223333:stack/T/1',
      LogicalResourceId: 'VisibilityIndex', ResourceType: 'Custom::TemporalVisibilityIndex',
      ResourceProperties: {
        ServiceToken: 'x', [PROPERTY.endpoint]: masterProxy.url, [PROPERTY.region]: 'us-east-1', [PROPERTY.signing]: 'true',
        [PROPERTY.indexName]: LOCAL_VISIBILITY_INDEX, [PROPERTY.templateName]: t.name, [PROPERTY.templateVersion]: t.version,
        [PROPERTY.templateBody]: t.body, [PROPERTY.contentHash]: t.contentHash, [PROPERTY.disableAutoCreateIndex]: 'true',
        [PROPERTY.destroyIndexOnDelete]: 'false', [PROPERTY.fineGrainedAccessControl]: 'true', [PROPERTY.serverPrincipals]: [SERVER.arn],
        [PROPERTY.auditLogs]: 'true',
      },
    } as unknown as CloudFormationCustomResourceEvent;
    const r = await handler(event, { getRemainingTimeInMillis: () => 60_000 });
    expect(r.Data?.SecurityChanges).toContain('mapping temporal_visibility_server');
    serverProxy = await startRecordingProxy(os.url, { authorization: os.authorization(SERVER.name) });
    stack = await startLocalStack({ dir: join(ARTIFACTS, 'stack'), auth: false, ui: false, openSearch: { node: os, serverUrl: serverProxy.url } });
    connection = await Connection.connect(stack.clientOptions);
    client = new Client({ connection, namespace: stack.namespace });
  });

  afterAll(async () => {
    await connection?.close();
    await stack?.stop();
    await serverProxy?.close();
    await masterProxy?.close();
    await os?.stop();
    process.env.AWS_ACCESS_KEY_ID = saved.id;
    process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  });

  async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  const list = async (query: string) => {
    const out = [];
    for await (const w of client.workflow.list({ query })) out.push(w);
    return out;
  };

  test('the server writes, lists, counts, adds a search attribute and records a termination; OpenSearch answered none of its requests with 403', async () => {
    const id = `fgac-${randomUUID()}`;
    // No worker: the workflow stays Running, which is all visibility needs.
    const handle = await client.workflow.start('neverRuns', { taskQueue: 'fgac-no-worker', workflowId: id });
    const running = await eventually('listed as Running', async () => {
      const ws = await list(`WorkflowId = '${id}'`);
      return ws.length === 1 ? ws[0] : undefined;
    });
    expect(running.status.name).toBe('RUNNING');
    expect((await client.workflow.count(`WorkflowId = '${id}'`)).count).toBe(1);

    // A custom search attribute: PUT <index>/_mapping and _cluster/health/<index>?wait_for_status=yellow.
    await connection.operatorService.addSearchAttributes({ namespace: stack.namespace, searchAttributes: { FgacKeyword: KEYWORD } });
    const tagged = `fgac-tagged-${randomUUID()}`;
    // The frontend learns the new attribute when its search attribute cache refreshes.
    await eventually('start with the new search attribute', async () => {
      try {
        return await client.workflow.start('neverRuns', { taskQueue: 'fgac-no-worker', workflowId: tagged, searchAttributes: { FgacKeyword: ['blue'] } });
      } catch (e) {
        if (/no mapping defined for search attribute FgacKeyword/.test(String((e as Error & { cause?: unknown }).cause ?? e))) return undefined;
        throw e;
      }
    }, 90_000);
    await eventually('listed by the new search attribute', async () => ((await list(`FgacKeyword = 'blue' AND WorkflowId = '${tagged}'`)).length === 1 ? true : undefined));

    await handle.terminate('done');
    await eventually('listed as Terminated', async () => ((await list(`WorkflowId = '${id}' AND ExecutionStatus = 'Terminated'`)).length === 1 ? true : undefined));

    const seen = serverProxy.requests.map((r) => `${r.method} ${r.path.split('?')[0]} ${r.status}`);
    const denied = seen.filter((s) => / (401|403)$/.test(s));
    expect(denied).toEqual([]);
    const kinds = new Set(serverProxy.requests.map((r) => `${r.method} ${r.path.split('?')[0].replace(LOCAL_VISIBILITY_INDEX, '{index}')}`));
    for (const k of ['POST /_bulk', 'POST /{index}/_search', 'POST /{index}/_count', 'PUT /{index}/_mapping', 'GET /_cluster/health/{index}']) expect(kinds).toContain(k);
    console.log(`server requests through the proxy: ${serverProxy.requests.length}; kinds: ${[...kinds].sort().join(', ')}`);
  });
});
