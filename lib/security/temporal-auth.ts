/**
 * What the ECS task definitions need for frontend authorization and TLS, kept apart from
 * lib/services/temporal-services.ts (which calls these helpers): the server environment of the container
 * contract (docs/server-container.md, "Authorization and TLS"), the Temporal UI's OIDC and TLS
 * environment, the grant on the two certificate secrets, and the internal-frontend ports.
 * The model, and what stays open to an unauthenticated caller: docs/security.md.
 */
import { Duration, Fn } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

/**
 * Ports of Temporal's internal-frontend, which the frontend task also runs
 * (`SERVICES=frontend,internal-frontend`). The worker role and the servers' internal callers reach
 * it through membership and need no token; it is open only to the other server roles. Defaults of
 * the server image (`INTERNAL_FRONTEND_GRPC_PORT`, `INTERNAL_FRONTEND_MEMBERSHIP_PORT`,
 * `INTERNAL_FRONTEND_HTTP_PORT`).
 */
export const INTERNAL_FRONTEND_PORTS = { grpc: 7236, membership: 6936, http: 7246 } as const;

/** Server name every client verifies the frontend certificate against (a SAN of `frontend.pem`). */
export const FRONTEND_TLS_SERVER_NAME = 'frontend.temporal.internal';

/** Server name the roles verify each other's certificate against (the SAN of `internode.pem`). */
export const INTERNODE_TLS_SERVER_NAME = 'internode.temporal.internal';

/** Path of the OIDC callback of the Temporal UI server (upstream ui-server, `/auth/sso/callback`). */
export const UI_OIDC_CALLBACK_PATH = '/auth/sso/callback';

/** Frontend authorization: Temporal's default JWT claim mapper and authorizer. */
export interface TemporalServerAuth {
  /** The OIDC issuer: the exact `iss` of every accepted token (`TEMPORAL_AUTH_ISSUER`; the server refuses to start without it). */
  readonly issuerUrl: string;
  /** JWKS URLs of the OIDC issuer (`TEMPORAL_AUTH_JWKS_URIS`, comma-joined). */
  readonly jwksUrls: string[];
  /** Claim with `<namespace>:<read|write|worker|admin>` values (`TEMPORAL_AUTH_PERMISSIONS_CLAIM`). @default 'permissions' */
  readonly permissionsClaim?: string;
  /** Required audience (`TEMPORAL_AUTH_AUDIENCE`). @default - not checked */
  readonly audience?: string;
  /** Claim holding the audience, `aud` or `client_id` (`TEMPORAL_AUTH_AUDIENCE_CLAIM`). @default 'aud' */
  readonly audienceClaim?: 'aud' | 'client_id';
  /** Entra ID tenant every token's `tid` equals (`TEMPORAL_AUTH_TENANT_ID`). @default - not checked */
  readonly tenantId?: string;
}

/**
 * TLS material of the server roles. Each secret's SecretString is JSON
 * `{"certificate": "<PEM leaf, then chain>", "privateKey": "<PEM PKCS#8>", "caBundle": "<PEM CA(s)>"}`;
 * the server fetches both at start-up and every `refresh` (the certificate custom resource,
 * lib/security/certificates.ts, writes and renews them).
 */
export interface TemporalServerTls {
  /** Internode certificate (client and server usage, SAN `internode.temporal.internal`), for mutual TLS between roles. */
  readonly internodeSecret: secretsmanager.ISecret;
  /** Frontend server certificate (SANs: the NLB DNS name, `frontend.temporal.internal`). */
  readonly frontendSecret: secretsmanager.ISecret;
  /** PEM CA bundle clients trust (a token of the certificate resource's `CaBundle` attribute). */
  readonly caBundle: string;
  /** How often the server re-reads the secrets (`TEMPORAL_TLS_REFRESH`). @default - the image's default, 1 hour */
  readonly refresh?: Duration;
}

/** OIDC login of the Temporal UI (upstream ui-server's `TEMPORAL_AUTH_*` settings). */
export interface TemporalUiOidc {
  /** OIDC issuer (`TEMPORAL_AUTH_PROVIDER_URL`). */
  readonly issuerUrl: string;
  /** Client id (`TEMPORAL_AUTH_CLIENT_ID`). */
  readonly clientId: string;
  /** Secret whose SecretString is the client secret; injected as the ECS secret `TEMPORAL_AUTH_CLIENT_SECRET`. */
  readonly clientSecret: secretsmanager.ISecret;
  /** `https://<host>/auth/sso/callback` (`TEMPORAL_AUTH_CALLBACK_URL`). */
  readonly callbackUrl: string;
  /** Scopes (`TEMPORAL_AUTH_SCOPES`). @default ['openid', 'profile', 'email'] */
  readonly scopes?: string[];
  /** Forward the ID token instead of the access token (`TEMPORAL_AUTH_USE_ID_TOKEN_AS_BEARER`). @default false */
  readonly useIdTokenAsBearer?: boolean;
}

/** Security settings of the Temporal UI. */
export interface TemporalUiSecurity {
  /** OIDC login; the UI server forwards the user's bearer token to the frontend. @default - no login */
  readonly oidc?: TemporalUiOidc;
  /** Hide write actions (`TEMPORAL_DISABLE_WRITE_ACTIONS=true`). @default false */
  readonly readOnly?: boolean;
}

/**
 * The authorization and TLS environment of every server role (container contract).
 * Without `auth`: `TEMPORAL_ALLOW_NO_AUTH=true`; without `tls`: `TEMPORAL_ALLOW_PLAINTEXT=true`.
 * Holds secret ARNs only, never key material.
 */
export function serverSecurityEnvironment(auth?: TemporalServerAuth, tls?: TemporalServerTls): Record<string, string> {
  const env: Record<string, string> = {};
  if (auth) {
    if (auth.jwksUrls.length === 0) throw new Error('auth.jwksUrls must name at least one JWKS URL');
    env.TEMPORAL_AUTH_JWKS_URIS = auth.jwksUrls.join(',');
    env.TEMPORAL_AUTH_PERMISSIONS_CLAIM = auth.permissionsClaim ?? 'permissions';
    env.TEMPORAL_AUTH_ISSUER = auth.issuerUrl;
    if (auth.audience) env.TEMPORAL_AUTH_AUDIENCE = auth.audience;
    if (auth.audienceClaim && auth.audienceClaim !== 'aud') env.TEMPORAL_AUTH_AUDIENCE_CLAIM = auth.audienceClaim;
    if (auth.tenantId) env.TEMPORAL_AUTH_TENANT_ID = auth.tenantId;
  } else {
    env.TEMPORAL_ALLOW_NO_AUTH = 'true';
  }
  if (tls) {
    env.TEMPORAL_TLS_INTERNODE_SECRET_ARN = tls.internodeSecret.secretArn;
    env.TEMPORAL_TLS_FRONTEND_SECRET_ARN = tls.frontendSecret.secretArn;
    if (tls.refresh) env.TEMPORAL_TLS_REFRESH = `${tls.refresh.toSeconds()}s`;
  } else {
    env.TEMPORAL_ALLOW_PLAINTEXT = 'true';
  }
  return env;
}

/**
 * Lets the server task role read exactly the two certificate secrets (`secretsmanager:GetSecretValue`,
 * no DescribeSecret or list), plus `kms:Decrypt` through Secrets Manager when a secret has a customer key.
 */
export function grantTlsSecrets(grantee: iam.IGrantable, tls: TemporalServerTls): void {
  const secrets = [tls.internodeSecret, tls.frontendSecret];
  iam.Grant.addToPrincipal({ grantee, actions: ['secretsmanager:GetSecretValue'], resourceArns: secrets.map((s) => s.secretArn) });
  const keys = [...new Set(secrets.map((s) => s.encryptionKey).filter((k) => k !== undefined))];
  for (const key of keys) {
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['kms:Decrypt'],
      resources: [key!.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${key!.env.region}.amazonaws.com` } },
    }));
  }
}

/**
 * Environment and secrets of the Temporal UI container for TLS to the frontend, OIDC login and the
 * read-only switch (names from upstream ui-server's `config/docker.yaml`, v2.55). The CA bundle goes in
 * as `TEMPORAL_TLS_CA_DATA`, base64 of the PEM (`Fn::Base64`, the UI server decodes it); it is public.
 * The user's token: the UI's API proxy (grpc-gateway) forwards the browser's `Authorization: Bearer`
 * header to the frontend as `authorization` metadata, so the frontend authorizes each user.
 */
export function uiSecurityContainerSettings(ui: TemporalUiSecurity | undefined, tls: TemporalServerTls | undefined): {
  environment: Record<string, string>; secrets: Record<string, ecs.Secret>;
} {
  const environment: Record<string, string> = {};
  const secrets: Record<string, ecs.Secret> = {};
  if (tls) {
    environment.TEMPORAL_TLS_CA_DATA = Fn.base64(tls.caBundle);
    environment.TEMPORAL_TLS_ENABLE_HOST_VERIFICATION = 'true';
    environment.TEMPORAL_TLS_SERVER_NAME = FRONTEND_TLS_SERVER_NAME;
  }
  if (ui?.oidc) {
    const o = ui.oidc;
    environment.TEMPORAL_AUTH_ENABLED = 'true';
    environment.TEMPORAL_AUTH_TYPE = 'oidc';
    environment.TEMPORAL_AUTH_PROVIDER_URL = o.issuerUrl;
    environment.TEMPORAL_AUTH_CLIENT_ID = o.clientId;
    environment.TEMPORAL_AUTH_CALLBACK_URL = o.callbackUrl;
    environment.TEMPORAL_AUTH_SCOPES = (o.scopes ?? ['openid', 'profile', 'email']).join(',');
    environment.TEMPORAL_AUTH_USE_ID_TOKEN_AS_BEARER = String(o.useIdTokenAsBearer ?? false);
    secrets.TEMPORAL_AUTH_CLIENT_SECRET = ecs.Secret.fromSecretsManager(o.clientSecret);
  }
  if (ui?.readOnly) environment.TEMPORAL_DISABLE_WRITE_ACTIONS = 'true';
  return { environment, secrets };
}

/**
 * The DSQL cluster's resource-based policy: deny `dsql:DbConnect` and `dsql:DbConnectAdmin` to
 * every principal unless the request comes from `vpcId` (Aurora DSQL User Guide, "Common
 * resource-based policy examples", Block public internet access, narrowed to one VPC with
 * `aws:SourceVpc`). A request from outside any VPC has no `aws:SourceVpc` (first statement); one
 * from another VPC has a different value (second statement).
 *
 * @param adminPrincipals IAM role or user ARNs left out of both denials (`aws:PrincipalArn`, with
 *   `ArnNotEquals`, ANDed with the VPC condition): the break-glass list `dsql.adminPrincipals`,
 *   e.g. an operator role for the console query editor. They still need `dsql:DbConnect[Admin]` in
 *   their own IAM policies; the resource policy only stops denying them. @default [] (nobody)
 */
export function dsqlVpcOnlyPolicy(vpcId: string, adminPrincipals: readonly string[] = []): Record<string, unknown> {
  const common = { Effect: 'Deny', Principal: { AWS: '*' }, Resource: '*', Action: ['dsql:DbConnect', 'dsql:DbConnectAdmin'] };
  const exempt = adminPrincipals.length > 0 ? { ArnNotEquals: { 'aws:PrincipalArn': [...adminPrincipals] } } : {};
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'DenyConnectFromOutsideAnyVpc', ...common, Condition: { Null: { 'aws:SourceVpc': 'true' }, ...exempt } },
      { Sid: 'DenyConnectFromOtherVpcs', ...common, Condition: { StringNotEquals: { 'aws:SourceVpc': vpcId }, ...exempt } },
    ],
  };
}
