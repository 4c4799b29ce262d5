/**
 * The `namespaces`, `searchAttributes` and `namespaceAdmin` fields of the configuration: Temporal
 * namespaces and custom search attributes as code, applied during `cdk deploy` by
 * `Custom::TemporalNamespaces` (lib/namespaces/namespaces.ts, handler in lambda/namespaces/).
 *
 * Sources of the rules (upstream Temporal server v1.31.2):
 * - namespace name: at most `limit.maxIDLength` (1000) characters, `WorkflowHandler.validateNamespace`
 *   (service/frontend/workflow_handler.go, default in common/dynamicconfig/constants.go);
 *   `temporal-system` is the server's own namespace (common/primitives);
 * - retention: at least 1 day for a global namespace and 1 hour for a local one
 *   (common/namespace/const.go, `MinRetentionGlobal`/`MinRetentionLocal`); we ask for whole days, so
 *   the minimum is 1 day either way;
 * - search attribute names: the system, predefined and reserved names and the `Temporal` prefix are
 *   refused by `OperatorService.AddSearchAttributes` (`sadefs.IsReserved`,
 *   common/searchattribute/sadefs/constants.go). The per-type counts there (Keyword 10, the others 3)
 *   bind SQL visibility only; on OpenSearch, our visibility store, a custom attribute is a field of
 *   the index and no per-type limit applies.
 * - on OpenSearch visibility a custom search attribute belongs to the index, so it is shared by
 *   every namespace of the cluster (operator_handler.go, `addSearchAttributesElasticsearch`): one
 *   name can therefore have one type only, whatever namespace lists it.
 */
import { bool, checkKeys, ConfigError, int, isObject, str } from '../config-checks';

/** Temporal's indexed value types (`temporal.api.enums.v1.IndexedValueType` without UNSPECIFIED). */
export const SEARCH_ATTRIBUTE_TYPES = ['Keyword', 'Text', 'Int', 'Double', 'Bool', 'Datetime', 'KeywordList'] as const;
/** A Temporal indexed value type. */
export type SearchAttributeType = (typeof SEARCH_ATTRIBUTE_TYPES)[number];

/**
 * Names `AddSearchAttributes` refuses besides the `Temporal` prefix: the system, predefined and
 * reserved search attributes of server v1.31.2 (common/searchattribute/sadefs/constants.go).
 */
export const RESERVED_SEARCH_ATTRIBUTE_NAMES: readonly string[] = [
  'WorkflowId', 'RunId', 'WorkflowType', 'StartTime', 'ExecutionTime', 'CloseTime', 'ExecutionStatus', 'TaskQueue',
  'HistoryLength', 'ExecutionDuration', 'StateTransitionCount', 'HistorySizeBytes', 'ParentWorkflowId', 'ParentRunId',
  'RootWorkflowId', 'RootRunId', 'BinaryChecksums', 'BuildIds', 'BatcherNamespace', 'BatcherUser',
  'NamespaceId', 'MemoEncoding', 'Memo', 'VisibilityTaskKey',
];
/** Prefix of the server's own search attributes (`sadefs.ReservedPrefix`). */
export const RESERVED_SEARCH_ATTRIBUTE_PREFIX = 'Temporal';
/** `limit.maxIDLength` default: longest namespace name the frontend accepts. */
export const MAX_NAMESPACE_NAME_LENGTH = 1000;
/** The server's system namespace; it exists on every cluster and is not ours to configure. */
export const SYSTEM_NAMESPACE = 'temporal-system';

/** One Temporal namespace. */
export interface NamespaceInput {
  /**
   * Namespace name: 1-1000 characters (upstream limit `limit.maxIDLength`) of letters, digits, `.`,
   * `_` and `-`, starting with a letter or digit (ours: the name goes into CLI flags, URLs and
   * queries unquoted). Not `temporal-system`.
   */
  readonly name: string;
  /** Days a closed workflow's history is kept (Temporal's minimum is 1 day). */
  readonly retentionDays: number;
  /** Free text shown by `temporal operator namespace describe` and the UI. @default '' */
  readonly description?: string;
  /**
   * History and visibility archival to the platform's archival bucket (`s3://<bucket>`). Needs the
   * stack's archival bucket (lib/archival/archival.ts) and archival enabled on the server. @default false
   */
  readonly archival?: boolean;
  /** E-mail address of the team owning the namespace. @default - none */
  readonly ownerEmail?: string;
}

/** One custom search attribute. */
export interface SearchAttributeInput {
  /**
   * Attribute name: 1-255 characters, letters, digits and `_`, starting with a letter or `_` (ours:
   * usable in a visibility query without quoting); not a reserved name nor starting with `Temporal`.
   */
  readonly name: string;
  /** Temporal indexed value type. It can never change once the attribute exists. */
  readonly type: SearchAttributeType;
  /**
   * Namespace the attribute is added for (one of `namespaces` or `default`). On OpenSearch visibility
   * the attribute is visible in every namespace of the cluster.
   */
  readonly namespace: string;
}

/**
 * The admin principal `Custom::TemporalNamespaces` authenticates as when frontend authorization is
 * on: OAuth 2.0 client-credentials grant (RFC 6749 section 4.4) against `tokenUrl`.
 */
export interface NamespaceAdminInput {
  /**
   * Secrets Manager secret (ARN) holding the client's credentials as JSON
   * `{"clientId": "...", "clientSecret": "..."}`; the handler may read this secret only.
   */
  readonly clientSecretArn: string;
  /** The issuer's token endpoint, `https://...` (the `token_endpoint` of its discovery document). */
  readonly tokenUrl: string;
  /** `scope` of the token request, space-separated. @default - none sent */
  readonly scope?: string;
  /** `audience` of the token request (some issuers need it, e.g. Auth0). @default - none sent */
  readonly audience?: string;
  /** `resource` of the token request (RFC 8707 resource indicator; issuers that use them need it). @default - none sent */
  readonly resource?: string;
}

/** A resolved namespace. */
export interface NamespaceConfig {
  readonly name: string;
  readonly retentionDays: number;
  readonly description: string;
  readonly archival: boolean;
  readonly ownerEmail: string;
}

/** A resolved search attribute. */
export interface SearchAttributeConfig {
  readonly name: string;
  readonly type: SearchAttributeType;
  readonly namespace: string;
}

/** The resolved namespace fields of {@link PlatformConfig} (lib/config.ts). */
export interface NamespacesConfig {
  readonly namespaces: NamespaceConfig[];
  readonly searchAttributes: SearchAttributeConfig[];
  readonly namespaceAdmin?: NamespaceAdminInput;
}

const NAMESPACE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SEARCH_ATTRIBUTE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/** Longest retention accepted, days (100 years; the server caps durations at about 10,000 years). */
export const MAX_RETENTION_DAYS = 36500;

/**
 * Checks a namespace name against Temporal's rules and ours.
 * @returns an empty string when valid, else what is allowed
 */
export function namespaceNameProblem(name: unknown): string {
  const allowed = `1-${MAX_NAMESPACE_NAME_LENGTH} characters (Temporal's limit.maxIDLength) of letters, digits, '.', '_' and '-', starting with a letter or digit`;
  if (typeof name !== 'string' || name.length > MAX_NAMESPACE_NAME_LENGTH || !NAMESPACE_NAME.test(name)) return allowed;
  if (name === SYSTEM_NAMESPACE) return `any name but ${SYSTEM_NAMESPACE} (the server's own namespace)`;
  return '';
}

/**
 * Checks a search attribute name against Temporal's reserved names and our character rule.
 * @returns an empty string when valid, else what is allowed
 */
export function searchAttributeNameProblem(name: unknown): string {
  if (typeof name !== 'string' || !SEARCH_ATTRIBUTE_NAME.test(name)) {
    return '1-255 letters, digits and _, starting with a letter or _ (usable in a visibility query without quoting)';
  }
  if (name.startsWith(RESERVED_SEARCH_ATTRIBUTE_PREFIX) || RESERVED_SEARCH_ATTRIBUTE_NAMES.includes(name)) {
    return `a name not reserved by Temporal: not starting with ${RESERVED_SEARCH_ATTRIBUTE_PREFIX} and none of ${RESERVED_SEARCH_ATTRIBUTE_NAMES.join(', ')}`;
  }
  return '';
}

function list(field: string, v: unknown): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ConfigError(field, v, 'a list');
  return v;
}

/** What the namespace checks need from other sections. */
export interface NamespacesContext {
  /** `archival.enabled`: a namespace may archive only when the stack has the archival bucket. */
  readonly archivalEnabled: boolean;
  /** Frontend authorization is on (`security.auth`): the resource then needs `namespaceAdmin`. */
  readonly authorization: boolean;
}

/**
 * Fills the defaults of `namespaces`, `searchAttributes` and `namespaceAdmin` and checks them.
 * @param p prefixes a field with the environment name (`prod.namespaces[0].name`)
 * @param input the three fields of the environment's input (each may be undefined)
 * @param context the resolved settings of other sections the checks depend on
 * @returns the resolved fields; both lists empty when absent
 * @throws ConfigError naming the field, the value and what is allowed
 */
export function resolveNamespaces(
  p: (f: string) => string,
  input: { namespaces?: unknown; searchAttributes?: unknown; namespaceAdmin?: unknown },
  context: NamespacesContext,
): NamespacesConfig {
  const namespaces: NamespaceConfig[] = list(p('namespaces'), input.namespaces).map((n, i) => {
    const f = p(`namespaces[${i}]`);
    if (!isObject(n)) throw new ConfigError(f, n, 'an object { name, retentionDays, description?, archival?, ownerEmail? }');
    checkKeys(f, n, ['name', 'retentionDays', 'description', 'archival', 'ownerEmail']);
    const problem = namespaceNameProblem(n.name);
    if (problem) throw new ConfigError(`${f}.name`, n.name, problem);
    const retentionDays = int(`${f}.retentionDays`, n.retentionDays, 1, MAX_RETENTION_DAYS);
    const description = n.description === undefined ? '' : n.description;
    if (typeof description !== 'string' || description.length > 1000) {
      throw new ConfigError(`${f}.description`, description, 'a string of at most 1000 characters');
    }
    const ownerEmail = n.ownerEmail === undefined ? '' : str(`${f}.ownerEmail`, n.ownerEmail, EMAIL, 'an e-mail address such as payments-team@example.com');
    const archival = bool(`${f}.archival`, n.archival, false);
    if (archival && !context.archivalEnabled) {
      throw new ConfigError(`${f}.archival`, true, 'false while archival.enabled is false (a namespace archives to the stack\'s archival bucket)');
    }
    return { name: n.name as string, retentionDays, description, archival, ownerEmail };
  });
  const seen = new Map<string, number>();
  namespaces.forEach((n, i) => {
    if (seen.has(n.name)) {
      throw new ConfigError(p(`namespaces[${i}].name`), n.name, `a name not already used by namespaces[${seen.get(n.name)}]`);
    }
    seen.set(n.name, i);
  });

  const known = ['default', ...namespaces.map((n) => n.name)];
  const types = new Map<string, { type: SearchAttributeType; index: number }>();
  const keys = new Set<string>();
  const searchAttributes: SearchAttributeConfig[] = list(p('searchAttributes'), input.searchAttributes).map((a, i) => {
    const f = p(`searchAttributes[${i}]`);
    if (!isObject(a)) throw new ConfigError(f, a, 'an object { name, type, namespace }');
    checkKeys(f, a, ['name', 'type', 'namespace']);
    const problem = searchAttributeNameProblem(a.name);
    if (problem) throw new ConfigError(`${f}.name`, a.name, problem);
    const name = a.name as string;
    if (typeof a.type !== 'string' || !(SEARCH_ATTRIBUTE_TYPES as readonly string[]).includes(a.type)) {
      throw new ConfigError(`${f}.type`, a.type, `one of Temporal's indexed value types ${SEARCH_ATTRIBUTE_TYPES.join(', ')}`);
    }
    const type = a.type as SearchAttributeType;
    if (typeof a.namespace !== 'string' || !known.includes(a.namespace)) {
      throw new ConfigError(`${f}.namespace`, a.namespace, `a namespace of this environment: ${known.join(', ')}`);
    }
    const earlier = types.get(name);
    if (earlier && earlier.type !== type) {
      throw new ConfigError(`${f}.type`, type,
        `${earlier.type}, the type searchAttributes[${earlier.index}] gives ${name}: on OpenSearch visibility a search attribute is one field of the index, shared by all namespaces`);
    }
    if (keys.has(`${a.namespace}/${name}`)) throw new ConfigError(`${f}.name`, name, `a name not listed twice for namespace ${a.namespace}`);
    keys.add(`${a.namespace}/${name}`);
    types.set(name, earlier ?? { type, index: i });
    return { name, type, namespace: a.namespace };
  });

  let namespaceAdmin: NamespaceAdminInput | undefined;
  if (input.namespaceAdmin !== undefined) {
    const f = p('namespaceAdmin');
    const a = input.namespaceAdmin;
    if (!isObject(a)) throw new ConfigError(f, a, 'an object { clientSecretArn, tokenUrl, scope?, audience?, resource? }');
    checkKeys(f, a, ['clientSecretArn', 'tokenUrl', 'scope', 'audience', 'resource']);
    const clientSecretArn = str(`${f}.clientSecretArn`, a.clientSecretArn, /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/,
      'a Secrets Manager secret ARN holding {"clientId": "...", "clientSecret": "..."}');
    const tokenUrl = str(`${f}.tokenUrl`, a.tokenUrl, /^https:\/\/[^\s/]+(\/\S*)?$/, 'the https:// token endpoint of the OIDC issuer');
    const scope = a.scope === undefined ? undefined : str(`${f}.scope`, a.scope, /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'space-separated OAuth scopes (RFC 6749 section 3.3)');
    const audience = a.audience === undefined ? undefined : str(`${f}.audience`, a.audience, /^\S+$/, 'an audience without spaces');
    const resource = a.resource === undefined ? undefined : str(`${f}.resource`, a.resource, /^[a-z][a-z0-9+.-]*:[^\s#]+$/, 'an absolute URI without a fragment (RFC 8707)');
    namespaceAdmin = { clientSecretArn, tokenUrl, ...(scope ? { scope } : {}), ...(audience ? { audience } : {}), ...(resource ? { resource } : {}) };
  }
  if (context.authorization && !namespaceAdmin && (namespaces.length > 0 || searchAttributes.length > 0)) {
    throw new ConfigError(p('namespaceAdmin'), undefined,
      'an admin client { clientSecretArn, tokenUrl } while security.auth is on and namespaces or searchAttributes are listed (the frontend refuses calls without a token)');
  }
  return { namespaces, searchAttributes, ...(namespaceAdmin ? { namespaceAdmin } : {}) };
}
