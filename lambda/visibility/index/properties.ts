/**
 * Properties of the `Custom::TemporalVisibilityIndex` resource, shared by the construct
 * (lib/visibility/visibility-index.ts, which writes them) and the handler (which reads them).
 *
 * CloudFormation turns every property value into a string (`true` arrives as `"true"`), so the
 * handler parses them here and rejects bad input with a message naming the property, the value
 * received and what is allowed.
 */
import { createHash } from 'node:crypto';

/** Property names, as they appear in the CloudFormation template. */
export const PROPERTY = {
  endpoint: 'Endpoint',
  region: 'Region',
  signing: 'Signing',
  indexName: 'IndexName',
  templateName: 'TemplateName',
  templateVersion: 'TemplateVersion',
  templateBody: 'TemplateBody',
  contentHash: 'ContentHash',
  disableAutoCreateIndex: 'DisableAutoCreateIndex',
  destroyIndexOnDelete: 'DestroyIndexOnDelete',
  fineGrainedAccessControl: 'FineGrainedAccessControl',
  serverPrincipals: 'ServerPrincipals',
  allAccessPrincipals: 'AllAccessPrincipals',
  readAllPrincipals: 'ReadAllPrincipals',
  auditLogs: 'AuditLogs',
} as const;

/** One kind of HTTP request the handler makes; `{index}` and `{template}` stand for the names. */
export interface HandlerRequest {
  readonly method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  readonly path: string;
  /** Only made when this option is on. */
  readonly when?: 'disableAutoCreateIndex' | 'destroyIndexOnDelete' | 'fineGrainedAccessControl' | 'auditLogs';
}

/**
 * Every request the handler makes (the methods are those @opensearch-project/opensearch uses).
 * The construct derives its IAM statements from this list (action `es:ESHttp<Method>` on
 * `<domainArn><path>`), and the tests check every request they see against it.
 */
export const HANDLER_REQUESTS: readonly HandlerRequest[] = [
  { method: 'PUT', path: '/_cluster/settings', when: 'disableAutoCreateIndex' },
  { method: 'POST', path: '/_template/{template}' },
  { method: 'HEAD', path: '/{index}' },
  { method: 'PUT', path: '/{index}' },
  { method: 'GET', path: '/{index}/_settings' },
  { method: 'GET', path: '/{index}/_mapping' },
  { method: 'POST', path: '/{index}/_mapping' },
  { method: 'DELETE', path: '/{index}', when: 'destroyIndexOnDelete' },
  // Fine-grained access control (./security.ts), as the domain's master user.
  { method: 'GET', path: '/_plugins/_security/api/roles/temporal_visibility_server', when: 'fineGrainedAccessControl' },
  { method: 'PUT', path: '/_plugins/_security/api/roles/temporal_visibility_server', when: 'fineGrainedAccessControl' },
  { method: 'GET', path: '/_plugins/_security/api/rolesmapping/temporal_visibility_server', when: 'fineGrainedAccessControl' },
  { method: 'PUT', path: '/_plugins/_security/api/rolesmapping/temporal_visibility_server', when: 'fineGrainedAccessControl' },
  { method: 'GET', path: '/_plugins/_security/api/rolesmapping/all_access', when: 'fineGrainedAccessControl' },
  { method: 'PUT', path: '/_plugins/_security/api/rolesmapping/all_access', when: 'fineGrainedAccessControl' },
  { method: 'GET', path: '/_plugins/_security/api/rolesmapping/readall', when: 'fineGrainedAccessControl' },
  { method: 'PUT', path: '/_plugins/_security/api/rolesmapping/readall', when: 'fineGrainedAccessControl' },
  { method: 'GET', path: '/_plugins/_security/api/audit', when: 'auditLogs' },
  { method: 'PUT', path: '/_plugins/_security/api/audit/config', when: 'auditLogs' },
];

/** IAM role or user ARN (what fine-grained access control maps here). */
export const IAM_PRINCIPAL_ARN = /^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)\/[\w+=,.@/-]{1,512}$/;

/** The parsed, validated properties. */
export interface VisibilityIndexProperties {
  /** Domain endpoint URL, scheme and host (port optional), e.g. `https://vpc-x.us-east-1.es.amazonaws.com`. */
  readonly endpoint: URL;
  /** Region that requests are SigV4-signed for (service `es`). */
  readonly region: string;
  /** Whether to SigV4-sign requests. Always true against AWS; false only for a local node. */
  readonly signing: boolean;
  /** Name of the visibility index, e.g. `temporal_visibility_v1_prod`. Must match the template's pattern. */
  readonly indexName: string;
  /** Name of the legacy index template, e.g. `temporal_visibility_v1_template`. */
  readonly templateName: string;
  /** Temporal template schema version, e.g. `v14`. Informational; logged and returned. */
  readonly templateVersion: string;
  /** The template body (the JSON object sent to `POST _template/<name>`). */
  readonly template: IndexTemplate;
  /** Lowercase hex SHA-256 of the TemplateBody string. */
  readonly contentHash: string;
  /** Put the domain-wide cluster setting `action.auto_create_index=false`. */
  readonly disableAutoCreateIndex: boolean;
  /** On Delete, delete the index (data loss). The template is always kept. */
  readonly destroyIndexOnDelete: boolean;
  /** The domain has fine-grained access control and this handler's role is its master user. */
  readonly fineGrainedAccessControl: boolean;
  /** IAM role ARNs of the Temporal servers, mapped to temporal_visibility_server (non-empty with fineGrainedAccessControl). */
  readonly serverPrincipals: string[];
  /** IAM ARNs added to the all_access mapping. */
  readonly allAccessPrincipals: string[];
  /** IAM ARNs added to the readall mapping. */
  readonly readAllPrincipals: string[];
  /** Turn audit logging on through the security plugin (needs fineGrainedAccessControl). */
  readonly auditLogs: boolean;
}

/** A legacy index template as Temporal ships it (only the parts the handler reads are typed). */
export interface IndexTemplate {
  readonly order?: number;
  readonly index_patterns: string[];
  readonly settings: { readonly index: Record<string, unknown> };
  readonly mappings: {
    readonly dynamic?: string | boolean;
    readonly _meta?: Record<string, unknown>;
    readonly properties: Record<string, FieldMapping>;
  };
  readonly aliases?: Record<string, unknown>;
}

/** One field of a mapping: `{ type: 'keyword' }`, `{ type: 'scaled_float', scaling_factor: 10000 }`, ... */
export interface FieldMapping {
  readonly type: string;
  readonly scaling_factor?: number;
  readonly [key: string]: unknown;
}

/** Lowercase hex SHA-256 of a template body string; the construct and the handler both use it. */
export function templateContentHash(templateBody: string): string {
  return createHash('sha256').update(templateBody, 'utf8').digest('hex');
}

/** Thrown for bad resource properties; the message is short enough for CloudFormation's reason. */
export class PropertyError extends Error {
  constructor(property: string, value: unknown, allowed: string) {
    super(`property ${property}=${preview(value)} is invalid: ${allowed}`);
    this.name = 'PropertyError';
  }
}

function preview(value: unknown): string {
  if (value === undefined) return '(missing)';
  const s = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function requireString(props: Record<string, unknown>, name: string): string {
  const v = props[name];
  if (typeof v !== 'string' || v.length === 0) throw new PropertyError(name, v, 'a non-empty string is required');
  return v;
}

function parseBool(props: Record<string, unknown>, name: string, dflt: boolean): boolean {
  const v = props[name];
  if (v === undefined || v === '') return dflt;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw new PropertyError(name, v, 'allowed: "true" or "false"');
}

/** A list of IAM ARNs: a JSON array of strings (CloudFormation keeps lists), or absent/empty for none. */
function parseArnList(props: Record<string, unknown>, name: string): string[] {
  const v = props[name];
  if (v === undefined || v === '') return [];
  if (!Array.isArray(v)) throw new PropertyError(name, v, 'a list of IAM role or user ARNs');
  v.forEach((a) => {
    if (typeof a !== 'string' || !IAM_PRINCIPAL_ARN.test(a)) {
      throw new PropertyError(name, a, 'each item an IAM role or user ARN, arn:aws:iam::<account>:role/<name> or :user/<name>');
    }
  });
  return [...new Set(v as string[])];
}

/** OpenSearch index name rules (lowercase, no reserved characters, not starting with -, _ or +, at most 255 bytes). */
export function checkIndexName(name: string, property: string = PROPERTY.indexName): void {
  if (
    name !== name.toLowerCase() ||
    /[\\/*?"<>| ,#:]/.test(name) ||
    /^[-_+]/.test(name) ||
    name === '.' ||
    name === '..' ||
    Buffer.byteLength(name, 'utf8') > 255
  ) {
    throw new PropertyError(
      property,
      name,
      'an OpenSearch index name is lowercase, at most 255 bytes, without \\ / * ? " < > | space , # :, and does not start with - _ +',
    );
  }
}

/** True when `name` matches an index pattern with `*` wildcards, as OpenSearch matches template patterns. */
export function matchesPattern(name: string, pattern: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(name);
}

/**
 * Parses and validates the resource properties of a CloudFormation event.
 * @throws PropertyError naming the first bad property.
 */
export function parseProperties(props: Record<string, unknown>): VisibilityIndexProperties {
  const endpointText = requireString(props, PROPERTY.endpoint);
  let endpoint: URL;
  try {
    endpoint = new URL(endpointText);
  } catch {
    throw new PropertyError(PROPERTY.endpoint, endpointText, 'a URL such as https://vpc-x.us-east-1.es.amazonaws.com');
  }
  if (!['https:', 'http:'].includes(endpoint.protocol) || endpoint.pathname.replace(/\/+$/, '') !== '') {
    throw new PropertyError(PROPERTY.endpoint, endpointText, 'scheme http or https and a host, without a path');
  }
  const region = requireString(props, PROPERTY.region);
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) {
    throw new PropertyError(PROPERTY.region, region, 'an AWS region such as us-east-1');
  }
  const indexName = requireString(props, PROPERTY.indexName);
  checkIndexName(indexName);
  const templateName = requireString(props, PROPERTY.templateName);
  checkIndexName(templateName, PROPERTY.templateName);
  const templateVersion = requireString(props, PROPERTY.templateVersion);
  if (!/^v\d+$/.test(templateVersion)) {
    throw new PropertyError(PROPERTY.templateVersion, templateVersion, 'a Temporal template schema version such as v14');
  }
  const body = requireString(props, PROPERTY.templateBody);
  const contentHash = requireString(props, PROPERTY.contentHash);
  const actualHash = templateContentHash(body);
  if (contentHash !== actualHash) {
    throw new PropertyError(PROPERTY.contentHash, contentHash, `must be the SHA-256 of TemplateBody (${actualHash})`);
  }
  const template = parseTemplate(body);
  if (!template.index_patterns.some((p) => matchesPattern(indexName, p))) {
    throw new PropertyError(
      PROPERTY.indexName,
      indexName,
      `must match the template's index_patterns ${JSON.stringify(template.index_patterns)}, or the index would be created without it`,
    );
  }
  const fineGrainedAccessControl = parseBool(props, PROPERTY.fineGrainedAccessControl, false);
  const serverPrincipals = parseArnList(props, PROPERTY.serverPrincipals);
  const allAccessPrincipals = parseArnList(props, PROPERTY.allAccessPrincipals);
  const readAllPrincipals = parseArnList(props, PROPERTY.readAllPrincipals);
  const auditLogs = parseBool(props, PROPERTY.auditLogs, false);
  if (fineGrainedAccessControl && serverPrincipals.length === 0) {
    throw new PropertyError(PROPERTY.serverPrincipals, props[PROPERTY.serverPrincipals], 'at least one IAM role ARN when FineGrainedAccessControl is "true"');
  }
  if (!fineGrainedAccessControl) {
    for (const [name, on] of [[PROPERTY.serverPrincipals, serverPrincipals.length > 0], [PROPERTY.allAccessPrincipals, allAccessPrincipals.length > 0],
      [PROPERTY.readAllPrincipals, readAllPrincipals.length > 0], [PROPERTY.auditLogs, auditLogs]] as const) {
      if (on) throw new PropertyError(name, props[name], 'absent unless FineGrainedAccessControl is "true"');
    }
  }
  return {
    fineGrainedAccessControl, serverPrincipals, allAccessPrincipals, readAllPrincipals, auditLogs,
    endpoint,
    region,
    signing: parseBool(props, PROPERTY.signing, true),
    indexName,
    templateName,
    templateVersion,
    template,
    contentHash,
    disableAutoCreateIndex: parseBool(props, PROPERTY.disableAutoCreateIndex, true),
    destroyIndexOnDelete: parseBool(props, PROPERTY.destroyIndexOnDelete, false),
  };
}

/**
 * Parses a template body and checks the parts the handler relies on: index_patterns (non-empty
 * string array), settings.index.sort.field (non-empty) and mappings.properties (each with a type).
 * @throws PropertyError for TemplateBody.
 */
export function parseTemplate(body: string): IndexTemplate {
  let t: unknown;
  try {
    t = JSON.parse(body);
  } catch (e) {
    throw new PropertyError(PROPERTY.templateBody, body, `must be JSON (${(e as Error).message})`);
  }
  const tpl = t as IndexTemplate;
  const bad = (what: string): never => {
    throw new PropertyError(PROPERTY.templateBody, body, what);
  };
  if (typeof t !== 'object' || t === null) bad('must be a JSON object');
  if (!Array.isArray(tpl.index_patterns) || tpl.index_patterns.length === 0 || !tpl.index_patterns.every((p) => typeof p === 'string')) {
    bad('index_patterns must be a non-empty array of strings');
  }
  if (typeof tpl.settings?.index !== 'object' || tpl.settings.index === null) bad('settings.index must be an object');
  const sort = tpl.settings.index['sort.field'];
  if (!Array.isArray(sort) || sort.length === 0) bad('settings.index["sort.field"] must be a non-empty array');
  const properties = tpl.mappings?.properties;
  if (typeof properties !== 'object' || properties === null || Object.keys(properties).length === 0) {
    bad('mappings.properties must be a non-empty object');
  }
  for (const [name, field] of Object.entries(properties)) {
    if (typeof field?.type !== 'string') bad(`mappings.properties.${name}.type must be a string`);
  }
  return tpl;
}
