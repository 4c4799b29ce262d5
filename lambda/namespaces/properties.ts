/**
 * Properties of `Custom::TemporalNamespaces` (set by lib/namespaces/namespaces.ts) and their parsing.
 * CloudFormation hands every scalar to the handler as a string, so numbers and booleans are parsed
 * here; the values were already checked at synth (lib/namespaces/config.ts), this only guards the
 * handler against a hand-edited template.
 */

/** Property names. */
export const PROPERTY = {
  frontendAddress: 'FrontendAddress',
  namespaces: 'Namespaces',
  searchAttributes: 'SearchAttributes',
  archivalUri: 'ArchivalUri',
  tls: 'Tls',
  auth: 'Auth',
} as const;

/** Search attribute type names (Temporal's indexed value types). */
export type SearchAttributeTypeName = 'Keyword' | 'Text' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';
const TYPES: readonly SearchAttributeTypeName[] = ['Keyword', 'Text', 'Int', 'Double', 'Bool', 'Datetime', 'KeywordList'];

/** One wanted namespace. */
export interface NamespaceSpec {
  readonly name: string;
  readonly retentionDays: number;
  readonly description: string;
  readonly archival: boolean;
  readonly ownerEmail: string;
}

/** One wanted custom search attribute. */
export interface SearchAttributeSpec {
  readonly name: string;
  readonly type: SearchAttributeTypeName;
  readonly namespace: string;
}

/** TLS to the frontend. */
export interface TlsSpec {
  /** PEM CA bundle the frontend's certificate chains to. @default - the Lambda runtime's public roots */
  readonly caCertificatePem?: string;
  /** Name checked in the frontend's certificate instead of the address's host. */
  readonly serverNameOverride?: string;
}

/** OAuth client-credentials settings (see lib/namespaces/config.ts `NamespaceAdminInput`). */
export interface AuthSpec {
  readonly tokenUrl: string;
  readonly clientSecretArn: string;
  readonly scope?: string;
  readonly audience?: string;
  readonly resource?: string;
}

/** The parsed properties. */
export interface NamespacesProperties {
  /** `host:port` of the frontend (the NLB's DNS name and 7233). */
  readonly frontendAddress: string;
  readonly namespaces: NamespaceSpec[];
  readonly searchAttributes: SearchAttributeSpec[];
  /** `s3://<bucket>` of the stack's archival bucket. @default - none (archival on is then refused) */
  readonly archivalUri?: string;
  /** @default - plain gRPC */
  readonly tls?: TlsSpec;
  /** @default - no token */
  readonly auth?: AuthSpec;
}

function fail(field: string, value: unknown, allowed: string): never {
  throw new Error(`property ${field} = ${JSON.stringify(value)}; allowed: ${allowed}`);
}

function text(field: string, v: unknown, optional = false): string {
  if (v === undefined || v === '') {
    if (optional) return '';
    fail(field, v, 'a non-empty string');
  }
  if (typeof v !== 'string') fail(field, v, 'a string');
  return v;
}

function object(field: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(field, v, 'an object');
  return v as Record<string, unknown>;
}

/**
 * Parses the resource properties.
 * @throws Error naming the property, the value and what is allowed
 */
export function parseProperties(raw: Record<string, unknown>): NamespacesProperties {
  const frontendAddress = text(PROPERTY.frontendAddress, raw[PROPERTY.frontendAddress]);
  if (!/^[^\s:]+:\d+$/.test(frontendAddress)) fail(PROPERTY.frontendAddress, frontendAddress, 'host:port');
  const nsRaw = raw[PROPERTY.namespaces] ?? [];
  if (!Array.isArray(nsRaw)) fail(PROPERTY.namespaces, nsRaw, 'a list');
  const namespaces = nsRaw.map((n, i): NamespaceSpec => {
    const f = `${PROPERTY.namespaces}[${i}]`;
    const o = object(f, n);
    const retentionDays = Number(o.RetentionDays);
    if (!Number.isInteger(retentionDays) || retentionDays < 1) fail(`${f}.RetentionDays`, o.RetentionDays, 'a whole number of days, at least 1');
    const archival = String(o.Archival ?? 'false');
    if (archival !== 'true' && archival !== 'false') fail(`${f}.Archival`, o.Archival, 'true or false');
    return {
      name: text(`${f}.Name`, o.Name),
      retentionDays,
      description: text(`${f}.Description`, o.Description, true),
      archival: archival === 'true',
      ownerEmail: text(`${f}.OwnerEmail`, o.OwnerEmail, true),
    };
  });
  const saRaw = raw[PROPERTY.searchAttributes] ?? [];
  if (!Array.isArray(saRaw)) fail(PROPERTY.searchAttributes, saRaw, 'a list');
  const searchAttributes = saRaw.map((a, i): SearchAttributeSpec => {
    const f = `${PROPERTY.searchAttributes}[${i}]`;
    const o = object(f, a);
    if (!TYPES.includes(o.Type as SearchAttributeTypeName)) fail(`${f}.Type`, o.Type, TYPES.join(', '));
    return { name: text(`${f}.Name`, o.Name), type: o.Type as SearchAttributeTypeName, namespace: text(`${f}.Namespace`, o.Namespace) };
  });
  const archivalUri = text(PROPERTY.archivalUri, raw[PROPERTY.archivalUri], true) || undefined;
  if (archivalUri && !/^s3:\/\/[a-z0-9.-]{3,63}(\/\S*)?$/.test(archivalUri)) fail(PROPERTY.archivalUri, archivalUri, 's3://<bucket>');
  let tls: TlsSpec | undefined;
  if (raw[PROPERTY.tls] !== undefined) {
    const o = object(PROPERTY.tls, raw[PROPERTY.tls]);
    const ca = text(`${PROPERTY.tls}.CaCertificatePem`, o.CaCertificatePem, true);
    const sn = text(`${PROPERTY.tls}.ServerNameOverride`, o.ServerNameOverride, true);
    tls = { ...(ca ? { caCertificatePem: ca } : {}), ...(sn ? { serverNameOverride: sn } : {}) };
  }
  let auth: AuthSpec | undefined;
  if (raw[PROPERTY.auth] !== undefined) {
    const o = object(PROPERTY.auth, raw[PROPERTY.auth]);
    const tokenUrl = text(`${PROPERTY.auth}.TokenUrl`, o.TokenUrl);
    if (!/^https?:\/\//.test(tokenUrl)) fail(`${PROPERTY.auth}.TokenUrl`, tokenUrl, 'an http(s) URL');
    const scope = text(`${PROPERTY.auth}.Scope`, o.Scope, true);
    const audience = text(`${PROPERTY.auth}.Audience`, o.Audience, true);
    const resource = text(`${PROPERTY.auth}.Resource`, o.Resource, true);
    auth = {
      tokenUrl,
      clientSecretArn: text(`${PROPERTY.auth}.ClientSecretArn`, o.ClientSecretArn),
      ...(scope ? { scope } : {}),
      ...(audience ? { audience } : {}),
      ...(resource ? { resource } : {}),
    };
  }
  return { frontendAddress, namespaces, searchAttributes, ...(archivalUri ? { archivalUri } : {}), ...(tls ? { tls } : {}), ...(auth ? { auth } : {}) };
}

/** The namespace names listed by raw (possibly old or invalid) properties; [] when unreadable. */
export function namespaceNames(raw: Record<string, unknown> | undefined): string[] {
  const list = raw?.[PROPERTY.namespaces];
  if (!Array.isArray(list)) return [];
  return list.map((n) => (n && typeof n === 'object' ? String((n as Record<string, unknown>).Name ?? '') : '')).filter((n) => n !== '');
}

/** `namespace/name` of the search attributes listed by raw properties; [] when unreadable. */
export function searchAttributeKeys(raw: Record<string, unknown> | undefined): string[] {
  const list = raw?.[PROPERTY.searchAttributes];
  if (!Array.isArray(list)) return [];
  return list.map((a) => (a && typeof a === 'object' ? `${(a as Record<string, unknown>).Namespace}/${(a as Record<string, unknown>).Name}` : '')).filter((k) => k !== '');
}
