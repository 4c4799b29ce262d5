/**
 * The handler's configuration: one JSON document, given both as the custom resource's `Config`
 * property (so that a change is an Update) and as the function's CERTIFICATES_CONFIG environment
 * variable (what the rotation steps read). lib/security/certificates.ts writes both from the same object.
 * It names secrets and DNS names only; it never holds key material.
 */
import type { LeafUsage } from './x509';

/** One leaf certificate and the secret that holds it. */
export interface LeafConfig {
  /** Short name used in messages and attribute names: `internode` or `frontend`. */
  readonly name: string;
  /** ARN of the secret (SecretString `{certificate, privateKey, caBundle}`). */
  readonly secretArn: string;
  /** DNS SANs; the first is also the subject CN. 1 to 20 names, each 1-253 characters. */
  readonly dnsNames: readonly string[];
  readonly usage: LeafUsage;
}

/** Configuration of the certificates handler. Exactly one of `caSecretArn` and `privateCaArn`. */
export interface CertificatesConfig {
  /** Secret holding the stack's own CA (self-signed mode). */
  readonly caSecretArn?: string;
  /** AWS Private CA that issues the leaves (Private CA mode). */
  readonly privateCaArn?: string;
  /** Subject CN of the stack's CA (self-signed mode). */
  readonly caCommonName: string;
  /** Validity of a new stack CA, in days. */
  readonly caValidityDays: number;
  /** Generation of the stack CA that signs leaves (starts at 1; raised to rotate the CA). */
  readonly caGeneration: number;
  /** Whether generation `caGeneration + 1` is created and trusted (in every bundle) before it signs. */
  readonly caTrustNext: boolean;
  /** Validity of a new leaf, in days. */
  readonly leafValidityDays: number;
  /** A leaf with this many days or fewer left is replaced. */
  readonly renewBeforeDays: number;
  readonly leaves: readonly LeafConfig[];
}

/** An invalid configuration; the message names the field, the value and what is allowed. */
export class CertificatesConfigError extends Error {
  constructor(field: string, value: unknown, allowed: string) {
    super(`certificates configuration: ${field} = ${JSON.stringify(value)}; allowed: ${allowed}`);
    this.name = 'CertificatesConfigError';
  }
}

const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

function integer(o: Record<string, unknown>, field: string, min: number, max: number): number {
  const v = typeof o[field] === 'string' ? Number(o[field]) : o[field];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new CertificatesConfigError(field, o[field], `an integer from ${min} to ${max}`);
  }
  return v;
}

/**
 * Parses and checks the configuration JSON.
 * @throws CertificatesConfigError naming the first bad field
 */
export function parseConfig(json: string | undefined): CertificatesConfig {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json ?? '');
  } catch {
    throw new CertificatesConfigError('(document)', json?.slice(0, 40), 'a JSON object (set by lib/security/certificates.ts)');
  }
  if (!o || typeof o !== 'object') throw new CertificatesConfigError('(document)', o, 'a JSON object');
  const ca = typeof o.caSecretArn === 'string' && o.caSecretArn !== '';
  const pca = typeof o.privateCaArn === 'string' && o.privateCaArn !== '';
  if (ca === pca) throw new CertificatesConfigError('caSecretArn/privateCaArn', [o.caSecretArn, o.privateCaArn], 'exactly one of the two');
  if (pca && !/^arn:aws[a-z-]*:acm-pca:[a-z0-9-]+:\d{12}:certificate-authority\/[0-9a-f-]{36}$/.test(o.privateCaArn as string)) {
    throw new CertificatesConfigError('privateCaArn', o.privateCaArn, 'arn:<partition>:acm-pca:<region>:<account>:certificate-authority/<uuid>');
  }
  const leafValidityDays = integer(o, 'leafValidityDays', 2, 825);
  const renewBeforeDays = integer(o, 'renewBeforeDays', 1, leafValidityDays - 1);
  const leaves = o.leaves;
  if (!Array.isArray(leaves) || leaves.length === 0) throw new CertificatesConfigError('leaves', leaves, 'a non-empty list');
  const parsed: LeafConfig[] = leaves.map((l: Record<string, unknown>, i: number) => {
    if (typeof l?.name !== 'string' || !/^[a-z][a-z0-9-]*$/.test(l.name)) throw new CertificatesConfigError(`leaves[${i}].name`, l?.name, 'lower-case letters, digits and dashes');
    if (typeof l.secretArn !== 'string' || !l.secretArn.startsWith('arn:')) throw new CertificatesConfigError(`leaves[${i}].secretArn`, l.secretArn, 'a secret ARN');
    const names = l.dnsNames;
    if (!Array.isArray(names) || names.length < 1 || names.length > 20 || !names.every((n) => typeof n === 'string' && DNS_NAME.test(n))) {
      throw new CertificatesConfigError(`leaves[${i}].dnsNames`, names, '1 to 20 DNS names');
    }
    if (names[0].length > 64) throw new CertificatesConfigError(`leaves[${i}].dnsNames[0]`, names[0], 'at most 64 characters (it is also the subject CN)');
    if (l.usage !== 'server' && l.usage !== 'server+client') throw new CertificatesConfigError(`leaves[${i}].usage`, l.usage, '"server" or "server+client"');
    return { name: l.name, secretArn: l.secretArn, dnsNames: names.map((n: string) => n.toLowerCase().replace(/\.$/, '')), usage: l.usage };
  });
  return {
    caSecretArn: ca ? o.caSecretArn as string : undefined,
    privateCaArn: pca ? o.privateCaArn as string : undefined,
    caCommonName: typeof o.caCommonName === 'string' && o.caCommonName.length > 0 && o.caCommonName.length <= 56
      ? o.caCommonName : (() => { throw new CertificatesConfigError('caCommonName', o.caCommonName, '1 to 56 characters (the CN gets " G<generation>")'); })(),
    caValidityDays: integer(o, 'caValidityDays', leafValidityDays + 1, 36500),
    caGeneration: integer(o, 'caGeneration', 1, 1000),
    caTrustNext: o.caTrustNext === true || o.caTrustNext === 'true',
    leafValidityDays,
    renewBeforeDays,
    leaves: parsed,
  };
}
