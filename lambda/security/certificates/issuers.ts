/**
 * The two certificate authorities the handler can issue from:
 *   - {@link loadStackCa}: the stack's own CA, key and certificate kept in the CA secret (created
 *     here on first use, one generation at a time; an existing generation is never replaced);
 *   - {@link loadPrivateCa}: an AWS Private CA, through IssueCertificate and GetCertificate.
 * Both give an {@link Issuer}: the certificates that sign leaves, the bundle clients trust, and
 * `issue`.
 */
import {
  ACMPCAClient, DescribeCertificateAuthorityCommand, GetCertificateAuthorityCertificateCommand,
  GetCertificateCommand, IssueCertificateCommand, waitUntilCertificateIssued,
} from '@aws-sdk/client-acm-pca';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createHash, X509Certificate } from 'crypto';
import type { CertificatesConfig } from './config';
import { CaGeneration, CaSecretValue, readJson, writeJson } from './secrets';
import { createCsr, createSelfSignedCa, issueLeaf, joinPem, LeafSpec } from './x509';

/** Something that issues leaf certificates. */
export interface Issuer {
  /** `stack-ca generation N` or `private-ca <arn>`, for messages. */
  readonly description: string;
  /** Certificates a kept leaf must have been signed by. */
  readonly signers: readonly string[];
  /** PEM bundle clients and roles trust (published as `CaBundle`). */
  readonly caBundle: string;
  /** Issues a new leaf with a new key. `certificate` is the leaf followed by its chain. */
  issue(spec: LeafSpec, validityDays: number): Promise<{ certificate: string; privateKey: string }>;
}

/**
 * Loads the stack CA from its secret. With `create`, first makes sure generations `caGeneration`
 * (and `caGeneration + 1` when `caTrustNext`) exist, creating the missing ones and writing the
 * secret before any leaf is issued (a crash after that leaves a CA that the next attempt reuses).
 * Without `create` (rotation steps), a missing generation is an error.
 *
 * Bundle: generations `caGeneration - 1` (so leaves of the previous CA stay trusted while a CA
 * switch rolls out), `caGeneration` and, with `caTrustNext`, `caGeneration + 1`; newest first.
 */
export async function loadStackCa(sm: SecretsManagerClient, config: CertificatesConfig, o: { create: boolean; log?: (m: string) => void }): Promise<Issuer> {
  const arn = config.caSecretArn!;
  const stored = await readJson<CaSecretValue>(sm, arn);
  const authorities: CaGeneration[] = Array.isArray(stored.value?.authorities) ? [...stored.value!.authorities] : [];
  const wanted = [config.caGeneration, ...(config.caTrustNext ? [config.caGeneration + 1] : [])];
  const missing = wanted.filter((g) => !authorities.some((a) => a.generation === g));
  if (missing.length > 0) {
    if (!o.create) {
      throw new Error(`the CA secret ${arn} holds no CA generation ${missing.join(', ')}; deploy the stack (its certificates custom resource creates the CA) before rotating`);
    }
    for (const g of missing) {
      const ca = await createSelfSignedCa(`${config.caCommonName} G${g}`, config.caValidityDays);
      authorities.push({ generation: g, ...ca });
      o.log?.(`created stack CA generation ${g}`);
    }
    authorities.sort((a, b) => a.generation - b.generation);
    await writeJson(sm, arn, { authorities } satisfies CaSecretValue);
  }
  const signer = authorities.find((a) => a.generation === config.caGeneration)!;
  const trusted = authorities
    .filter((a) => a.generation >= config.caGeneration - 1 && a.generation <= config.caGeneration + (config.caTrustNext ? 1 : 0))
    .sort((a, b) => b.generation - a.generation);
  return {
    description: `stack CA generation ${signer.generation}`,
    signers: [signer.certificate],
    caBundle: joinPem(trusted.map((a) => a.certificate)),
    issue: (spec, days) => issueLeaf(signer, spec, days),
  };
}

/** Templates of AWS Private CA (https://docs.aws.amazon.com/privateca/latest/userguide/UsingTemplates.html). */
function templateArn(caArn: string, spec: LeafSpec): string {
  const partition = caArn.split(':')[1];
  const template = spec.usage === 'server' ? 'EndEntityServerAuthCertificate/V1' : 'EndEntityCertificate/V1';
  return `arn:${partition}:acm-pca:::template/${template}`;
}

/**
 * Loads an AWS Private CA: it must be ACTIVE; its certificate and chain form the bundle; leaves
 * are issued from a CSR made here (the private key never leaves the handler) with the
 * EndEntityCertificate/V1 template (serverAuth+clientAuth, SANs passed through from the CSR) or
 * EndEntityServerAuthCertificate/V1 (serverAuth), signed with the CA's configured algorithm.
 */
export async function loadPrivateCa(pca: ACMPCAClient, caArn: string, o: { maxWaitSeconds?: number } = {}): Promise<Issuer> {
  const d = await pca.send(new DescribeCertificateAuthorityCommand({ CertificateAuthorityArn: caArn }));
  const status = d.CertificateAuthority?.Status;
  if (status !== 'ACTIVE') {
    throw new Error(`AWS Private CA ${caArn} is ${status ?? 'unknown'}, not ACTIVE; install its CA certificate or restore it, then deploy again`);
  }
  const signingAlgorithm = d.CertificateAuthority?.CertificateAuthorityConfiguration?.SigningAlgorithm;
  const c = await pca.send(new GetCertificateAuthorityCertificateCommand({ CertificateAuthorityArn: caArn }));
  if (!c.Certificate) throw new Error(`AWS Private CA ${caArn} returned no CA certificate`);
  const caBundle = joinPem([c.Certificate, c.CertificateChain ?? '']);
  const caNotAfter = new Date(new X509Certificate(c.Certificate).validTo);
  return {
    description: `AWS Private CA ${caArn}`,
    signers: [c.Certificate],
    caBundle,
    async issue(spec, days) {
      if (caNotAfter.getTime() < Date.now() + days * 86_400_000) {
        throw new Error(`AWS Private CA ${caArn} expires on ${caNotAfter.toISOString()}, before a ${days}-day certificate would; renew the CA certificate or lower leafValidity`);
      }
      const { csr, privateKey } = await createCsr(spec);
      const issued = await pca.send(new IssueCertificateCommand({
        CertificateAuthorityArn: caArn,
        Csr: Buffer.from(csr),
        SigningAlgorithm: signingAlgorithm ?? 'SHA256WITHRSA',
        TemplateArn: templateArn(caArn, spec),
        Validity: { Type: 'DAYS', Value: days },
        // Same CSR, same certificate when a throttled call is retried (valid for 5 minutes).
        IdempotencyToken: createHash('sha256').update(csr).digest('hex').slice(0, 36),
      }));
      await waitUntilCertificateIssued(
        { client: pca, maxWaitTime: o.maxWaitSeconds ?? 120, minDelay: 1, maxDelay: 5 },
        { CertificateAuthorityArn: caArn, CertificateArn: issued.CertificateArn! },
      );
      const got = await pca.send(new GetCertificateCommand({ CertificateAuthorityArn: caArn, CertificateArn: issued.CertificateArn! }));
      return { certificate: joinPem([got.Certificate!, got.CertificateChain ?? '']), privateKey };
    },
  };
}
