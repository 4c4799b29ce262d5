/**
 * Secrets Manager rotation of a leaf secret (the four steps of
 * https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html):
 *   - createSecret: issue a new certificate and key from the same CA and store them as the
 *     AWSPENDING version of the rotation's token (skipped when that version already exists, so a
 *     retried step issues nothing twice);
 *   - setSecret: nothing (no other system holds the certificate; the servers re-read the secret
 *     every TEMPORAL_TLS_REFRESH);
 *   - testSecret: the pending value must chain to the CA, match its key, carry the configured
 *     SANs/EKUs and the current bundle;
 *   - finishSecret: move AWSCURRENT to the token's version.
 * A rotation always issues a new leaf (an operator's `aws secretsmanager rotate-secret` is a
 * forced renewal). It never creates a CA: the custom resource does.
 */
import {
  DescribeSecretCommand, SecretsManagerClient, UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import type { CertificatesConfig, LeafConfig } from './config';
import type { Issuer } from './issuers';
import { leafReplaceReason, newLeafValue } from './reconcile';
import { LeafSecretValue, readJson, writeJson } from './secrets';

/** The event Secrets Manager sends to a rotation function. */
export interface RotationEvent {
  readonly Step: 'createSecret' | 'setSecret' | 'testSecret' | 'finishSecret';
  readonly SecretId: string;
  readonly ClientRequestToken: string;
}

/** Whether an event is a rotation step. */
export function isRotationEvent(e: unknown): e is RotationEvent {
  const o = e as Record<string, unknown> | undefined;
  return !!o && typeof o.Step === 'string' && typeof o.SecretId === 'string' && typeof o.ClientRequestToken === 'string';
}

/** The configured leaf whose secret is `secretId` (an ARN; a name or partial ARN matches its prefix). */
export function leafOf(config: CertificatesConfig, secretId: string): LeafConfig {
  const leaf = config.leaves.find((l) => l.secretArn === secretId || l.secretArn.startsWith(`${secretId}-`) || l.secretArn.split(':secret:')[1]?.startsWith(secretId));
  if (!leaf) {
    throw new Error(`secret ${secretId} is not one of this function's certificate secrets (${config.leaves.map((l) => l.name).join(', ')}); rotation of other secrets is not supported`);
  }
  return leaf;
}

/**
 * Runs one rotation step for a leaf secret. `issuer` is loaded lazily (only createSecret and
 * testSecret need the CA).
 * @throws Error in operator words when the step cannot complete (Secrets Manager retries and then
 *   marks the rotation failed; AWSCURRENT stays the old, still valid certificate)
 */
export async function rotate(sm: SecretsManagerClient, config: CertificatesConfig, event: RotationEvent, issuer: () => Promise<Issuer>, log: (m: string) => void = () => undefined): Promise<void> {
  const leaf = leafOf(config, event.SecretId);
  const token = event.ClientRequestToken;
  switch (event.Step) {
    case 'createSecret': {
      const pending = await readJson<LeafSecretValue>(sm, leaf.secretArn, { versionId: token, stage: 'AWSPENDING' });
      if (pending.versionId) {
        log(`${leaf.name}: createSecret: version ${token} exists, nothing to issue`);
        return;
      }
      const value = await newLeafValue(leaf, await issuer(), config);
      await writeJson(sm, leaf.secretArn, value, { token, stages: ['AWSPENDING'] });
      log(`${leaf.name}: createSecret: issued a new certificate as version ${token}`);
      return;
    }
    case 'setSecret':
      return;
    case 'testSecret': {
      const pending = await readJson<LeafSecretValue>(sm, leaf.secretArn, { versionId: token, stage: 'AWSPENDING' });
      const iss = await issuer();
      const reason = leafReplaceReason(pending.value, leaf, iss, config);
      if (reason !== undefined) throw new Error(`${leaf.name}: the pending certificate (version ${token}) fails its test: ${reason}`);
      if (pending.value!.caBundle !== iss.caBundle) throw new Error(`${leaf.name}: the pending version ${token} carries an outdated CA bundle`);
      return;
    }
    case 'finishSecret': {
      const d = await sm.send(new DescribeSecretCommand({ SecretId: leaf.secretArn }));
      const current = Object.entries(d.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes('AWSCURRENT'))?.[0];
      if (current === token) return;
      await sm.send(new UpdateSecretVersionStageCommand({
        SecretId: leaf.secretArn, VersionStage: 'AWSCURRENT', MoveToVersionId: token, RemoveFromVersionId: current,
      }));
      log(`${leaf.name}: finishSecret: version ${token} is AWSCURRENT`);
      return;
    }
    default:
      throw new Error(`unknown rotation step ${JSON.stringify((event as { Step: unknown }).Step)}`);
  }
}
