/**
 * Secrets Manager access of the certificates handler, and the shape of the secrets it writes.
 * Every value is read and written as a whole SecretString; nothing read here is ever logged.
 */
import {
  GetSecretValueCommand, PutSecretValueCommand, ResourceNotFoundException, SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';

/**
 * SecretString of a leaf secret (the server container's contract, docs/server-container.md):
 * `certificate` PEM leaf then chain, `privateKey` PEM PKCS#8, `caBundle` PEM CA certificate(s).
 */
export interface LeafSecretValue {
  readonly certificate: string;
  readonly privateKey: string;
  readonly caBundle: string;
}

/** One generation of the stack's CA, as kept in the CA secret. */
export interface CaGeneration {
  readonly generation: number;
  readonly certificate: string;
  readonly privateKey: string;
}

/** SecretString of the CA secret: every CA generation created so far, oldest first. */
export interface CaSecretValue {
  readonly authorities: readonly CaGeneration[];
}

/** A secret's current value: parsed JSON (or `undefined` when absent or not ours) and its version id. */
export interface StoredValue<T> {
  readonly value?: T;
  readonly versionId?: string;
}

/**
 * Reads `AWSCURRENT` (or the given version/stage); a value that is not a JSON object reads as
 * `undefined`. The stage is always named: the API's default is the same on AWS, and moto (the
 * tests' stand-in) keeps returning the pre-rotation version when none is named.
 */
export async function readJson<T>(sm: SecretsManagerClient, secretArn: string, version?: { versionId?: string; stage?: string }): Promise<StoredValue<T>> {
  let r;
  try {
    r = await sm.send(new GetSecretValueCommand({ SecretId: secretArn, VersionId: version?.versionId, VersionStage: version ? version.stage : 'AWSCURRENT' }));
  } catch (e) {
    if (e instanceof ResourceNotFoundException || (e as Error).name === 'ResourceNotFoundException') {
      if (version) return {};
      throw new Error(`secret ${secretArn} does not exist or has no value; it is created by the stack (lib/security/certificates.ts): deploy the stack again`);
    }
    throw e;
  }
  try {
    const v = JSON.parse(r.SecretString ?? '');
    return { value: v && typeof v === 'object' ? v as T : undefined, versionId: r.VersionId };
  } catch {
    // The placeholder CloudFormation generated when it created the secret: not ours yet.
    return { versionId: r.VersionId };
  }
}

/** Writes a new version; it becomes AWSCURRENT unless `stages` says otherwise. */
export async function writeJson(sm: SecretsManagerClient, secretArn: string, value: object, o: { token?: string; stages?: string[] } = {}): Promise<string | undefined> {
  const r = await sm.send(new PutSecretValueCommand({
    SecretId: secretArn,
    SecretString: JSON.stringify(value),
    ClientRequestToken: o.token,
    VersionStages: o.stages,
  }));
  return r.VersionId;
}

/** Whether a parsed value has the leaf secret's three string fields. */
export function isLeafValue(v: unknown): v is LeafSecretValue {
  const o = v as Record<string, unknown> | undefined;
  return !!o && typeof o.certificate === 'string' && typeof o.privateKey === 'string' && typeof o.caBundle === 'string';
}
