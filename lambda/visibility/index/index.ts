/**
 * Custom resource handler (onEvent of the CDK Provider framework) for `Custom::TemporalVisibilityIndex`:
 * applies Temporal's visibility index template and index to an OpenSearch domain during `cdk deploy`.
 *
 * Create and Update (idempotent; a rerun after a crash resumes where it stopped):
 *   0. with FineGrainedAccessControl=true (this role is the domain's IAM master user): the servers'
 *      security plugin role and mapping, operator mappings and audit logging (./security.ts), first,
 *      so that servers already running on a domain that just turned it on are let back in soonest;
 *   1. PUT _cluster/settings {"persistent": {"action.auto_create_index": "false"}} (flat key; skipped
 *      when DisableAutoCreateIndex=false, since the setting is domain-wide);
 *   2. POST _template/<TemplateName> with TemplateBody (the client uses POST; same API as PUT);
 *   3. create the index only if it does not exist (always after the template, so the index sort applies);
 *   4. add template fields missing from an existing index with POST <index>/_mapping;
 *   5. verify: the index sort equals the template's (else the index was created without the template:
 *      fail, the sort cannot be added later), every template field has the template's type, and the
 *      mapping is not dynamic.
 * Delete keeps the index, unless DestroyIndexOnDelete=true; it always keeps the template (domain-wide).
 *
 * Requests are retried on 429, 5xx and connection errors with backoff until 15 s before the Lambda
 * timeout. A failure is thrown as an Error whose message is at most 900 characters and whose stack
 * holds no frames: the Provider framework copies both into CloudFormation's reason field (4 KB limit).
 * Properties: see ./properties.ts. Logs: one JSON line per step.
 */
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import type { Client } from '@opensearch-project/opensearch';
import { createClient, errorTypeOf, statusOf, withRetry } from './opensearch';
import { parseProperties, PROPERTY, VisibilityIndexProperties } from './properties';
import { applySecurity, SecuritySettings } from './security';
import { diffMapping, liveSortFields, listForMessage, templateSortFields } from './verify';
import type { FieldMapping } from './properties';
import { shortError } from '../../shared/custom-resource';

/** What the handler returns to the Provider framework. Data values are strings (CloudFormation GetAtt). */
export interface HandlerResponse {
  readonly PhysicalResourceId: string;
  readonly Data?: {
    readonly IndexName: string;
    readonly TemplateName: string;
    readonly TemplateVersion: string;
    /** "true" when this invocation created the index. */
    readonly IndexCreated: string;
    /** Number of template fields this invocation added to an existing index. */
    readonly FieldsAdded: string;
    /** What the fine-grained access control step changed, comma-separated (`role ...,mapping ...,audit`); empty when nothing. */
    readonly SecurityChanges: string;
  };
}

export { MAX_REASON_CHARS } from '../../shared/custom-resource';
/** Time kept back from the Lambda timeout to report a failure. */
const DEADLINE_MARGIN_MS = 15_000;
/** Deadline when no Lambda context is given (direct invocation, tests). */
const DEFAULT_BUDGET_MS = 120_000;

type Log = (msg: string, fields?: Record<string, unknown>) => void;
const log: Log = (msg, fields) => console.log(JSON.stringify({ msg, ...fields }));

/** Physical id: the endpoint host and index name, so a new index name or a new domain is a replacement. */
export function physicalResourceId(p: VisibilityIndexProperties): string {
  return `${p.endpoint.host}/${p.indexName}`;
}

/**
 * Lambda entry point.
 * @param event a CloudFormation custom resource event (Create, Update or Delete).
 * @param context the Lambda context; its remaining time sets the retry deadline.
 * @throws Error with a short message (see MAX_REASON_CHARS) on failure.
 */
export async function handler(
  event: CloudFormationCustomResourceEvent,
  context?: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<HandlerResponse> {
  const started = Date.now();
  const deadline = started + (context ? context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS : DEFAULT_BUDGET_MS);
  log('event', {
    requestType: event.RequestType,
    logicalResourceId: event.LogicalResourceId,
    physicalResourceId: 'PhysicalResourceId' in event ? event.PhysicalResourceId : undefined,
  });
  try {
    const result = await run(event, deadline);
    log('done', { requestType: event.RequestType, elapsedMs: Date.now() - started, ...result.Data });
    return result;
  } catch (e) {
    // Full details in the log; a short, frame-less error for CloudFormation.
    console.error(JSON.stringify({ msg: 'failed', requestType: event.RequestType, error: String(e), stack: (e as Error)?.stack }));
    throw shortError(e);
  }
}

export { shortError };

async function run(event: CloudFormationCustomResourceEvent, deadline: number): Promise<HandlerResponse> {
  const raw = event.ResourceProperties as Record<string, unknown>;
  if (event.RequestType === 'Delete' && String(raw[PROPERTY.destroyIndexOnDelete]) !== 'true') {
    // Keeping the index needs neither valid properties nor the domain: a rollback or a stack
    // deletion never fails here.
    log('delete: keeping index and template', { index: raw[PROPERTY.indexName], template: raw[PROPERTY.templateName] });
    return { PhysicalResourceId: event.PhysicalResourceId };
  }
  const props = parseProperties(raw);
  if (event.RequestType === 'Delete') return onDelete(event.PhysicalResourceId, props, deadline);
  return apply(props, deadline, event.RequestType === 'Update' ? previousSecurity(event.OldResourceProperties) : undefined);
}

/** The operator lists of the last deploy (to take removed ARNs out); undefined when unreadable. */
function previousSecurity(old: Record<string, unknown>): SecuritySettings | undefined {
  try {
    const p = parseProperties(old);
    return p.fineGrainedAccessControl ? p : undefined;
  } catch {
    return undefined;
  }
}

/** Runs one request with retries, and a per-request timeout that never passes the deadline. */
function stepper(deadline: number) {
  return <T>(label: string, fn: (opts: { requestTimeout: number }) => Promise<T>): Promise<T> =>
    withRetry(label, () => fn({ requestTimeout: Math.max(1000, Math.min(30_000, deadline - Date.now())) }), {
      deadline,
      onRetry: (step, attempt, delayMs, error) =>
        log('retry', { step, attempt, delayMs, status: statusOf(error), error: String(error) }),
    });
}

async function apply(p: VisibilityIndexProperties, deadline: number, previous?: SecuritySettings): Promise<HandlerResponse> {
  const client = createClient(p);
  try {
    return await applyWith(client, p, deadline, previous);
  } finally {
    await client.close();
  }
}

async function applyWith(client: Client, p: VisibilityIndexProperties, deadline: number, previous?: SecuritySettings): Promise<HandlerResponse> {
  const step = stepper(deadline);
  const index = p.indexName;
  let securityChanges: string[] = [];
  if (p.fineGrainedAccessControl) {
    securityChanges = await applySecurity(client, p, step, previous);
    log('fine-grained access control', { changed: securityChanges, servers: p.serverPrincipals, auditLogs: p.auditLogs });
  }

  if (p.disableAutoCreateIndex) {
    await step('put cluster setting action.auto_create_index=false', (o) =>
      client.cluster.putSettings({ body: { persistent: { 'action.auto_create_index': 'false' } } }, o),
    );
  }
  await step(`put template ${p.templateName}`, (o) =>
    client.indices.putTemplate({ name: p.templateName, body: p.template as never }, o),
  );
  log('template applied', { template: p.templateName, version: p.templateVersion, contentHash: p.contentHash });

  const exists = await step(`check index ${index} exists`, (o) => client.indices.exists({ index }, o));
  let created = false;
  if (!exists.body) {
    created = await step(`create index ${index}`, async (o) => {
      try {
        await client.indices.create({ index }, o);
        return true;
      } catch (e) {
        // Created meanwhile (a retried request that did land, or another writer): verify it below.
        if (statusOf(e) === 400 && errorTypeOf(e) === 'resource_already_exists_exception') return false;
        throw e;
      }
    });
    log('index', { index, created });
  }

  const added = await reconcile(client, p, step);
  return {
    PhysicalResourceId: physicalResourceId(p),
    Data: {
      IndexName: index,
      TemplateName: p.templateName,
      TemplateVersion: p.templateVersion,
      IndexCreated: String(created),
      FieldsAdded: String(added),
      SecurityChanges: securityChanges.join(','),
    },
  };
}

type Step = ReturnType<typeof stepper>;

interface LiveIndex {
  readonly sort: string[];
  readonly dynamic: unknown;
  readonly properties: Record<string, FieldMapping>;
}

async function readIndex(client: Client, index: string, step: Step): Promise<LiveIndex> {
  const settings = await step(`read settings of ${index}`, (o) =>
    client.indices.getSettings({ index, flat_settings: true }, o),
  );
  const mapping = await step(`read mapping of ${index}`, (o) => client.indices.getMapping({ index }, o));
  // Keyed by the concrete index name (the same as `index` unless it is an alias).
  const settingsBody = settings.body as Record<string, { settings?: Record<string, unknown> }>;
  const mappingBody = mapping.body as Record<string, { mappings?: { dynamic?: unknown; properties?: Record<string, FieldMapping> } }>;
  const concrete = Object.keys(mappingBody);
  if (concrete.length !== 1) {
    throw new Error(`${index} resolves to ${concrete.length} indices (${listForMessage(concrete)}); IndexName must name one index`);
  }
  const name = concrete[0];
  return {
    sort: liveSortFields(settingsBody[name]?.settings ?? {}),
    dynamic: mappingBody[name]?.mappings?.dynamic,
    properties: mappingBody[name]?.mappings?.properties ?? {},
  };
}

/**
 * Checks the index against the template, adds missing template fields, and verifies the result.
 * @returns the number of fields added.
 */
async function reconcile(client: Client, p: VisibilityIndexProperties, step: Step): Promise<number> {
  const index = p.indexName;
  const wantSort = templateSortFields(p.template);
  let live = await readIndex(client, index, step);

  if (live.sort.join(',') !== wantSort.join(',')) {
    const got = live.sort.length ? `index sort [${live.sort.join(', ')}]` : 'no index sort';
    throw new Error(
      `index ${index} exists but was not created from template ${p.templateName}: it has ${got}, ` +
        `want [${wantSort.join(', ')}]. The sort can only be set when an index is created: ` +
        `delete the index (or choose a new IndexName), then redeploy.`,
    );
  }
  let diff = diffMapping(p.template, live.properties);
  if (diff.conflicts.length > 0) throw conflictError(index, p, diff.conflicts);

  const missing = Object.keys(diff.missing);
  if (missing.length > 0) {
    log('adding fields', { index, fields: missing });
    const body: Record<string, unknown> = { properties: diff.missing };
    if (p.template.mappings._meta) body._meta = p.template.mappings._meta;
    await step(`add ${missing.length} fields to ${index} mapping`, (o) => client.indices.putMapping({ index, body }, o));
    live = await readIndex(client, index, step);
    diff = diffMapping(p.template, live.properties);
    if (diff.conflicts.length > 0) throw conflictError(index, p, diff.conflicts);
    if (Object.keys(diff.missing).length > 0) {
      throw new Error(`index ${index} still lacks fields after POST _mapping: ${listForMessage(Object.keys(diff.missing))}`);
    }
  }
  const wantDynamic = p.template.mappings.dynamic;
  if (wantDynamic !== undefined && String(live.dynamic) !== String(wantDynamic)) {
    throw new Error(
      `index ${index} mapping has dynamic=${String(live.dynamic)}, template ${p.templateName} wants ${String(wantDynamic)}: ` +
        `the index was not created from the template; delete it (or choose a new IndexName), then redeploy.`,
    );
  }
  log('verified', {
    index,
    sort: live.sort,
    templateFields: Object.keys(p.template.mappings.properties).length,
    indexFields: Object.keys(live.properties).length,
    added: missing,
  });
  return missing.length;
}

function conflictError(index: string, p: VisibilityIndexProperties, conflicts: { field: string; want: string; got: string }[]): Error {
  const list = listForMessage(conflicts.map((c) => `${c.field} is ${c.got}, want ${c.want}`), 4);
  return new Error(
    `index ${index} has ${conflicts.length} field(s) with types other than template ${p.templateName} ${p.templateVersion}: ` +
      `${list}. Field types cannot change in place: reindex into a new IndexName.`,
  );
}

/** Delete with DestroyIndexOnDelete=true (run() handles the default, keeping the index). */
async function onDelete(physicalId: string, p: VisibilityIndexProperties, deadline: number): Promise<HandlerResponse> {
  if (physicalId !== physicalResourceId(p)) {
    // Not an index this resource created or verified (e.g. a replaced resource's old id format): keep it.
    log('delete: physical id does not match the properties, keeping the index', { physicalId, expected: physicalResourceId(p) });
    return { PhysicalResourceId: physicalId };
  }
  const client = createClient(p);
  try {
    return await destroyIndex(client, physicalId, p, deadline);
  } finally {
    await client.close();
  }
}

async function destroyIndex(client: Client, physicalId: string, p: VisibilityIndexProperties, deadline: number): Promise<HandlerResponse> {
  const step = stepper(deadline);
  const ignore404 = (e: unknown) => {
    if (statusOf(e) === 404) return undefined;
    throw e;
  };
  await step(`delete index ${p.indexName}`, (o) => client.indices.delete({ index: p.indexName }, o).catch(ignore404));
  // The template stays: it is domain-wide and harmless, and other indices may rely on it.
  log('delete: index deleted (DestroyIndexOnDelete=true)', { index: p.indexName });
  return { PhysicalResourceId: physicalId };
}
