/**
 * The visibility index custom resource handler against a real OpenSearch 2.19 node (started here),
 * invoked with CloudFormation event shapes. Requests go through a loopback recording proxy so the
 * tests can see that they are SigV4-signed (the node ignores signatures) and can inject the 429/503
 * answers a managed domain gives under load. The AWS credentials are static fakes: there is no AWS
 * here, and the node does not check them.
 */
import { randomUUID } from 'node:crypto';
import type {
  CloudFormationCustomResourceCreateEvent,
  CloudFormationCustomResourceDeleteEvent,
  CloudFormationCustomResourceEvent,
  CloudFormationCustomResourceUpdateEvent,
} from 'aws-lambda';
import { handler, HandlerResponse, MAX_REASON_CHARS } from '../../lambda/visibility/index';
import { HANDLER_REQUESTS, PROPERTY, templateContentHash } from '../../lambda/visibility/index/properties';
import { loadVisibilityTemplate, VISIBILITY_TEMPLATE_NAME } from '../../lib/visibility/visibility-index';
import { LocalOpenSearch, startOpenSearchLocal } from '../support/opensearch-local';
import { RecordingProxy, startRecordingProxy } from './recording-proxy';

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const STACK_ID = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/TemporalPlatform-test/3f1e2a40-0000-11ef-8000-0a1b2c3d4e5f`;
const SERVICE_TOKEN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:TemporalPlatform-test-VisibilityIndexProviderfram-AbCdEf123456`;
const FAKE_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  AWS_SESSION_TOKEN: 'FakeSessionTokenForLocalTests',
};

const shipped = loadVisibilityTemplate();
let os: LocalOpenSearch;
let proxy: RecordingProxy;
const savedEnv: Record<string, string | undefined> = {};
const timings: { name: string; ms: number }[] = [];

beforeAll(async () => {
  for (const [k, v] of Object.entries(FAKE_CREDENTIALS)) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
  os = await startOpenSearchLocal();
  proxy = await startRecordingProxy(os.url);
  console.log(`opensearch-local 2.19 started in ${os.startupMs} ms at ${os.url}`);
});

afterAll(async () => {
  await proxy?.close();
  await os?.stop();
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  if (timings.length) {
    console.log(`handler wall times (ms): ${timings.map((t) => `${t.name}=${t.ms}`).join(', ')}`);
  }
});

/** Direct, unsigned requests to the node for assertions. */
async function node<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const r = await fetch(`${os.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
}

function properties(indexName: string, overrides: Record<string, string> = {}, templateBody = shipped.body) {
  return {
    ServiceToken: SERVICE_TOKEN,
    [PROPERTY.endpoint]: proxy.url,
    [PROPERTY.region]: REGION,
    [PROPERTY.signing]: 'true',
    [PROPERTY.indexName]: indexName,
    [PROPERTY.templateName]: VISIBILITY_TEMPLATE_NAME,
    [PROPERTY.templateVersion]: shipped.version,
    [PROPERTY.templateBody]: templateBody,
    [PROPERTY.contentHash]: templateContentHash(templateBody),
    [PROPERTY.disableAutoCreateIndex]: 'true',
    [PROPERTY.destroyIndexOnDelete]: 'false',
    ...overrides,
  };
}

const common = {
  ServiceToken: SERVICE_TOKEN,
  // The Provider framework hides the pre-signed URL from the user handler.
  ResponseURL: '...',
  StackId: STACK_ID,
  LogicalResourceId: 'VisibilityIndex8A3B2C1D',
  ResourceType: 'Custom::TemporalVisibilityIndex',
};

function createEvent(props: Record<string, string>): CloudFormationCustomResourceCreateEvent {
  return { ...common, RequestType: 'Create', RequestId: randomUUID(), ResourceProperties: props as never };
}
function updateEvent(
  physicalId: string,
  props: Record<string, string>,
  oldProps: Record<string, string>,
): CloudFormationCustomResourceUpdateEvent {
  return {
    ...common,
    RequestType: 'Update',
    RequestId: randomUUID(),
    PhysicalResourceId: physicalId,
    ResourceProperties: props as never,
    OldResourceProperties: oldProps as never,
  };
}
function deleteEvent(physicalId: string, props: Record<string, string>): CloudFormationCustomResourceDeleteEvent {
  return { ...common, RequestType: 'Delete', RequestId: randomUUID(), PhysicalResourceId: physicalId, ResourceProperties: props as never };
}

/** Invokes the handler as the Provider framework would, with a Lambda-like remaining time; records wall time. */
async function invoke(name: string, event: CloudFormationCustomResourceEvent, remainingMs = 300_000): Promise<HandlerResponse> {
  const started = Date.now();
  const deadline = started + remainingMs;
  try {
    return await handler(event, { getRemainingTimeInMillis: () => deadline - Date.now() });
  } finally {
    timings.push({ name, ms: Date.now() - started });
  }
}

/** Flattens nested settings to dotted keys with string values, as OpenSearch's flat_settings does. */
function flatten(obj: Record<string, unknown>, prefix = ''): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (Array.isArray(v)) out[key] = v.map(String);
    else if (v !== null && typeof v === 'object') Object.assign(out, flatten(v as Record<string, unknown>, key));
    else out[key] = String(v);
  }
  return out;
}

function typeCounts(props: Record<string, { type: string }>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const f of Object.values(props)) counts[f.type] = (counts[f.type] ?? 0) + 1;
  return counts;
}

describe('Create', () => {
  const index = 'temporal_visibility_v1_test';
  let created: HandlerResponse;
  let requestsBefore: number;

  beforeAll(async () => {
    requestsBefore = proxy.requests.length;
    created = await invoke('create', createEvent(properties(index)));
  });

  test('returns the physical id (endpoint host / index) and data', () => {
    expect(created.PhysicalResourceId).toBe(`${new URL(proxy.url).host}/${index}`);
    expect(created.Data).toEqual({
      IndexName: index,
      TemplateName: VISIBILITY_TEMPLATE_NAME,
      TemplateVersion: 'v14',
      IndexCreated: 'true',
      FieldsAdded: '0',
      SecurityChanges: '',
    });
  });

  test('the stored template equals ours', async () => {
    const { status, body } = await node('GET', `/_template/${VISIBILITY_TEMPLATE_NAME}`);
    expect(status).toBe(200);
    const stored = body[VISIBILITY_TEMPLATE_NAME];
    const ours = shipped.template;
    expect(stored.order).toBe(ours.order);
    expect(stored.index_patterns).toEqual(ours.index_patterns);
    expect(stored.mappings).toEqual(ours.mappings);
    expect(flatten(stored.settings)).toEqual(flatten(ours.settings as Record<string, unknown>));
    expect(stored.aliases).toEqual({});
  });

  test('the index mapping has all 49 fields with the template types', async () => {
    const { body } = await node('GET', `/${index}/_mapping`);
    const mappings = body[index].mappings;
    expect(mappings.dynamic).toBe('false');
    expect(Object.keys(mappings.properties)).toHaveLength(49);
    expect(mappings.properties).toEqual(shipped.template.mappings.properties);
    expect(typeCounts(mappings.properties)).toEqual({ keyword: 30, long: 8, date_nanos: 6, boolean: 3, scaled_float: 2 });
    expect(mappings.properties.TemporalDouble01).toEqual({ type: 'scaled_float', scaling_factor: 10000 });
    expect(mappings.properties.TemporalDouble02).toEqual({ type: 'scaled_float', scaling_factor: 10000 });
    expect(mappings.properties.CloseTime).toEqual({ type: 'date_nanos' });
  });

  test('the index sort settings are present', async () => {
    const { body } = await node('GET', `/${index}/_settings?flat_settings=true`);
    const s = body[index].settings;
    expect(s['index.sort.field']).toEqual(['CloseTime', 'StartTime', 'RunId']);
    expect(s['index.sort.order']).toEqual(['desc', 'desc', 'desc']);
    expect(s['index.sort.missing']).toEqual(['_first', '_first', '_first']);
    expect(s['index.number_of_shards']).toBe('1');
    expect(s['index.search.idle.after']).toBe('365d');
  });

  test('action.auto_create_index is false (flat key), and documents are sorted as Temporal expects', async () => {
    const { body } = await node('GET', '/_cluster/settings?flat_settings=true');
    expect(body.persistent['action.auto_create_index']).toBe('false');
    // An index that does not exist is not auto-created by a write any more.
    const write = await node('PUT', '/temporal_visibility_v1_typo/_doc/1', { WorkflowId: 'x' });
    expect(write.status).toBe(404);
    expect((await node('HEAD', '/temporal_visibility_v1_typo')).status).toBe(404);
  });

  test('requests were SigV4-signed for service es with the session token', () => {
    const mine = proxy.requests.slice(requestsBefore);
    expect(mine.map((r) => `${r.method} ${r.path.split('?')[0]}`)).toEqual([
      'PUT /_cluster/settings',
      `POST /_template/${VISIBILITY_TEMPLATE_NAME}`,
      `HEAD /${index}`,
      `PUT /${index}`,
      `GET /${index}/_settings`,
      `GET /${index}/_mapping`,
    ]);
    for (const r of mine) {
      expect(r.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/us-east-1\/es\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
      );
      expect(r.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
      expect(r.headers['x-amz-security-token']).toBe(FAKE_CREDENTIALS.AWS_SESSION_TOKEN);
      expect(r.headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  test('Create again is a no-op on the index', async () => {
    const before = await node('GET', `/${index}/_settings?flat_settings=true`);
    const mappingBefore = await node('GET', `/${index}/_mapping`);
    const again = await invoke('create-again', createEvent(properties(index)));
    expect(again.PhysicalResourceId).toBe(created.PhysicalResourceId);
    expect(again.Data).toMatchObject({ IndexCreated: 'false', FieldsAdded: '0' });
    const after = await node('GET', `/${index}/_settings?flat_settings=true`);
    expect(after.body[index].settings['index.uuid']).toBe(before.body[index].settings['index.uuid']);
    expect(after.body[index].settings['index.creation_date']).toBe(before.body[index].settings['index.creation_date']);
    expect((await node('GET', `/${index}/_mapping`)).body).toEqual(mappingBefore.body);
  });

  test('wall time of a no-op Create against the same requests sent raw (measured, not asserted)', async () => {
    // Baseline: the six requests a no-op Create makes, unsigned and straight to the node.
    const raw = async () => {
      const started = performance.now();
      const statuses = [
        (await node('PUT', '/_cluster/settings', { persistent: { 'action.auto_create_index': 'false' } })).status,
        (await node('PUT', `/_template/${VISIBILITY_TEMPLATE_NAME}`, shipped.template)).status,
        (await node('HEAD', `/${index}`)).status,
        (await node('GET', `/${index}/_settings?flat_settings=true`)).status,
        (await node('GET', `/${index}/_mapping`)).status,
      ];
      expect(statuses).toEqual([200, 200, 200, 200, 200]);
      return performance.now() - started;
    };
    const viaHandler = async () => {
      const started = performance.now();
      const res = await handler(createEvent(properties(index)), { getRemainingTimeInMillis: () => 300_000 });
      expect(res.Data).toMatchObject({ IndexCreated: 'false', FieldsAdded: '0' });
      return performance.now() - started;
    };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const rawMs: number[] = [];
    const handlerMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      rawMs.push(await raw());
      handlerMs.push(await viaHandler());
    }
    const r = median(rawMs);
    const h = median(handlerMs);
    console.log(
      `no-op Create: handler ${h.toFixed(0)} ms vs raw requests ${r.toFixed(0)} ms (median of 5; ratio ${(h / r).toFixed(2)})`,
    );
  });

  test('Update with a new template field adds it to the live mapping and keeps server-added fields', async () => {
    // A custom search attribute, added the way the Temporal server adds one.
    expect((await node('PUT', `/${index}/_mapping`, { properties: { CustomerTier: { type: 'keyword' } } })).status).toBe(200);
    const next = JSON.parse(shipped.body);
    next.mappings.properties.TemporalTestAddedField = { type: 'long' };
    next.mappings.properties.TemporalTestAddedDouble = { type: 'scaled_float', scaling_factor: 10000 };
    const newBody = JSON.stringify(next);
    const oldProps = properties(index);
    const newProps = properties(index, { [PROPERTY.templateVersion]: 'v15' }, newBody);
    const updated = await invoke('update-add-fields', updateEvent(created.PhysicalResourceId, newProps, oldProps));
    expect(updated.PhysicalResourceId).toBe(created.PhysicalResourceId);
    expect(updated.Data).toMatchObject({ IndexCreated: 'false', FieldsAdded: '2', TemplateVersion: 'v15' });
    const props = (await node('GET', `/${index}/_mapping`)).body[index].mappings.properties;
    expect(props.TemporalTestAddedField).toEqual({ type: 'long' });
    expect(props.TemporalTestAddedDouble).toEqual({ type: 'scaled_float', scaling_factor: 10000 });
    expect(props.CustomerTier).toEqual({ type: 'keyword' });
    expect(Object.keys(props)).toHaveLength(52);
    const stored = (await node('GET', `/_template/${VISIBILITY_TEMPLATE_NAME}`)).body[VISIBILITY_TEMPLATE_NAME];
    expect(stored.mappings.properties.TemporalTestAddedField).toEqual({ type: 'long' });
    // Back to the shipped template for the tests that follow (fields stay in the index: mappings only grow).
    await invoke('update-back', updateEvent(created.PhysicalResourceId, oldProps, newProps));
    const restored = (await node('GET', `/_template/${VISIBILITY_TEMPLATE_NAME}`)).body[VISIBILITY_TEMPLATE_NAME];
    expect(restored.mappings).toEqual(shipped.template.mappings);
  });

  test('Delete keeps the index and its documents', async () => {
    const doc = { WorkflowId: 'wf-1', RunId: 'run-1', StartTime: '2026-11-22T01:00:00.123456789Z', ExecutionStatus: 'Running' };
    expect((await node('PUT', `/${index}/_doc/wf-1?refresh=true`, doc)).status).toBe(201);
    const res = await invoke('delete-keep', deleteEvent(created.PhysicalResourceId, properties(index)));
    expect(res.PhysicalResourceId).toBe(created.PhysicalResourceId);
    expect((await node('HEAD', `/${index}`)).status).toBe(200);
    expect((await node('GET', `/${index}/_count`)).body.count).toBe(1);
    expect((await node('HEAD', `/_template/${VISIBILITY_TEMPLATE_NAME}`)).status).toBe(200);
  });
});

describe('Delete with DestroyIndexOnDelete=true', () => {
  const index = 'temporal_visibility_v1_destroy';
  const destroy = () => properties(index, { [PROPERTY.destroyIndexOnDelete]: 'true' });

  test('deletes the index it manages, keeps the template', async () => {
    const created = await invoke('create-destroyable', createEvent(destroy()));
    expect((await node('HEAD', `/${index}`)).status).toBe(200);
    await invoke('delete-destroy', deleteEvent(created.PhysicalResourceId, destroy()));
    expect((await node('HEAD', `/${index}`)).status).toBe(404);
    expect((await node('HEAD', `/_template/${VISIBILITY_TEMPLATE_NAME}`)).status).toBe(200);
    // A repeated Delete (CloudFormation retries) succeeds.
    await invoke('delete-destroy-again', deleteEvent(created.PhysicalResourceId, destroy()));
  });

  test('keeps an index whose physical id does not match the properties', async () => {
    const created = await invoke('create-destroyable-2', createEvent(destroy()));
    await invoke('delete-foreign-id', deleteEvent('some-other-host/temporal_visibility_v1_destroy', destroy()));
    expect((await node('HEAD', `/${index}`)).status).toBe(200);
    await invoke('delete-destroy-2', deleteEvent(created.PhysicalResourceId, destroy()));
    expect((await node('HEAD', `/${index}`)).status).toBe(404);
  });
});

describe('an existing index that was not created from the template', () => {
  test('an index created before the template is detected and reported', async () => {
    const index = 'temporal_visibility_v1_early';
    // What happens when a server (or auto_create_index) writes before the template exists.
    expect((await node('DELETE', `/_template/${VISIBILITY_TEMPLATE_NAME}`)).status).toBe(200);
    expect((await node('PUT', `/${index}`, { mappings: { properties: { WorkflowId: { type: 'keyword' } } } })).status).toBe(200);
    let error: Error | undefined;
    try {
      await invoke('create-on-early-index', createEvent(properties(index)));
    } catch (e) {
      error = e as Error;
    }
    expect(error).toBeDefined();
    expect(error!.message).toBe(
      `index ${index} exists but was not created from template ${VISIBILITY_TEMPLATE_NAME}: it has no index sort, ` +
        'want [CloseTime, StartTime, RunId]. The sort can only be set when an index is created: ' +
        'delete the index (or choose a new IndexName), then redeploy.',
    );
    expect(error!.message.length).toBeLessThanOrEqual(MAX_REASON_CHARS);
    // No stack frames: the Provider framework copies the trace into CloudFormation's reason.
    expect(error!.stack).not.toMatch(/\n\s+at /);
    // The template was still put first, and the index was left untouched.
    expect((await node('HEAD', `/_template/${VISIBILITY_TEMPLATE_NAME}`)).status).toBe(200);
    expect(Object.keys((await node('GET', `/${index}/_mapping`)).body[index].mappings.properties)).toEqual(['WorkflowId']);
  });

  test('fields with other types are reported by name', async () => {
    const index = 'temporal_visibility_v1_conflict';
    const tpl = JSON.parse(shipped.body);
    tpl.mappings.properties.HistoryLength = { type: 'keyword' };
    tpl.mappings.properties.TemporalDouble01 = { type: 'scaled_float', scaling_factor: 100 };
    delete tpl.mappings._meta;
    expect((await node('PUT', `/${index}`, { settings: tpl.settings, mappings: tpl.mappings })).status).toBe(200);
    await expect(invoke('create-on-conflicting-index', createEvent(properties(index)))).rejects.toThrow(
      `index ${index} has 2 field(s) with types other than template ${VISIBILITY_TEMPLATE_NAME} v14: ` +
        'HistoryLength is keyword, want long, TemporalDouble01 is scaled_float(100), want scaled_float(10000). ' +
        'Field types cannot change in place: reindex into a new IndexName.',
    );
  });
});

describe('retries', () => {
  const index = 'temporal_visibility_v1_retry';

  test('429 and 5xx answers are retried with backoff', async () => {
    const from = proxy.requests.length;
    proxy.injectFaults([429, 503, 500]);
    const res = await invoke('create-with-faults', createEvent(properties(index)));
    expect(res.Data).toMatchObject({ IndexCreated: 'true' });
    const seen = proxy.requests.slice(from);
    expect(seen.slice(0, 4).map((r) => r.injectedStatus)).toEqual([429, 503, 500, undefined]);
    // The same request (the cluster setting) was sent again after each fault.
    expect(new Set(seen.slice(0, 4).map((r) => `${r.method} ${r.path}`)).size).toBe(1);
    expect((await node('HEAD', `/${index}`)).status).toBe(200);
  });

  test('retries stop at the deadline with a message naming the step', async () => {
    proxy.injectFaults(Array(1000).fill(503));
    try {
      // 17 s left: the handler keeps 15 s for reporting, so it retries for about 2 s.
      const started = Date.now();
      await expect(invoke('create-deadline', createEvent(properties(index)), 17_000)).rejects.toThrow(
        /^put cluster setting action\.auto_create_index=false failed \(\d+ attempts, \d+\.\d s\): HTTP 503 injected_fault: injected HTTP 503$/,
      );
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      proxy.clearFaults();
    }
  });

  test('a 4xx other than 429 fails at once', async () => {
    proxy.injectFaults([403]);
    try {
      await expect(invoke('create-403', createEvent(properties(index)))).rejects.toThrow(
        /^put cluster setting action\.auto_create_index=false failed: HTTP 403 injected_fault: injected HTTP 403 \(is the handler role in the domain access policy/,
      );
    } finally {
      proxy.clearFaults();
    }
  });
});

describe('properties', () => {
  test('DisableAutoCreateIndex=false leaves the cluster setting alone', async () => {
    const from = proxy.requests.length;
    await invoke('create-keep-auto-create', createEvent(properties('temporal_visibility_v1_noauto', { [PROPERTY.disableAutoCreateIndex]: 'false' })));
    const paths = proxy.requests.slice(from).map((r) => r.path.split('?')[0]);
    expect(paths).not.toContain('/_cluster/settings');
    expect(paths).toContain(`/_template/${VISIBILITY_TEMPLATE_NAME}`);
  });

  test('Signing=false (a local node) sends no SigV4 headers', async () => {
    const from = proxy.requests.length;
    await invoke('create-unsigned', createEvent(properties('temporal_visibility_v1_noauto', { [PROPERTY.signing]: 'false' })));
    const mine = proxy.requests.slice(from);
    expect(mine.length).toBeGreaterThanOrEqual(5);
    for (const r of mine) {
      expect(r.headers.authorization).toBeUndefined();
      expect(r.headers['x-amz-date']).toBeUndefined();
    }
  });

  test('an index name outside the template pattern is refused before any request', async () => {
    const from = proxy.requests.length;
    await expect(invoke('bad-index', createEvent(properties('visibility_prod')))).rejects.toThrow(
      'property IndexName="visibility_prod" is invalid: must match the template\'s index_patterns ["temporal_visibility_v1*"], or the index would be created without it',
    );
    expect(proxy.requests.length).toBe(from);
  });

  test('a content hash that does not match the template body is refused', async () => {
    await expect(
      invoke('bad-hash', createEvent(properties('temporal_visibility_v1_test', { [PROPERTY.contentHash]: 'abc' }))),
    ).rejects.toThrow(/^property ContentHash="abc" is invalid: must be the SHA-256 of TemplateBody \([0-9a-f]{64}\)$/);
  });

  test('Delete without the destroy flag succeeds without valid properties or a reachable domain', async () => {
    const from = proxy.requests.length;
    const broken = { ServiceToken: SERVICE_TOKEN, [PROPERTY.endpoint]: 'not a url', [PROPERTY.indexName]: 'temporal_visibility_v1_test' };
    const res = await invoke('delete-broken-props', deleteEvent('somewhere/temporal_visibility_v1_test', broken));
    expect(res.PhysicalResourceId).toBe('somewhere/temporal_visibility_v1_test');
    expect(proxy.requests.length).toBe(from);
    expect((await node('HEAD', '/temporal_visibility_v1_test')).status).toBe(200);
  });

  test('booleans other than "true"/"false" are refused', async () => {
    await expect(
      invoke('bad-bool', createEvent(properties('temporal_visibility_v1_test', { [PROPERTY.destroyIndexOnDelete]: 'yes' }))),
    ).rejects.toThrow('property DestroyIndexOnDelete="yes" is invalid: allowed: "true" or "false"');
  });
});

describe('IAM', () => {
  test('every request the handler made is listed in HANDLER_REQUESTS (the IAM statements come from it)', () => {
    const seen = new Set(
      proxy.requests
        .filter((r) => r.injectedStatus === undefined)
        .map((r) => {
          const path = r.path.split('?')[0].replace(/^\/temporal_visibility_v1_[a-z]+/, '/{index}').replace(VISIBILITY_TEMPLATE_NAME, '{template}');
          return `${r.method} ${path}`;
        }),
    );
    // The security plugin requests (fine-grained access control) are checked the same way against a
    // secured node in test/visibility/fgac.test.ts.
    const listed = new Set(HANDLER_REQUESTS.filter((r) => r.when !== 'fineGrainedAccessControl' && r.when !== 'auditLogs').map((r) => `${r.method} ${r.path}`));
    expect([...seen].filter((x) => !listed.has(x))).toEqual([]);
    // And the tests above exercised every listed request.
    expect([...listed].filter((x) => !seen.has(x))).toEqual([]);
  });
});
