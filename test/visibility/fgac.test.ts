/**
 * Fine-grained access control as the index job sets it up (lambda/visibility/index/security.ts),
 * against a real OpenSearch 2.19 node with the security plugin (test/support/opensearch-secured.ts).
 *
 * The handler runs unchanged with Signing=true and fake AWS credentials; a loopback proxy records
 * that each request is SigV4-signed, then swaps the signature for the basic credentials of the
 * master's stand-in (an internal user whose backend role is the job's IAM role ARN, mapped to
 * all_access and security_manager as OpenSearch Service maps an IAM master user). The server, an
 * operator and a stranger are stand-ins of the same kind. What cannot be checked here: SigV4 itself
 * and OpenSearch Service's translation of a signed IAM role session into that backend role.
 */
import { randomUUID } from 'node:crypto';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { handler, HandlerResponse } from '../../lambda/visibility/index';
import { HANDLER_REQUESTS, PROPERTY } from '../../lambda/visibility/index/properties';
import { loadVisibilityTemplate, VISIBILITY_TEMPLATE_NAME } from '../../lib/visibility/visibility-index';
import { AUDIT_INDEX, SecuredOpenSearch, startSecuredOpenSearch, StandIn } from '../support/opensearch-secured';
import { RecordingProxy, startRecordingProxy } from './recording-proxy';

const ACCOUNT = '111122223333';
const arn = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const MASTER: StandIn = { name: 'index-job', arn: arn('Temporal-prod-VisibilityIndexHandlerRole') };
const SERVER: StandIn = { name: 'server', arn: arn('Temporal-prod-TemporalServerTaskRole') };
const OPERATOR: StandIn = { name: 'operator', arn: arn('platform-oncall') };
const STRANGER: StandIn = { name: 'stranger', arn: arn('some-other-workload') };
const INDEX = 'temporal_visibility_v1_fgac';
const shipped = loadVisibilityTemplate();

let os: SecuredOpenSearch;
let proxy: RecordingProxy;
const savedEnv: Record<string, string | undefined> = {};
const FAKE_CREDENTIALS = { AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };

beforeAll(async () => {
  for (const [k, v] of Object.entries(FAKE_CREDENTIALS)) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
  os = await startSecuredOpenSearch(MASTER, [SERVER, OPERATOR, STRANGER]);
  proxy = await startRecordingProxy(os.url, { authorization: os.authorization(MASTER.name) });
  console.log(`secured opensearch-local 2.19 started in ${os.startupMs} ms`);
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await os?.stop();
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

function properties(overrides: Record<string, unknown> = {}, endpoint = proxy.url): Record<string, unknown> {
  return {
    ServiceToken: 'arn:aws:lambda:us-east-1:111122223333:function:x',
    [PROPERTY.endpoint]: endpoint,
    [PROPERTY.region]: 'us-east-1',
    [PROPERTY.signing]: 'true',
    [PROPERTY.indexName]: INDEX,
    [PROPERTY.templateName]: VISIBILITY_TEMPLATE_NAME,
    [PROPERTY.templateVersion]: shipped.version,
    [PROPERTY.templateBody]: shipped.body,
    [PROPERTY.contentHash]: shipped.contentHash,
    [PROPERTY.disableAutoCreateIndex]: 'true',
    [PROPERTY.destroyIndexOnDelete]: 'false',
    [PROPERTY.fineGrainedAccessControl]: 'true',
    [PROPERTY.serverPrincipals]: [SERVER.arn],
    [PROPERTY.allAccessPrincipals]: [],
    [PROPERTY.readAllPrincipals]: [OPERATOR.arn],
    [PROPERTY.auditLogs]: 'true',
    ...overrides,
  };
}

const common = { ServiceToken: 'x', ResponseURL: '...', StackId: 'arn:aws:cloudformation:us-east-1:111122223333:stack/T/1', LogicalResourceId: 'VisibilityIndex', ResourceType: 'Custom::TemporalVisibilityIndex' };
const create = (props: Record<string, unknown>) => ({ ...common, RequestType: 'Create', RequestId: randomUUID(), ResourceProperties: props }) as unknown as CloudFormationCustomResourceEvent;
const update = (props: Record<string, unknown>, old: Record<string, unknown>) =>
  ({ ...common, RequestType: 'Update', RequestId: randomUUID(), PhysicalResourceId: `127.0.0.1/${INDEX}`, ResourceProperties: props, OldResourceProperties: old }) as unknown as CloudFormationCustomResourceEvent;
const invoke = (e: CloudFormationCustomResourceEvent): Promise<HandlerResponse> => handler(e, { getRemainingTimeInMillis: () => 60_000 });

/** A request as a stand-in (basic credentials), straight to the node. */
async function as(who: StandIn, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: any }> {
  const r = await fetch(`${os.url}${path}`, {
    method,
    headers: { authorization: os.authorization(who.name), ...(body === undefined ? {} : { 'content-type': contentType }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? (() => { try { return JSON.parse(text); } catch { return text; } })() : undefined };
}

/**
 * The requests Temporal server v1.31's visibility store makes (olivere/elastic v7 through upstream's
 * client_v7.go): bulk index and delete, search with sort and aggregation, count, get, get and put
 * mapping, and the cluster health wait after adding a search attribute.
 */
function temporalCalls(tag: string) {
  const bulk = [
    { index: { _index: INDEX, _id: `wf-${tag}~run-1`, version: 1, version_type: 'external' } },
    { NamespaceId: 'ns-1', WorkflowId: `wf-${tag}`, RunId: 'run-1', WorkflowType: 'hello', StartTime: '2026-12-05T20:00:00Z', ExecutionStatus: 'Running', TaskQueue: 'q', VisibilityTaskKey: '1~1' },
    { index: { _index: INDEX, _id: `wf-${tag}~run-2`, version: 1, version_type: 'external' } },
    { NamespaceId: 'ns-1', WorkflowId: `wf-${tag}`, RunId: 'run-2', WorkflowType: 'hello', StartTime: '2026-12-05T20:00:01Z', ExecutionStatus: 'Running', TaskQueue: 'q', VisibilityTaskKey: '1~2' },
    { delete: { _index: INDEX, _id: `wf-${tag}~run-2`, version: 2, version_type: 'external' } },
  ].map((l) => JSON.stringify(l)).join('\n') + '\n';
  return [
    { name: 'bulk index and delete', method: 'POST', path: '/_bulk?refresh=true', body: bulk, type: 'application/x-ndjson' },
    { name: 'search (list)', method: 'POST', path: `/${INDEX}/_search`, body: { query: { bool: { filter: [{ term: { NamespaceId: 'ns-1' } }] } }, sort: [{ CloseTime: 'desc' }, { StartTime: 'desc' }, { RunId: 'desc' }], size: 10, track_total_hits: false } },
    { name: 'count', method: 'POST', path: `/${INDEX}/_count`, body: { query: { term: { NamespaceId: 'ns-1' } } } },
    { name: 'count group by', method: 'POST', path: `/${INDEX}/_search`, body: { size: 0, track_total_hits: false, query: { term: { NamespaceId: 'ns-1' } }, aggs: { g: { terms: { field: 'ExecutionStatus' } } } } },
    { name: 'get document', method: 'GET', path: `/${INDEX}/_doc/wf-${tag}~run-1` },
    { name: 'get mapping', method: 'GET', path: `/${INDEX}/_mapping` },
    { name: 'put mapping (add search attribute)', method: 'PUT', path: `/${INDEX}/_mapping`, body: { properties: { [`CustomKeyword${tag}`]: { type: 'keyword' } } } },
    { name: 'wait for yellow', method: 'GET', path: `/_cluster/health/${INDEX}?wait_for_status=yellow&timeout=5s` },
  ];
}

const SIGNED = /^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\//;
let first: HandlerResponse;

describe('index job as the IAM master user of a domain with fine-grained access control', () => {
  test('before the job runs, the server principal is authenticated but may do nothing', async () => {
    const r = await as(SERVER, 'POST', `/${INDEX}/_search`, { query: { match_all: {} } });
    expect(r.status).toBe(403);
    expect(JSON.stringify(r.body)).toContain('no permissions for [indices:data/read/search]');
  });

  test('first run: template, index, server role and mapping, operator mapping, audit; every request SigV4-signed', async () => {
    first = await invoke(create(properties()));
    expect(first.Data?.IndexCreated).toBe('true');
    expect(first.Data?.SecurityChanges.split(',')).toEqual(['role temporal_visibility_server', 'mapping temporal_visibility_server', 'mapping readall', 'audit']);
    expect(proxy.requests.length).toBeGreaterThan(10);
    for (const r of proxy.requests) expect(String(r.headers.authorization)).toMatch(SIGNED);
    const mapping = await as(MASTER, 'GET', '/_plugins/_security/api/rolesmapping/temporal_visibility_server');
    expect(mapping.body.temporal_visibility_server).toMatchObject({ backend_roles: [SERVER.arn], users: [], hosts: [] });
  });

  test('(a) the server principal can make every call of Temporal\'s visibility store, on the visibility index', async () => {
    const results: Record<string, number> = {};
    for (const c of temporalCalls('a')) results[c.name] = (await as(SERVER, c.method, c.path, c.body, c.type)).status;
    expect(results).toEqual(Object.fromEntries(temporalCalls('a').map((c) => [c.name, 200])));
    const bulk = await as(SERVER, 'POST', '/_bulk', `${JSON.stringify({ index: { _index: INDEX, _id: 'x' } })}\n{"WorkflowId":"x"}\n`, 'application/x-ndjson');
    expect(bulk.body.errors).toBe(false);
    const doc = await as(SERVER, 'GET', `/${INDEX}/_doc/wf-a~run-1`);
    expect(doc.body._source.WorkflowId).toBe('wf-a');
  });

  test('(a) ... and nothing else: no index deletion, no other index, no cluster settings, no security API', async () => {
    expect((await as(MASTER, 'PUT', '/other_index')).status).toBe(200);
    const denied = [
      await as(SERVER, 'DELETE', `/${INDEX}`),
      await as(SERVER, 'PUT', '/other_index/_doc/1', { a: 1 }),
      await as(SERVER, 'POST', '/_bulk', `${JSON.stringify({ index: { _index: 'other_index', _id: '1' } })}\n{"a":1}\n`, 'application/x-ndjson'),
      await as(SERVER, 'PUT', '/_cluster/settings', { persistent: { 'action.auto_create_index': 'true' } }),
      await as(SERVER, 'POST', `/_template/${VISIBILITY_TEMPLATE_NAME}`, { index_patterns: ['x*'] }),
      await as(SERVER, 'GET', '/_plugins/_security/api/rolesmapping'),
    ];
    // A bulk request is admitted and its items refused one by one.
    expect(denied.map((r) => (r.status === 200 && r.body.errors ? r.body.items[0].index.status : r.status))).toEqual([403, 403, 403, 403, 403, 403]);
  });

  test('(b) an unmapped principal is denied every call the server makes', async () => {
    const statuses = [];
    for (const c of temporalCalls('b')) statuses.push((await as(STRANGER, c.method, c.path, c.body, c.type)).status);
    expect(statuses).toEqual(temporalCalls('b').map(() => 403));
  });

  test('the readall operator reads but cannot write', async () => {
    expect((await as(OPERATOR, 'POST', `/${INDEX}/_search`, { query: { match_all: {} } })).status).toBe(200);
    expect((await as(OPERATOR, 'PUT', `/${INDEX}/_doc/op`, { WorkflowId: 'op' })).status).toBe(403);
  });

  test('audit logging is on with the job\'s settings, and the stranger\'s denial is in the audit log', async () => {
    const audit = (await as(MASTER, 'GET', '/_plugins/_security/api/audit')).body.config;
    expect(audit).toMatchObject({ enabled: true, audit: { enable_rest: true, log_request_body: false, exclude_sensitive_headers: true }, compliance: { enabled: true, internal_config: true } });
    let hits: any[] = [];
    for (let i = 0; i < 50 && hits.length === 0; i++) {
      await as(MASTER, 'POST', `/${AUDIT_INDEX}/_refresh`);
      const r = await as(MASTER, 'POST', `/${AUDIT_INDEX}/_search`, { size: 5, query: { bool: { filter: [{ match: { audit_category: 'MISSING_PRIVILEGES' } }, { match: { audit_request_effective_user: STRANGER.name } }] } } });
      hits = r.body?.hits?.hits ?? [];
      if (hits.length === 0) await new Promise((res) => setTimeout(res, 200));
    }
    expect(hits.length).toBeGreaterThan(0);
  });

  test('(c) a second run changes nothing: no PUT to the security API, SecurityChanges empty', async () => {
    const from = proxy.requests.length;
    const before = await as(MASTER, 'GET', '/_plugins/_security/api/rolesmapping');
    const again = await invoke(update(properties(), properties()));
    expect(again.Data?.SecurityChanges).toBe('');
    expect(again.Data?.IndexCreated).toBe('false');
    expect(proxy.requests.slice(from).filter((r) => r.method !== 'GET' && r.method !== 'HEAD').map((r) => `${r.method} ${r.path}`))
      .toEqual(['PUT /_cluster/settings', `POST /_template/${VISIBILITY_TEMPLATE_NAME}`]);
    expect((await as(MASTER, 'GET', '/_plugins/_security/api/rolesmapping')).body).toEqual(before.body);
  });

  test('an operator removed from the configuration is taken out; the master user\'s own mappings stay', async () => {
    const r = await invoke(update(properties({ [PROPERTY.readAllPrincipals]: [], [PROPERTY.allAccessPrincipals]: [STRANGER.arn] }), properties()));
    expect(r.Data?.SecurityChanges).toBe('mapping all_access,mapping readall');
    expect((await as(OPERATOR, 'POST', `/${INDEX}/_search`, { query: { match_all: {} } })).status).toBe(403);
    const all = (await as(MASTER, 'GET', '/_plugins/_security/api/rolesmapping/all_access')).body.all_access.backend_roles;
    expect(all.sort()).toEqual([MASTER.arn, STRANGER.arn].sort());
    // And back: the stranger out of all_access again.
    await invoke(update(properties(), properties({ [PROPERTY.readAllPrincipals]: [], [PROPERTY.allAccessPrincipals]: [STRANGER.arn] })));
    expect((await as(MASTER, 'GET', '/_plugins/_security/api/rolesmapping/all_access')).body.all_access.backend_roles).toEqual([MASTER.arn]);
  });

  test('a job whose role is not the master user fails naming the request and the 403', async () => {
    const wrong = await startRecordingProxy(os.url, { authorization: os.authorization(STRANGER.name) });
    try {
      await expect(invoke(create(properties({}, wrong.url)))).rejects.toThrow(
        /^GET \/_plugins\/_security\/api\/roles\/temporal_visibility_server failed: HTTP 403 No permission to access REST API: User stranger .*With fine-grained access control, is it the master user\?\)$/,
      );
    } finally {
      await wrong.close();
    }
  });

  test('every request the handler made is in HANDLER_REQUESTS (its IAM and access policy statements), and every security request listed was made', () => {
    const seen = new Set(proxy.requests.map((r) => `${r.method} ${r.path.split('?')[0].replace(INDEX, '{index}').replace(VISIBILITY_TEMPLATE_NAME, '{template}')}`));
    const listed = HANDLER_REQUESTS.map((r) => `${r.method} ${r.path}`);
    expect([...seen].filter((x) => !listed.includes(x))).toEqual([]);
    const security = HANDLER_REQUESTS.filter((r) => r.when === 'fineGrainedAccessControl' || r.when === 'auditLogs').map((r) => `${r.method} ${r.path}`);
    expect(security.filter((x) => !seen.has(x))).toEqual([]);
  });
});
