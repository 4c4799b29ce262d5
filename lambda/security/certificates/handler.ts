/**
 * Handler of `Custom::TemporalCertificates` (CDK Provider framework onEvent) and rotation function
 * of its leaf secrets: one Lambda function, one role scoped to exactly these secrets (and the
 * Private CA when one is configured). The event's shape picks the path: a CloudFormation request
 * (`RequestType`) or a Secrets Manager rotation step (`Step`).
 *
 * Custom resource: property `Config` (JSON, see config.ts). Create/Update create the stack CA
 * when missing (self-signed mode) and bring both leaf secrets in line (reconcile.ts); attributes
 * `CaBundle` (PEM, public: the bundle's root certificates, which is what clients need since servers
 * send their intermediates; at most {@link MAX_DATA_BYTES} with the other attributes), `InternodeSecretArn`, `FrontendSecretArn` (when those leaves exist),
 * `Issued` (names of the leaves issued by this run, comma-separated, or `none`). Delete does
 * nothing: the secrets are retained by their CloudFormation removal policy, the CA secret always.
 * Rotation: environment CERTIFICATES_CONFIG, the same JSON (rotation.ts).
 *
 * Logs name secrets, leaves and reasons only: never a key, a certificate or a secret value.
 */
import { ACMPCAClient } from '@aws-sdk/client-acm-pca';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { CertificatesConfig, parseConfig } from './config';
import { Issuer, loadPrivateCa, loadStackCa } from './issuers';
import { reconcileLeaves } from './reconcile';
import { isRotationEvent, rotate, RotationEvent } from './rotation';
import { trustAnchors } from './x509';
import { ProviderResponse, shortError } from '../../shared/custom-resource';

export { MAX_REASON_CHARS } from '../../shared/custom-resource';

/**
 * Attributes kept below this size: CloudFormation takes a custom resource response of at most
 * 4096 bytes, and the Provider framework adds the ids, status and request fields around them.
 */
export const MAX_DATA_BYTES = 3300;

/** AWS clients of the handler (tests point them at a local stand-in). */
export interface CertificateClients {
  readonly secretsManager: SecretsManagerClient;
  readonly privateCa: ACMPCAClient;
}

/** Response of onEvent (Provider framework). */
export type OnEventResponse = ProviderResponse;

function fail(prefix: string, e: unknown): never {
  throw shortError(e, { prefix, foldWhitespace: true });
}

function log(entry: Record<string, unknown>): void {
  if (process.env.CERTIFICATES_HANDLER_QUIET !== '1') console.log(JSON.stringify(entry));
}

async function issuerFor(clients: CertificateClients, config: CertificatesConfig, create: boolean): Promise<Issuer> {
  return config.privateCaArn
    ? loadPrivateCa(clients.privateCa, config.privateCaArn)
    : loadStackCa(clients.secretsManager, config, { create, log: (m) => log({ phase: 'ca', message: m }) });
}

/** Physical id: the first leaf secret's ARN (stable for the life of the resource). */
function physicalId(config: CertificatesConfig): string {
  return `temporal-certificates:${config.leaves[0].secretArn}`;
}

/** Custom resource requests. */
export async function onCustomResource(clients: CertificateClients, event: CloudFormationCustomResourceEvent): Promise<OnEventResponse> {
  log({ phase: 'onEvent', requestType: event.RequestType, logicalId: event.LogicalResourceId });
  if (event.RequestType === 'Delete') {
    // Never drop a certificate or the CA: the secrets stay (RemovalPolicy.RETAIN in lib/security/certificates.ts).
    return { PhysicalResourceId: event.PhysicalResourceId };
  }
  let config: CertificatesConfig;
  try {
    config = parseConfig((event.ResourceProperties as Record<string, unknown>).Config as string);
  } catch (e) {
    fail('invalid properties', e);
  }
  try {
    const issuer = await issuerFor(clients, config, true);
    const outcomes = await reconcileLeaves(clients.secretsManager, config, issuer, (m) => log({ phase: 'reconcile', message: m }));
    const issued = outcomes.filter((o) => o.action === 'issued').map((o) => o.name);
    const arn = (name: string) => config.leaves.find((l) => l.name === name)?.secretArn;
    const data: Record<string, string> = { CaBundle: trustAnchors(issuer.caBundle), Issued: issued.length ? issued.join(',') : 'none' };
    if (arn('internode')) data.InternodeSecretArn = arn('internode')!;
    if (arn('frontend')) data.FrontendSecretArn = arn('frontend')!;
    const size = Buffer.byteLength(JSON.stringify(data));
    if (size > MAX_DATA_BYTES) {
      // The certificates are in place; only the attribute cannot be returned.
      throw new Error(`the CA bundle's root certificates take ${Buffer.byteLength(data.CaBundle)} bytes, more than a custom resource response can carry `
        + `(${MAX_DATA_BYTES} bytes of attributes within CloudFormation's 4096); use a CA with a smaller key (EC P-256) or fewer roots`);
    }
    return { PhysicalResourceId: event.RequestType === 'Update' ? event.PhysicalResourceId : physicalId(config), Data: data };
  } catch (e) {
    log({ phase: 'onEvent', error: (e as Error).message });
    fail('certificates', e);
  }
}

/** Rotation steps (configuration from CERTIFICATES_CONFIG). */
export async function onRotation(clients: CertificateClients, event: RotationEvent, configJson = process.env.CERTIFICATES_CONFIG): Promise<void> {
  log({ phase: 'rotation', step: event.Step, secretId: event.SecretId, token: event.ClientRequestToken });
  const config = parseConfig(configJson);
  let issuer: Promise<Issuer> | undefined;
  try {
    await rotate(clients.secretsManager, config, event, () => (issuer ??= issuerFor(clients, config, false)), (m) => log({ phase: 'rotation', message: m }));
  } catch (e) {
    log({ phase: 'rotation', step: event.Step, error: (e as Error).message });
    fail(`rotation ${event.Step} of ${event.SecretId}`, e);
  }
}

/** Builds the Lambda entry point over the given clients. */
export function makeHandler(clients: () => CertificateClients) {
  return async (event: CloudFormationCustomResourceEvent | RotationEvent): Promise<OnEventResponse | void> => (
    isRotationEvent(event) ? onRotation(clients(), event) : onCustomResource(clients(), event)
  );
}

let defaultClients: CertificateClients | undefined;

/** Lambda entry point (`index.handler`): AWS clients of the function's Region and role. */
export const handler = makeHandler(() => (defaultClients ??= {
  secretsManager: new SecretsManagerClient({}),
  privateCa: new ACMPCAClient({}),
}));
