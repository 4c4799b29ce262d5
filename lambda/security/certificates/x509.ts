/**
 * X.509 work of the certificates handler: key pairs, the stack's self-signed CA, leaf certificates
 * signed by it, certificate signing requests for AWS Private CA, and the checks that decide
 * whether a stored certificate can be kept.
 *
 * Generation uses `@peculiar/x509` over Node's WebCrypto (no home-made ASN.1); the checks use
 * Node's own `crypto.X509Certificate` (OpenSSL underneath), so what is produced is read back by a
 * second implementation. Keys are ECDSA P-256 with SHA-256 signatures: accepted by Go's crypto/tls
 * (Temporal's TLS), by AWS Private CA for CSRs whatever the CA's own key type, and small enough
 * that a bundle of three CA certificates fits in a custom resource response (4 KiB).
 */
// @peculiar/x509 resolves its algorithms through tsyringe, which needs a Reflect metadata polyfill first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate } from 'crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
/** Backdating of notBefore, for clocks of peers that lag a little. */
const CLOCK_SKEW_MS = 5 * 60_000;
const DAY_MS = 86_400_000;

/** OIDs of the extended key usages (RFC 5280 4.2.1.12). */
export const EKU = { serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2' } as const;

/** What a leaf certificate is for: `server` (serverAuth) or `server+client` (serverAuth and clientAuth, for mutual TLS). */
export type LeafUsage = 'server' | 'server+client';

/** EKU OIDs of a usage. */
export function usageOids(usage: LeafUsage): string[] {
  return usage === 'server' ? [EKU.serverAuth] : [EKU.serverAuth, EKU.clientAuth];
}

/** A key pair in PEM: `privateKey` PKCS#8, `publicKey` SPKI. */
export interface PemKeyPair {
  readonly privateKey: string;
  readonly publicKey: string;
  readonly keys: webcrypto.CryptoKeyPair;
}

/** A certificate authority: its certificate and its private key, both PEM. */
export interface CaMaterial {
  readonly certificate: string;
  readonly privateKey: string;
}

/** Generates an ECDSA P-256 key pair (extractable, for export to PEM). */
export async function generateKeyPair(): Promise<PemKeyPair> {
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const spki = await webcrypto.subtle.exportKey('spki', keys.publicKey);
  return {
    keys,
    privateKey: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
    publicKey: x509.PemConverter.encode(spki, 'PUBLIC KEY'),
  };
}

/** A positive 128-bit serial number in hex (RFC 5280 asks for at most 20 octets, positive). */
function serialNumber(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  b[0] |= 0x01;
  return b.toString('hex');
}

/**
 * Creates a self-signed CA: CN=`commonName`, basicConstraints CA:TRUE pathlen:0 (critical), key
 * usage keyCertSign+cRLSign (critical), subject key identifier; valid from now (less 5 minutes)
 * for `validityDays` days.
 */
export async function createSelfSignedCa(commonName: string, validityDays: number, now = new Date()): Promise<CaMaterial> {
  const pair = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: [{ CN: [commonName] }],
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + validityDays * DAY_MS),
    keys: pair.keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(pair.keys.publicKey),
    ],
  });
  return { certificate: cert.toString('pem'), privateKey: pair.privateKey };
}

/** What a leaf certificate must say. */
export interface LeafSpec {
  /** DNS subject alternative names; the first is also the subject CN (at most 64 characters). */
  readonly dnsNames: readonly string[];
  readonly usage: LeafUsage;
}

function leafExtensions(spec: LeafSpec): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(usageOids(spec.usage), false),
    new x509.SubjectAlternativeNameExtension(spec.dnsNames.map((value) => ({ type: 'dns' as const, value })), false),
  ];
}

/**
 * Issues a leaf certificate signed by `ca`, with a new key pair: basicConstraints CA:FALSE, key
 * usage digitalSignature, the EKUs of `spec.usage`, DNS SANs `spec.dnsNames`, authority and
 * subject key identifiers; valid from now (less 5 minutes) for `validityDays` days.
 * @returns PEM certificate and PKCS#8 private key
 */
export async function issueLeaf(ca: CaMaterial, spec: LeafSpec, validityDays: number, now = new Date()): Promise<{ certificate: string; privateKey: string }> {
  const caCert = new x509.X509Certificate(ca.certificate);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.privateKey), EC_KEY, false, ['sign']);
  const pair = await generateKeyPair();
  const notAfter = new Date(now.getTime() + validityDays * DAY_MS);
  if (notAfter > caCert.notAfter) {
    throw new Error(`the CA ${caCert.subject} expires on ${caCert.notAfter.toISOString()}, before a ${validityDays}-day certificate would; rotate the CA (docs/certificates.md, "Rotating the stack CA")`);
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: [{ CN: [spec.dnsNames[0]] }],
    issuer: caCert.subjectName,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter,
    publicKey: pair.keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING,
    extensions: [
      ...leafExtensions(spec),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
      await x509.SubjectKeyIdentifierExtension.create(pair.keys.publicKey),
    ],
  });
  return { certificate: cert.toString('pem'), privateKey: pair.privateKey };
}

/**
 * Creates a new key pair and a PKCS#10 request for it (CN = first DNS name, SAN extension with
 * every DNS name), for AWS Private CA's IssueCertificate; the CA's template sets the key usages.
 */
export async function createCsr(spec: LeafSpec): Promise<{ csr: string; privateKey: string }> {
  const pair = await generateKeyPair();
  const req = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [spec.dnsNames[0]] }],
    keys: pair.keys,
    signingAlgorithm: SIGNING,
    extensions: [new x509.SubjectAlternativeNameExtension(spec.dnsNames.map((value) => ({ type: 'dns' as const, value })), false)],
  });
  return { csr: req.toString('pem'), privateKey: pair.privateKey };
}

/** Splits concatenated PEM certificates into one PEM string each (normalized line endings). */
export function splitPem(pem: string): string[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((p) => `${p.replace(/\r\n/g, '\n').trim()}\n`);
}

/** Joins PEM certificates, dropping duplicates (same DER) and keeping the first occurrence's order. */
export function joinPem(pems: readonly string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const p of pems.flatMap(splitPem)) {
    const der = new X509Certificate(p).raw.toString('base64');
    if (!seen.has(der)) {
      seen.add(der);
      out.push(p);
    }
  }
  return out.join('');
}

/**
 * The self-signed (root) certificates of a bundle, in bundle order: the trust anchors a client
 * needs, since every server sends its intermediates after its leaf. A bundle without a root
 * (a Private CA chained to a root it does not return) is returned whole.
 */
export function trustAnchors(bundle: string): string {
  const roots = splitPem(bundle).filter((pem) => {
    const c = new X509Certificate(pem);
    return c.checkIssued(c) && c.verify(c.publicKey);
  });
  return roots.length > 0 ? roots.join('') : joinPem([bundle]);
}

/** DNS names of a certificate's subjectAltName, sorted. */
export function dnsNamesOf(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '').split(',').map((s) => s.trim()).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)).sort();
}

/** Why a stored leaf must be replaced, or `undefined` when it can be kept. */
export interface LeafCheck {
  readonly certificate: string;
  readonly privateKey: string;
  /** Certificates of the authority that must have signed the leaf (the first one that verifies counts). */
  readonly issuers: readonly string[];
  readonly spec: LeafSpec;
  /** Replace when fewer than this many days are left. */
  readonly renewBeforeDays: number;
  readonly now?: Date;
}

/**
 * Decides whether a stored leaf can be kept: it parses, its key pair matches, it was signed by one
 * of `issuers`, its DNS SANs and EKUs are exactly those of the spec, and more than
 * `renewBeforeDays` days are left. Returns the first reason to replace it, or `undefined`.
 * Reasons never contain key material.
 */
export function reasonToReplace(c: LeafCheck): string | undefined {
  const now = c.now ?? new Date();
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(splitPem(c.certificate)[0] ?? '');
  } catch {
    return 'the stored certificate does not parse';
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(c.privateKey))) return 'the stored private key does not belong to the certificate';
  } catch {
    return 'the stored private key does not parse';
  }
  const signed = c.issuers.some((pem) => {
    try {
      const issuer = new X509Certificate(pem);
      return leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey);
    } catch {
      return false;
    }
  });
  if (!signed) return 'the certificate was not signed by the current CA';
  const want = [...c.spec.dnsNames].sort();
  const have = dnsNamesOf(leaf);
  if (want.join(',') !== have.join(',')) return `its DNS names ${have.join(', ')} differ from ${want.join(', ')}`;
  const eku = [...(leaf.keyUsage ?? [])].sort().join(',');
  if (eku !== [...usageOids(c.spec.usage)].sort().join(',')) return `its extended key usages ${eku || 'none'} are not those of ${c.spec.usage}`;
  const daysLeft = (new Date(leaf.validTo).getTime() - now.getTime()) / DAY_MS;
  if (daysLeft <= c.renewBeforeDays) return `it expires on ${new Date(leaf.validTo).toISOString()}, within ${c.renewBeforeDays} days`;
  return undefined;
}

/** SPKI of a PEM private key, base64 (to compare keys without printing them). */
export function publicKeyOf(privateKeyPem: string): string {
  return createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'der' }).toString('base64');
}
