/**
 * The `security` and `ui` sections of the configuration: who may call the Temporal frontend
 * (OIDC/JWT authorization), how the roles and the clients talk (TLS), and how people reach the UI
 * (HTTPS listener, OIDC login, read-only switch). Production guards key off the top-level
 * `production` flag (`config/prod.ts` sets it): in production, no-auth, plaintext, plain-HTTP UI and
 * a DSQL cluster without PrivateLink are all refused at synth.
 *
 * Contract with the server image (env names): docs/server-container.md, "Authorization and TLS".
 * Model and operations: docs/security.md.
 */
import { bool, checkKeys, ConfigError, oneOf, optObject, regionOfArn, str } from '../config-checks';

/** Frontend authorization: Temporal's default JWT claim mapper and authorizer. */
export interface AuthInput {
  /**
   * OIDC issuer URL (`https://...`, no trailing slash): the frontend accepts a token only when its `iss`
   * equals it exactly (`TEMPORAL_AUTH_ISSUER`; upstream's claim mapper checks signatures, never the
   * issuer: docker/temporal-server/authz). For Cognito (`https://cognito-idp.<region>.amazonaws.com/<pool id>`),
   * Okta (`https://<org>.okta.com/oauth2/<server id>`) and Entra ID (`https://login.microsoftonline.com/<tenant>/v2.0`)
   * the JWKS URL is derived; for any other issuer set `jwksUrls` as well.
   * @default - none (then `security.allowNoAuth` must be true)
   */
  readonly issuerUrl?: string;
  /** JWKS URLs the frontend takes signing keys from (`TEMPORAL_AUTH_JWKS_URIS`). @default - derived from `issuerUrl` */
  readonly jwksUrls?: string[];
  /** Token claim holding the permissions such as `default:write`, `temporal-system:admin`. @default 'permissions' */
  readonly permissionsClaim?: string;
  /**
   * The audience every accepted token names (`TEMPORAL_AUTH_AUDIENCE`): the API identifier the tokens are
   * issued for; for Cognito access tokens, the app client id. Required in production.
   * @default - not checked (development only)
   */
  readonly audience?: string;
  /**
   * The claim `audience` is looked up in: `aud`, or `client_id` (Amazon Cognito access tokens carry the app
   * client id there and have no `aud`; Amazon Cognito Developer Guide, "Understanding the access token").
   * @default - 'client_id' for a Cognito issuer, 'aud' otherwise
   */
  readonly audienceClaim?: 'aud' | 'client_id';
  /**
   * Microsoft Entra ID tenant every accepted token's `tid` equals (`TEMPORAL_AUTH_TENANT_ID`).
   * @default - the tenant of an Entra ID `issuerUrl`; not checked for other issuers
   */
  readonly tenantId?: string;
}

/** TLS of the frontend (for clients) and between the roles (mutual). */
export interface TlsInput {
  /**
   * AWS Private CA (`arn:aws:acm-pca:<region>:<account>:certificate-authority/<id>`) that issues the
   * frontend and internode certificates. @default - a CA the stack creates and keeps in Secrets Manager
   */
  readonly privateCaArn?: string;
  /** Customer managed KMS key ARN of the certificate secrets. @default - the AWS managed key of Secrets Manager */
  readonly kmsKeyArn?: string;
}

/** The `security` section. */
export interface SecurityInput {
  /** Frontend authorization (JWT from the OIDC issuer). */
  readonly auth?: AuthInput;
  /** Run the frontend with no authorizer (`TEMPORAL_ALLOW_NO_AUTH=true`). Refused in production. @default false */
  readonly allowNoAuth?: boolean;
  /** TLS settings. @default - TLS on, certificates from the stack's own CA */
  readonly tls?: TlsInput;
  /** Plain gRPC between the roles and to clients (`TEMPORAL_ALLOW_PLAINTEXT=true`). Refused in production. @default false */
  readonly allowPlaintext?: boolean;
  /**
   * The platform KMS key (`arn:aws:kms:<region>:<account>:key/<id>`, in `env.region`): encrypts the
   * certificate secrets, every log group, the backup vault, the archival bucket and the alarm topic
   * (lib/security/platform-key.ts). Its key policy must already allow what the created key's policy
   * allows (CloudWatch Logs of this Region and account, CloudWatch alarms and EventBridge publishing to SNS).
   * `security.tls.kmsKeyArn` and `dsql.kmsKeyArn`, when set, still take precedence for their resources.
   * @default - production: a key the stack creates (retained, yearly rotation); otherwise none (AWS managed keys)
   */
  readonly kmsKeyArn?: string;
}

/** Login to the UI through the Temporal UI server's own OIDC settings. */
export interface UiOidcInput {
  /** OIDC issuer (`TEMPORAL_AUTH_PROVIDER_URL`). @default - `security.auth.issuerUrl` */
  readonly issuerUrl?: string;
  /** OIDC client id of the UI (`TEMPORAL_AUTH_CLIENT_ID`). */
  readonly clientId: string;
  /**
   * Complete ARN of the Secrets Manager secret whose SecretString is the client secret (with the
   * 6-character suffix, `...:secret:<name>-AbCdEf`); passed to the container as an ECS secret.
   */
  readonly clientSecretArn: string;
  /** Scopes asked for (`TEMPORAL_AUTH_SCOPES`). @default ['openid', 'profile', 'email'] */
  readonly scopes?: string[];
  /**
   * Send the ID token instead of the access token to the frontend (`TEMPORAL_AUTH_USE_ID_TOKEN_AS_BEARER`),
   * for an IdP whose access tokens are not JWTs or carry no permissions claim. @default false
   */
  readonly useIdTokenAsBearer?: boolean;
}

/** Temporal UI settings. */
export interface UiInput {
  /** ACM certificate ARN for the HTTPS listener of the UI ALB. Required in production. @default - HTTP on port 80 (development) */
  readonly certificateArn?: string;
  /**
   * Host name users browse to, covered by the certificate; the OIDC callback is
   * `https://<domainName>/auth/sso/callback` (the DNS record pointing at the ALB is yours). Required with `oidc`.
   * @default - the ALB's DNS name (no OIDC possible)
   */
  readonly domainName?: string;
  /** OIDC login. Required when the frontend authorizes (a UI without a user token could do nothing). @default - no login */
  readonly oidc?: UiOidcInput;
  /** Hide every write action (terminate, reset, signal, start, batch; `TEMPORAL_DISABLE_WRITE_ACTIONS`). @default false */
  readonly readOnly?: boolean;
}

/** Resolved `security` section. */
export interface SecurityConfig {
  /** Frontend authorization, or undefined when `allowNoAuth`. */
  readonly auth?: {
    readonly issuerUrl: string;
    readonly jwksUrls: string[];
    readonly permissionsClaim: string;
    readonly audience?: string;
    readonly audienceClaim: 'aud' | 'client_id';
    readonly tenantId?: string;
  };
  readonly allowNoAuth: boolean;
  /** TLS, or undefined when `allowPlaintext`. */
  readonly tls?: { readonly privateCaArn?: string; readonly kmsKeyArn?: string };
  readonly allowPlaintext: boolean;
  /** `'create'`: the stack creates the platform key; an ARN: that key; undefined: none. */
  readonly platformKey?: 'create' | string;
}

/** Resolved `ui` section. */
export interface UiConfig {
  readonly certificateArn?: string;
  readonly domainName?: string;
  readonly oidc?: {
    readonly issuerUrl: string;
    readonly clientId: string;
    readonly clientSecretArn: string;
    readonly scopes: string[];
    readonly useIdTokenAsBearer: boolean;
    /** `https://<domainName>/auth/sso/callback`, the UI server's callback path. */
    readonly callbackUrl: string;
  };
  readonly readOnly: boolean;
}

/** What the other sections tell the security checks. */
export interface SecurityContext {
  /** The environment is marked production (top-level `production`). */
  readonly production: boolean;
  /** `env.region`, when set. */
  readonly region?: string;
  /** `dsql.kmsKeyArn`, when set (its Region must match the certificate's in a region-agnostic stack). */
  readonly dsqlKmsKeyArn?: string;
  /** `dsql.privateLink` (the DSQL resource policy only admits connections from the VPC). */
  readonly dsqlPrivateLink: boolean;
}

const HTTPS_URL = /^https:\/\/[A-Za-z0-9.-]+(:\d{1,5})?(\/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?$/;
const COGNITO_ISSUER = /^https:\/\/cognito-idp\.[a-z0-9-]+\.amazonaws\.com\/[a-z0-9-]+_[A-Za-z0-9]+$/;
const OKTA_ISSUER = /^https:\/\/[A-Za-z0-9.-]+\.(okta|oktapreview|okta-emea)\.com\/oauth2\/[A-Za-z0-9]+$/;
const ENTRA_ISSUER = /^https:\/\/login\.microsoftonline\.com\/([A-Za-z0-9.-]+)\/v2\.0$/;
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
const KMS_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const PCA_ARN = /^arn:aws[a-z-]*:acm-pca:[a-z0-9-]+:\d{12}:certificate-authority\/[A-Za-z0-9-]+$/;
const ACM_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/**
 * The JWKS URL of a known issuer, or undefined. Sources: Cognito user pools publish
 * `<issuer>/.well-known/jwks.json` (Amazon Cognito Developer Guide, "Verifying a JSON web token");
 * Okta custom authorization servers `<issuer>/v1/keys` (Okta, "Validate access tokens");
 * Entra ID v2.0 `https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys` (Microsoft identity
 * platform, "OpenID Connect on the Microsoft identity platform", the `jwks_uri` of the discovery document).
 */
export function jwksUrlOf(issuerUrl: string): string | undefined {
  if (COGNITO_ISSUER.test(issuerUrl)) return `${issuerUrl}/.well-known/jwks.json`;
  if (OKTA_ISSUER.test(issuerUrl)) return `${issuerUrl}/v1/keys`;
  const entra = ENTRA_ISSUER.exec(issuerUrl);
  if (entra) return `https://login.microsoftonline.com/${entra[1]}/discovery/v2.0/keys`;
  return undefined;
}

function arnIn(field: string, arn: string, region: string | undefined, what: string): void {
  if (region && regionOfArn(arn) !== region) throw new ConfigError(field, arn, `${what} in env.region ${region}`);
}

/**
 * Fills the defaults of the `security` and `ui` sections and checks them.
 *
 * @param p prefixes a field with the environment name (`prod.security.allowNoAuth`)
 * @throws ConfigError naming the field, the value and what is allowed; in production also for
 *   `security.allowNoAuth: true`, `security.allowPlaintext: true`, a UI without `certificateArn`,
 *   and `dsql.privateLink: false`
 */
export function resolveSecurity(
  p: (f: string) => string, securityInput: unknown, uiInput: unknown, ctx: SecurityContext,
): { security: SecurityConfig; ui: UiConfig } {
  const s = optObject(p('security'), securityInput);
  checkKeys(p('security'), s, ['auth', 'allowNoAuth', 'tls', 'allowPlaintext', 'kmsKeyArn']);
  const allowNoAuth = bool(p('security.allowNoAuth'), s.allowNoAuth, false);
  const allowPlaintext = bool(p('security.allowPlaintext'), s.allowPlaintext, false);
  if (ctx.production && allowNoAuth) {
    throw new ConfigError(p('security.allowNoAuth'), true, 'false in an environment marked production (every caller of the frontend must present a token); set security.auth.issuerUrl');
  }
  if (ctx.production && allowPlaintext) {
    throw new ConfigError(p('security.allowPlaintext'), true, 'false in an environment marked production (frontend TLS and mutual TLS between the roles are required)');
  }
  if (ctx.production && !ctx.dsqlPrivateLink) {
    throw new ConfigError(p('dsql.privateLink'), false,
      'true in an environment marked production: the cluster\'s resource policy denies connections from outside the VPC, which a server reaching the public endpoint through NAT would be');
  }

  // auth
  const a = optObject(p('security.auth'), s.auth);
  checkKeys(p('security.auth'), a, ['issuerUrl', 'jwksUrls', 'permissionsClaim', 'audience', 'audienceClaim', 'tenantId']);
  const issuerUrl = a.issuerUrl === undefined ? undefined
    : str(p('security.auth.issuerUrl'), a.issuerUrl, HTTPS_URL, 'an https:// OIDC issuer URL without a trailing slash');
  if (issuerUrl?.endsWith('/')) throw new ConfigError(p('security.auth.issuerUrl'), issuerUrl, 'an https:// OIDC issuer URL without a trailing slash (it must equal the tokens\' iss)');
  let jwksUrls: string[] | undefined;
  if (a.jwksUrls !== undefined) {
    const j = a.jwksUrls;
    if (!Array.isArray(j) || j.length === 0 || !j.every((u) => typeof u === 'string' && HTTPS_URL.test(u) && !u.includes(','))) {
      throw new ConfigError(p('security.auth.jwksUrls'), j, 'a non-empty list of https:// JWKS URLs');
    }
    jwksUrls = [...j] as string[];
  } else if (issuerUrl !== undefined) {
    const derived = jwksUrlOf(issuerUrl);
    if (!derived) {
      throw new ConfigError(p('security.auth.jwksUrls'), undefined,
        `the JWKS URL(s) of ${issuerUrl} (the jwks_uri of its /.well-known/openid-configuration); derived only for Cognito, Okta and Entra ID issuers`);
    }
    jwksUrls = [derived];
  }
  const permissionsClaim = a.permissionsClaim === undefined ? 'permissions'
    : str(p('security.auth.permissionsClaim'), a.permissionsClaim, /^[A-Za-z_][A-Za-z0-9_:./-]{0,127}$/, 'a JWT claim name such as permissions or cognito:groups');
  const audience = a.audience === undefined ? undefined
    : str(p('security.auth.audience'), a.audience, /^[^\s,]{1,256}$/, 'one audience value (no spaces or commas), e.g. the API identifier the tokens are issued for');
  if (allowNoAuth && jwksUrls) {
    throw new ConfigError(p('security.allowNoAuth'), true, 'false when security.auth is configured (either authorize with the issuer or allow no auth, not both)');
  }
  if ((!allowNoAuth || jwksUrls) && !issuerUrl) {
    throw new ConfigError(p('security.auth.issuerUrl'), undefined,
      'the OIDC issuer whose tokens the frontend accepts, exactly as in their iss claim (or security.allowNoAuth: true in a development environment)');
  }
  if (ctx.production && issuerUrl && audience === undefined) {
    throw new ConfigError(p('security.auth.audience'), undefined,
      'the audience the tokens are issued for (the API identifier; for Cognito access tokens the app client id) in an environment marked production: without it any token of the issuer, for any application, is accepted');
  }
  const cognito = issuerUrl !== undefined && COGNITO_ISSUER.test(issuerUrl);
  const audienceClaim = oneOf(p('security.auth.audienceClaim'), a.audienceClaim, ['aud', 'client_id'] as const, cognito ? 'client_id' : 'aud');
  const entraTenant = issuerUrl === undefined ? undefined : ENTRA_ISSUER.exec(issuerUrl)?.[1];
  const tenantId = a.tenantId === undefined ? entraTenant
    : str(p('security.auth.tenantId'), a.tenantId, /^[A-Za-z0-9.-]{1,128}$/, 'an Entra ID tenant id (a GUID) or domain');
  if (a.tenantId !== undefined && entraTenant !== undefined && tenantId !== entraTenant) {
    throw new ConfigError(p('security.auth.tenantId'), tenantId, `the tenant of security.auth.issuerUrl (${entraTenant}), or leave it out`);
  }
  const auth = jwksUrls && issuerUrl ? { issuerUrl, jwksUrls, permissionsClaim, audience, audienceClaim, tenantId } : undefined;

  // tls
  const t = optObject(p('security.tls'), s.tls);
  checkKeys(p('security.tls'), t, ['privateCaArn', 'kmsKeyArn']);
  const privateCaArn = t.privateCaArn === undefined ? undefined
    : str(p('security.tls.privateCaArn'), t.privateCaArn, PCA_ARN, 'an AWS Private CA ARN (arn:aws:acm-pca:<region>:<account>:certificate-authority/<id>)');
  if (privateCaArn) arnIn(p('security.tls.privateCaArn'), privateCaArn, ctx.region, 'a Private CA');
  const tlsKmsKeyArn = t.kmsKeyArn === undefined ? undefined
    : str(p('security.tls.kmsKeyArn'), t.kmsKeyArn, KMS_ARN, 'a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)');
  if (tlsKmsKeyArn) arnIn(p('security.tls.kmsKeyArn'), tlsKmsKeyArn, ctx.region, 'a KMS key');
  if (allowPlaintext && (privateCaArn || tlsKmsKeyArn)) {
    throw new ConfigError(p('security.allowPlaintext'), true, 'false when security.tls is configured');
  }
  const tls = allowPlaintext ? undefined : { privateCaArn, kmsKeyArn: tlsKmsKeyArn };
  const platformKeyArn = s.kmsKeyArn === undefined ? undefined
    : str(p('security.kmsKeyArn'), s.kmsKeyArn, KMS_ARN, 'a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), not an alias');
  if (platformKeyArn) arnIn(p('security.kmsKeyArn'), platformKeyArn, ctx.region, 'a KMS key');
  const platformKey = platformKeyArn ?? (ctx.production ? 'create' : undefined);

  // ui
  const u = optObject(p('ui'), uiInput);
  checkKeys(p('ui'), u, ['certificateArn', 'domainName', 'oidc', 'readOnly']);
  const certificateArn = u.certificateArn === undefined ? undefined
    : str(p('ui.certificateArn'), u.certificateArn, ACM_ARN, 'an ACM certificate ARN');
  if (certificateArn && ctx.region && regionOfArn(certificateArn) !== ctx.region) {
    throw new ConfigError(p('ui.certificateArn'), certificateArn, `an ACM certificate in env.region ${ctx.region} (a load balancer only uses certificates of its own Region)`);
  }
  if (certificateArn && ctx.dsqlKmsKeyArn && !ctx.region && regionOfArn(certificateArn) !== regionOfArn(ctx.dsqlKmsKeyArn)) {
    throw new ConfigError(p('ui.certificateArn'), certificateArn,
      `an ACM certificate in the Region of dsql.kmsKeyArn (${regionOfArn(ctx.dsqlKmsKeyArn)}): the stack deploys to one Region and both must be in it`);
  }
  if (ctx.production && !certificateArn) {
    throw new ConfigError(p('ui.certificateArn'), undefined, 'an ACM certificate ARN in an environment marked production (the UI is served over HTTPS only; port 80 only redirects)');
  }
  const domainName = u.domainName === undefined ? undefined
    : str(p('ui.domainName'), u.domainName, DOMAIN, 'a lowercase DNS host name such as temporal.example.com');
  const readOnly = bool(p('ui.readOnly'), u.readOnly, false);
  let oidc: UiConfig['oidc'];
  if (u.oidc !== undefined) {
    const o = optObject(p('ui.oidc'), u.oidc);
    checkKeys(p('ui.oidc'), o, ['issuerUrl', 'clientId', 'clientSecretArn', 'scopes', 'useIdTokenAsBearer']);
    const oidcIssuer = o.issuerUrl === undefined ? issuerUrl
      : str(p('ui.oidc.issuerUrl'), o.issuerUrl, HTTPS_URL, 'an https:// OIDC issuer URL');
    if (!oidcIssuer) throw new ConfigError(p('ui.oidc.issuerUrl'), undefined, 'an https:// OIDC issuer URL (or security.auth.issuerUrl, its default)');
    const clientId = str(p('ui.oidc.clientId'), o.clientId, /^[^\s]{1,256}$/, 'the OIDC client id of the UI');
    const clientSecretArn = str(p('ui.oidc.clientSecretArn'), o.clientSecretArn, SECRET_ARN,
      'the complete ARN of a Secrets Manager secret, with its 6-character suffix (arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf)');
    arnIn(p('ui.oidc.clientSecretArn'), clientSecretArn, ctx.region, 'a secret');
    const scopesIn = o.scopes === undefined ? ['openid', 'profile', 'email'] : o.scopes;
    if (!Array.isArray(scopesIn) || !scopesIn.every((x) => typeof x === 'string' && /^[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]+$/.test(x)) || !scopesIn.includes('openid')) {
      throw new ConfigError(p('ui.oidc.scopes'), scopesIn, 'a list of OAuth scopes (no spaces or commas) that includes openid');
    }
    if (!certificateArn) throw new ConfigError(p('ui.certificateArn'), undefined, 'an ACM certificate ARN when ui.oidc is set (the login callback and session cookie need HTTPS)');
    if (!domainName) throw new ConfigError(p('ui.domainName'), undefined, 'the host name of ui.certificateArn that users browse to, when ui.oidc is set (the OIDC callback URL is built from it)');
    oidc = {
      issuerUrl: oidcIssuer, clientId, clientSecretArn, scopes: [...scopesIn] as string[],
      useIdTokenAsBearer: bool(p('ui.oidc.useIdTokenAsBearer'), o.useIdTokenAsBearer, false),
      callbackUrl: `https://${domainName}/auth/sso/callback`,
    };
  }
  if (auth && !oidc) {
    throw new ConfigError(p('ui.oidc'), undefined,
      '{ clientId, clientSecretArn } when the frontend authorizes (security.auth): the UI calls the frontend with the logged-in user\'s token and can do nothing without one');
  }
  return {
    security: { auth, allowNoAuth, tls, allowPlaintext, platformKey },
    ui: { certificateArn, domainName, oidc, readOnly },
  };
}
