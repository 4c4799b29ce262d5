/**
 * The local stack's OpenID provider: a real OAuth 2.0 / OpenID Connect server (npm package
 * `oidc-provider`, pinned in package.json) on 127.0.0.1, issuing the JWT access tokens that the
 * Temporal frontend's default claim mapper and authorizer check (issue 14; docs/server-container.md,
 * "Authorization").
 *
 * `oidc-provider` is ESM-only, which neither this CommonJS code nor ts-jest can load in-process, so
 * it runs as a child process (local/oidc-server.mjs) fed a 0600 JSON config file.
 *
 * Tokens (RS256, signed with a key generated at start; the `kid` is in the JWKS at {@link
 * LocalOidcProvider.jwksUri}):
 * - `aud` is {@link LocalOidcProvider.audience} (the resource indicator; default `urn:temporal:frontend`);
 * - `permissions` (array of strings) holds Temporal permissions `<namespace>:<read|write|worker|admin>`
 *   (`temporal-system:admin` for the cluster): for a client-credentials token, the requested scopes
 *   of that form; for a user's token (authorization code flow), the list given for the login in
 *   {@link OidcProviderOptions.users}.
 *
 * Minting a token for a test: `await oidc.token(['default:read'])` (client-credentials grant of the
 * built-in client {@link LOCAL_TOKEN_CLIENT_ID}).
 *
 * The UI login (helper B of issue 14): pass an extra client in {@link OidcProviderOptions.clients},
 * e.g. `{ client_id: 'temporal-ui', client_secret: 's3cret', redirect_uris: ['http://127.0.0.1:8080/auth/sso/callback'],
 * grant_types: ['authorization_code'], response_types: ['code'] }` (metadata of oidc-provider's
 * `clients` option, i.e. OpenID Dynamic Client Registration names), and the login's permissions in
 * `users: { alice: ['default:admin'] }`. The login page is oidc-provider's development interaction
 * (any login name, any password); discovery is at `<issuer>/.well-known/openid-configuration`.
 * Clients can also be added to a running provider only by restarting it, so decide them before
 * {@link startOidcProvider}.
 */
import { createSign, generateKeyPairSync, KeyObject, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, ManagedProcess, startProcess, waitFor } from './process';

/** Client id of the built-in client-credentials client that {@link LocalOidcProvider.token} uses. */
export const LOCAL_TOKEN_CLIENT_ID = 'temporal-local';

/** Options of {@link startOidcProvider}. */
export interface OidcProviderOptions {
  /** Directory for the config file (0600, holds the signing key) and the log. */
  readonly dir: string;
  /** TCP port on 127.0.0.1. @default - a free port */
  readonly port?: number;
  /** Audience (resource indicator) of access tokens; the server's `TEMPORAL_AUTH_AUDIENCE`. @default 'urn:temporal:frontend' (must be an absolute URI) */
  readonly audience?: string;
  /** Access token lifetime, seconds. @default 43200 (12 h: a `npm run local` session) */
  readonly tokenTtlSeconds?: number;
  /** Extra clients (oidc-provider client metadata), e.g. the UI's authorization-code client. @default [] */
  readonly clients?: ReadonlyArray<Record<string, unknown>>;
  /** Permissions of interactive logins by login name (authorization code flow). @default {} */
  readonly users?: Readonly<Record<string, readonly string[]>>;
  /**
   * The signing key and its `kid`: pass another provider's {@link LocalOidcProvider.signingKey} to get a
   * second issuer whose tokens carry the same key (what a multi-tenant identity provider's common keys
   * look like to a resource server). @default - a new RSA 2048 key
   */
  readonly signingKey?: { readonly privateKey: KeyObject; readonly keyId: string };
  /** @default 30000 */
  readonly timeoutMs?: number;
}

/** A running OpenID provider. */
export interface LocalOidcProvider {
  /** Issuer URL, `http://127.0.0.1:<port>` (also the `iss` claim). */
  readonly issuer: string;
  /** JWKS URL: the server's `TEMPORAL_AUTH_JWKS_URIS`. */
  readonly jwksUri: string;
  /** `aud` of every access token. */
  readonly audience: string;
  /** `kid` of the signing key. */
  readonly keyId: string;
  /** The signing key (private) and its `kid`, for a second provider sharing it (tests). */
  readonly signingKey: { readonly privateKey: KeyObject; readonly keyId: string };
  readonly process: ManagedProcess;
  /**
   * Mints an access token (JWT) with exactly these permissions through the client-credentials grant.
   * @param permissions `<namespace>:<read|write|worker|admin>` strings; others are dropped by the provider
   * @throws Error with the provider's answer when the token endpoint refuses
   */
  token(permissions: readonly string[]): Promise<string>;
  /** Stops the provider. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the provider and resolves once its discovery document answers.
 * @throws Error with the log tail when it does not answer within `timeoutMs`
 */
export async function startOidcProvider(o: OidcProviderOptions): Promise<LocalOidcProvider> {
  mkdirSync(o.dir, { recursive: true });
  const port = o.port ?? (await freePort());
  const issuer = `http://127.0.0.1:${port}`;
  const audience = o.audience ?? 'urn:temporal:frontend';
  const keyId = o.signingKey?.keyId ?? randomUUID();
  const privateKey = o.signingKey?.privateKey ?? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const secret = randomBytes(24).toString('base64url');
  const configFile = join(o.dir, 'oidc-provider.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      port,
      issuer,
      audience,
      tokenTtlSeconds: o.tokenTtlSeconds ?? 43_200,
      jwk: { ...privateKey.export({ format: 'jwk' }), kid: keyId, alg: 'RS256', use: 'sig' },
      clients: [
        {
          client_id: LOCAL_TOKEN_CLIENT_ID,
          client_secret: secret,
          grant_types: ['client_credentials'],
          redirect_uris: [],
          response_types: [],
        },
        ...(o.clients ?? []),
      ],
      users: o.users ?? {},
    }),
    { mode: 0o600 },
  );
  const proc = startProcess({
    name: 'oidc-provider',
    command: process.execPath,
    args: [resolve(__dirname, 'oidc-server.mjs'), configFile],
    logFile: join(o.dir, 'oidc-provider.log'),
  });
  let jwksUri = '';
  try {
    await waitFor(
      `OpenID provider on ${issuer}`,
      async () => {
        const r = await fetch(`${issuer}/.well-known/openid-configuration`);
        if (!r.ok) return false;
        jwksUri = ((await r.json()) as { jwks_uri: string }).jwks_uri;
        return true;
      },
      { timeoutMs: o.timeoutMs ?? 30_000, proc, intervalMs: 200 },
    );
  } catch (e) {
    await proc.stop(2_000);
    throw e;
  }
  let stopped: Promise<void> | undefined;
  return {
    issuer,
    jwksUri,
    audience,
    keyId,
    signingKey: { privateKey, keyId },
    process: proc,
    token: async (permissions) => {
      const r = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${LOCAL_TOKEN_CLIENT_ID}:${secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: audience, scope: permissions.join(' ') }),
      });
      const body = (await r.json()) as { access_token?: string; error?: string; error_description?: string };
      if (!r.ok || !body.access_token) {
        throw new Error(`OpenID provider ${issuer} refused a token for [${permissions.join(', ')}]: HTTP ${r.status} ${body.error ?? ''} ${body.error_description ?? ''}`);
      }
      return body.access_token;
    },
    stop: () => (stopped ??= proc.stop(5_000)),
  };
}

/**
 * Signs a JWT (RS256) with `key` outside any provider: for tests that need a token the server must
 * refuse (signed by another key, expired, wrong audience).
 * @param header merged over `{ alg: 'RS256', typ: 'JWT' }` (set `kid` here)
 * @param claims the payload as given (times in seconds since the epoch)
 */
export function signJwt(key: KeyObject, header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg: 'RS256', typ: 'JWT', ...header })}.${b64(claims)}`;
  const signature = createSign('RSA-SHA256').update(input).sign(key).toString('base64url');
  return `${input}.${signature}`;
}
