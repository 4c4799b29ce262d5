/**
 * What the custom resource does on Create and Update: make every leaf secret hold a certificate
 * that matches the configuration, issuing only when needed. Running it again with nothing changed
 * writes nothing (idempotent); a crash part-way is resumed by the next run (each secret is written
 * whole, the CA before any leaf).
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CertificatesConfig, LeafConfig } from './config';
import type { Issuer } from './issuers';
import { isLeafValue, LeafSecretValue, readJson, writeJson } from './secrets';
import { reasonToReplace } from './x509';

/** What happened to one leaf secret. */
export interface LeafOutcome {
  readonly name: string;
  /** `kept` (nothing written), `bundle` (same certificate, new CA bundle) or `issued`. */
  readonly action: 'kept' | 'bundle' | 'issued';
  /** Why a new certificate was issued. */
  readonly reason?: string;
}

/** Checks a stored leaf value against the configuration; `undefined` when it can be kept. */
export function leafReplaceReason(stored: unknown, leaf: LeafConfig, issuer: Issuer, config: CertificatesConfig, now?: Date): string | undefined {
  if (!isLeafValue(stored)) return 'the secret holds no certificate yet';
  return reasonToReplace({
    certificate: stored.certificate,
    privateKey: stored.privateKey,
    issuers: issuer.signers,
    spec: leaf,
    renewBeforeDays: config.renewBeforeDays,
    now,
  });
}

/** Issues a new leaf value (certificate, key, current bundle). */
export async function newLeafValue(leaf: LeafConfig, issuer: Issuer, config: CertificatesConfig): Promise<LeafSecretValue> {
  const issued = await issuer.issue(leaf, config.leafValidityDays);
  return { certificate: issued.certificate, privateKey: issued.privateKey, caBundle: issuer.caBundle };
}

/**
 * Brings every leaf secret of `config` in line. Errors name the leaf and the secret; they never
 * carry key material.
 */
export async function reconcileLeaves(sm: SecretsManagerClient, config: CertificatesConfig, issuer: Issuer, log: (m: string) => void = () => undefined): Promise<LeafOutcome[]> {
  const out: LeafOutcome[] = [];
  for (const leaf of config.leaves) {
    try {
      const stored = await readJson<unknown>(sm, leaf.secretArn);
      const reason = leafReplaceReason(stored.value, leaf, issuer, config);
      if (reason === undefined) {
        const v = stored.value as LeafSecretValue;
        if (v.caBundle === issuer.caBundle) {
          out.push({ name: leaf.name, action: 'kept' });
        } else {
          await writeJson(sm, leaf.secretArn, { ...v, caBundle: issuer.caBundle } satisfies LeafSecretValue);
          out.push({ name: leaf.name, action: 'bundle' });
        }
      } else {
        await writeJson(sm, leaf.secretArn, await newLeafValue(leaf, issuer, config));
        out.push({ name: leaf.name, action: 'issued', reason });
      }
      log(`${leaf.name}: ${out[out.length - 1].action}${reason ? ` (${reason})` : ''}`);
    } catch (e) {
      throw new Error(`${leaf.name} certificate (secret ${leaf.secretArn}) from ${issuer.description}: ${(e as Error).message}`);
    }
  }
  return out;
}
