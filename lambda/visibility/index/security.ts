/**
 * Fine-grained access control set-up, run by the index job as the domain's IAM master user (its own
 * role) through the security plugin's REST API (`_plugins/_security/api`):
 *   1. the role {@link SERVER_ROLE} with exactly what Temporal's Elasticsearch visibility store does on
 *      the visibility index ({@link serverRole}), mapped to the server task role ARN(s) and nothing else;
 *   2. the operator ARNs added to the `all_access` and `readall` mappings (entries it did not add, such
 *      as the master user's own, are kept; ARNs removed from the configuration since the last deploy are
 *      taken out);
 *   3. audit logging on ({@link AUDIT_SETTINGS}), other audit settings left as they are.
 * Every step reads first and writes only what differs, so a second run changes nothing. With fine-grained
 * access control, a principal that is not mapped gets `403 security_exception` on every request
 * (OpenSearch Service developer guide, "Fine-grained access control", Mapping roles to users); IAM role
 * ARNs are backend roles, IAM user ARNs are users.
 */
import type { Client } from '@opensearch-project/opensearch';
import { statusOf } from './opensearch';

/** The security plugin role the Temporal servers are mapped to. */
export const SERVER_ROLE = 'temporal_visibility_server';
/** Built-in security plugin roles operators may be mapped to. */
export const OPERATOR_ROLES = { allAccess: 'all_access', readAll: 'readall' } as const;
/** Base path of the security plugin's REST API. */
export const SECURITY_API = '/_plugins/_security/api';

/** A security plugin role as this job writes it. */
export interface SecurityRole {
  readonly cluster_permissions: string[];
  readonly index_permissions: { readonly index_patterns: string[]; readonly allowed_actions: string[] }[];
}

/**
 * What Temporal server v1.32.2's Elasticsearch visibility store calls (upstream
 * common/persistence/visibility/store/elasticsearch/client/client_v7.go and visibility_store.go), as
 * security plugin permissions:
 * - `_bulk` (index and delete documents; the bulk request itself is a cluster action),
 * - `_search` and `_count` (list, scan, count, count group-by with aggregations), `GET _doc`,
 * - `GET <index>/_mapping` (search attributes) and `PUT <index>/_mapping` with
 *   `_cluster/health/<index>?wait_for_status=yellow` (adding custom search attributes).
 * Only on the visibility index: no index creation or deletion, no other index, no cluster settings.
 * The `read` and `write` action groups are the plugin's built-in ones (`indices:data/read*`;
 * `indices:data/write*` and `indices:admin/mapping/put`).
 */
export function serverRole(indexName: string): SecurityRole {
  return {
    cluster_permissions: ['cluster:monitor/health', 'indices:data/write/bulk'],
    index_permissions: [{ index_patterns: [indexName], allowed_actions: ['indices:admin/mappings/get', 'read', 'write'] }],
  };
}

/**
 * Audit settings this job enforces (everything else in the audit configuration is left as found):
 * REST and transport auditing on, successful requests (AUTHENTICATED, GRANTED_PRIVILEGES) not logged
 * (the servers' steady traffic would flood the log), request bodies not logged (workflow ids and
 * search attributes stay out of the log group), sensitive headers excluded, compliance logging of
 * security configuration changes on, metadata only for document reads and writes.
 */
export const AUDIT_SETTINGS = {
  enabled: true,
  audit: {
    enable_rest: true,
    enable_transport: true,
    disabled_rest_categories: ['AUTHENTICATED', 'GRANTED_PRIVILEGES'],
    disabled_transport_categories: ['AUTHENTICATED', 'GRANTED_PRIVILEGES'],
    log_request_body: false,
    exclude_sensitive_headers: true,
  },
  compliance: { enabled: true, internal_config: true, read_metadata_only: true, write_metadata_only: true },
} as const;

/** What {@link applySecurity} needs from the resource properties. */
export interface SecuritySettings {
  readonly indexName: string;
  /** IAM role ARNs of the Temporal servers. */
  readonly serverPrincipals: string[];
  readonly allAccessPrincipals: string[];
  readonly readAllPrincipals: string[];
  readonly auditLogs: boolean;
}

/** One request with retries (the handler's stepper). */
export type SecurityStep = <T>(label: string, fn: (opts: { requestTimeout: number }) => Promise<T>) => Promise<T>;

/** Mapping entries as the API returns and takes them. */
interface RoleMapping {
  backend_roles: string[];
  users: string[];
  hosts: string[];
  and_backend_roles?: string[];
  description?: string;
}

/** IAM role ARNs go to backend_roles, IAM user ARNs to users. */
export function splitPrincipals(arns: string[]): { backend_roles: string[]; users: string[] } {
  return { backend_roles: arns.filter((a) => !/:user\//.test(a)), users: arns.filter((a) => /:user\//.test(a)) };
}

const sorted = (a: readonly string[] | undefined) => [...(a ?? [])].sort();
const sameSet = (a: readonly string[] | undefined, b: readonly string[] | undefined) =>
  JSON.stringify([...new Set(sorted(a))]) === JSON.stringify([...new Set(sorted(b))]);

function sameRole(live: Partial<SecurityRole> | undefined, want: SecurityRole): boolean {
  if (!live || !sameSet(live.cluster_permissions, want.cluster_permissions)) return false;
  const norm = (ps: SecurityRole['index_permissions'] | undefined) =>
    JSON.stringify((ps ?? []).map((p) => ({ i: sorted(p.index_patterns), a: sorted(p.allowed_actions) })));
  return norm(live.index_permissions) === norm(want.index_permissions);
}

/**
 * Applies the role, the mappings and the audit settings; reads first, writes only differences.
 * @param previous the settings of the last successful run (CloudFormation's OldResourceProperties on
 *   Update): operator ARNs in them and not in `s` are removed from their mapping.
 * @returns the names of what changed, e.g. `['role temporal_visibility_server', 'audit']`; empty when
 *   everything already was as wanted.
 * @throws StepError (from `step`) naming the request that failed, e.g. a 403 when the job's role is not
 *   the domain's master user.
 */
export async function applySecurity(client: Client, s: SecuritySettings, step: SecurityStep, previous?: SecuritySettings): Promise<string[]> {
  const changed: string[] = [];
  const request = <T>(method: 'GET' | 'PUT', path: string, body?: unknown) =>
    step(`${method} ${path}`, async (o) => (await client.transport.request({ method, path, body: body as never }, o)).body as T);
  const getOrNull = async <T>(path: string): Promise<T | undefined> => {
    try {
      return await request<T>('GET', path);
    } catch (e) {
      if (statusOf((e as { causeError?: unknown }).causeError ?? e) === 404) return undefined;
      throw e;
    }
  };

  // 1. The servers' role and its mapping (this job owns both completely).
  const rolePath = `${SECURITY_API}/roles/${SERVER_ROLE}`;
  const want = serverRole(s.indexName);
  const live = (await getOrNull<Record<string, SecurityRole>>(rolePath))?.[SERVER_ROLE];
  if (!sameRole(live, want)) {
    await request('PUT', rolePath, { ...want, description: 'Temporal servers: the visibility index only (managed by Custom::TemporalVisibilityIndex)' });
    changed.push(`role ${SERVER_ROLE}`);
  }
  const serverMapping = { ...splitPrincipals(s.serverPrincipals), hosts: [] as string[] };
  if (await putMapping(SERVER_ROLE, (m) => ({ ...m, ...serverMapping }))) changed.push(`mapping ${SERVER_ROLE}`);

  // 2. Operators: add ours, take out those removed from the configuration, keep everybody else.
  for (const [key, role] of Object.entries(OPERATOR_ROLES) as [keyof typeof OPERATOR_ROLES, string][]) {
    const field = key === 'allAccess' ? 'allAccessPrincipals' : 'readAllPrincipals';
    const now = s[field];
    const removed = (previous?.[field] ?? []).filter((a) => !now.includes(a));
    if (now.length === 0 && removed.length === 0) continue;
    const add = splitPrincipals(now);
    const drop = new Set(removed);
    const merge = (cur: string[], extra: string[]) => [...new Set([...cur.filter((a) => !drop.has(a)), ...extra])];
    if (await putMapping(role, (m) => ({ ...m, backend_roles: merge(m.backend_roles, add.backend_roles), users: merge(m.users, add.users) }))) {
      changed.push(`mapping ${role}`);
    }
  }

  // 3. Audit logging.
  if (s.auditLogs) {
    const cur = await request<{ _readonly?: string[]; config?: Record<string, unknown> }>('GET', `${SECURITY_API}/audit`);
    const { config, differs } = auditConfig(cur.config ?? {}, cur._readonly ?? []);
    if (differs) {
      await request('PUT', `${SECURITY_API}/audit/config`, config);
      changed.push('audit');
    }
  }
  return changed;

  /** GETs a mapping, applies `edit`, PUTs it when the users or backend roles differ. @returns whether it wrote. */
  async function putMapping(role: string, edit: (m: RoleMapping) => RoleMapping): Promise<boolean> {
    const path = `${SECURITY_API}/rolesmapping/${role}`;
    const got = (await getOrNull<Record<string, Partial<RoleMapping>>>(path))?.[role];
    const cur: RoleMapping = { backend_roles: got?.backend_roles ?? [], users: got?.users ?? [], hosts: got?.hosts ?? [] };
    if (got?.and_backend_roles?.length) cur.and_backend_roles = got.and_backend_roles;
    const next = edit(cur);
    if (got && sameSet(got.backend_roles, next.backend_roles) && sameSet(got.users, next.users) && sameSet(got.hosts, next.hosts)) return false;
    await request('PUT', path, next);
    return true;
  }
}

/**
 * The audit configuration to PUT: the live one with {@link AUDIT_SETTINGS} laid over it, except paths
 * the domain reports read-only (`_readonly`, JSON pointers such as `/audit/exclude_sensitive_headers`;
 * OpenSearch Service keeps some settings to itself), which keep their live value.
 * @returns the merged configuration and whether it differs from the live one
 */
export function auditConfig(live: Record<string, unknown>, readonly: string[]): { config: Record<string, unknown>; differs: boolean } {
  const config = JSON.parse(JSON.stringify(live)) as Record<string, Record<string, unknown> | unknown>;
  let differs = false;
  const set = (pointer: string, value: unknown) => {
    if (readonly.includes(pointer)) return;
    const [section, key] = pointer.slice(1).split('/');
    const target = key === undefined ? config : ((config[section] ??= {}) as Record<string, unknown>);
    const name = key ?? section;
    const before = target[name];
    const same = Array.isArray(value) ? Array.isArray(before) && sameSet(before as string[], value) : before === value;
    if (!same) {
      target[name] = Array.isArray(value) ? [...value] : value;
      differs = true;
    }
  };
  set('/enabled', AUDIT_SETTINGS.enabled);
  for (const [k, v] of Object.entries(AUDIT_SETTINGS.audit)) set(`/audit/${k}`, v);
  for (const [k, v] of Object.entries(AUDIT_SETTINGS.compliance)) set(`/compliance/${k}`, v);
  return { config: config as Record<string, unknown>, differs };
}
