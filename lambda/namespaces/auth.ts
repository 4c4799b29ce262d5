/**
 * The admin token of `Custom::TemporalNamespaces` when frontend authorization is on: the client's
 * id and secret from Secrets Manager, then the OAuth 2.0 client-credentials grant (RFC 6749 section
 * 4.4) at the issuer's token endpoint, client authentication by HTTP Basic (section 2.3.1).
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AuthSpec } from './properties';

/** The client's credentials as stored in the secret. */
export interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

/**
 * Reads `{"clientId": "...", "clientSecret": "..."}` from a Secrets Manager secret.
 * @param client a Secrets Manager client. @default - a client for the secret ARN's Region
 * @throws Error naming the secret when it cannot be read or has another shape
 */
export async function readClientCredentials(secretArn: string, client?: SecretsManagerClient): Promise<ClientCredentials> {
  const sm = client ?? new SecretsManagerClient({ region: secretArn.split(':')[3] });
  let text: string | undefined;
  try {
    text = (await sm.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString;
  } catch (e) {
    throw new Error(`cannot read the namespace admin client's secret ${secretArn}: ${(e as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text ?? '');
  } catch {
    parsed = undefined;
  }
  const o = parsed as Partial<ClientCredentials> | undefined;
  if (!o || typeof o.clientId !== 'string' || typeof o.clientSecret !== 'string' || !o.clientId || !o.clientSecret) {
    throw new Error(`secret ${secretArn} must hold JSON {"clientId": "...", "clientSecret": "..."} (the namespace admin client's credentials)`);
  }
  return { clientId: o.clientId, clientSecret: o.clientSecret };
}

/**
 * Gets an access token with the client-credentials grant.
 * @returns the `access_token` of the issuer's answer
 * @throws Error with the issuer's HTTP status and OAuth error code (never the secret)
 */
export async function fetchAccessToken(auth: Pick<AuthSpec, 'tokenUrl' | 'scope' | 'audience' | 'resource'>, creds: ClientCredentials, timeoutMs = 15_000): Promise<string> {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (auth.scope) form.set('scope', auth.scope);
  if (auth.audience) form.set('audience', auth.audience);
  if (auth.resource) form.set('resource', auth.resource);
  // RFC 6749 2.3.1: id and secret are form-urlencoded before the Basic encoding.
  const basic = Buffer.from(`${encodeURIComponent(creds.clientId)}:${encodeURIComponent(creds.clientSecret)}`).toString('base64');
  let res: Response;
  try {
    res = await fetch(auth.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}`, accept: 'application/json' },
      body: form.toString(),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    throw new Error(`cannot reach the token endpoint ${auth.tokenUrl}: ${(e as Error).message}`);
  }
  const body = (await res.json().catch(() => ({}))) as { access_token?: unknown; error?: unknown; error_description?: unknown };
  if (!res.ok || typeof body.access_token !== 'string') {
    const why = body.error ? `${body.error}${body.error_description ? ` (${body.error_description})` : ''}` : 'no access_token in the answer';
    throw new Error(`the token endpoint ${auth.tokenUrl} refused the namespace admin client ${creds.clientId}: HTTP ${res.status}, ${why}`);
  }
  return body.access_token;
}
