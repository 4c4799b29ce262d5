/**
 * The local stack's authenticated mode (issue 14), the default of `startLocalStack()`: a real
 * OpenID provider (local/oidc.ts) issues JWTs, test certificates (local/certs.ts) fill the server's
 * `TEMPORAL_TLS_DIR`, and the server runs Temporal's default JWT claim mapper and authorizer, the
 * internal-frontend (the system worker's way in, no token) and TLS everywhere: internode mutual TLS,
 * frontend server TLS.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTlsDir, FRONTEND_SERVER_NAME, INTERNODE_SERVER_NAME, LocalTlsDir } from './certs';
import { LocalOidcProvider, OidcProviderOptions, startOidcProvider } from './oidc';
import type { LocalClientOptions } from './client';

/** Permissions of the stack's admin token (`stack.clientOptions`): the operator APIs and the `default` namespace. */
export const ADMIN_PERMISSIONS: readonly string[] = ['temporal-system:admin', 'default:admin'];

/** The authenticated mode's running parts. */
export interface LocalAuth {
  readonly oidc: LocalOidcProvider;
  readonly tls: LocalTlsDir;
  /** Mints an access token with exactly these permissions (`<namespace>:<read|write|worker|admin>`). */
  token(permissions: readonly string[]): Promise<string>;
  /**
   * Client options for `address` with the stack's CA and, when `token` is given, `authorization:
   * Bearer <token>` metadata.
   */
  clientOptions(address: string, token?: string): LocalClientOptions;
  stop(): Promise<void>;
}

/** What the server config needs for the authenticated mode. */
export interface ServerSecurityInput {
  /** `TEMPORAL_TLS_DIR`: ca.pem, internode.pem/.key, frontend.pem/.key. */
  readonly tlsDir: string;
  /** JWKS URL(s) of the issuer (`global.authorization.jwtKeyProvider.keySourceURIs`). */
  readonly jwksUris: readonly string[];
  /** Expected `aud` of tokens (upstream's check and `TEMPORAL_AUTH_AUDIENCE`). */
  readonly audience: string;
  /** The OIDC issuer: the exact `iss` every accepted token carries (`TEMPORAL_AUTH_ISSUER`). */
  readonly issuer: string;
  /** internal-frontend ports (gRPC, membership, HTTP), on 127.0.0.1. */
  readonly internalFrontend: { readonly grpc: number; readonly membership: number; readonly http: number };
  /** How often the server re-reads the TLS files (`global.tls.refreshInterval`, a Go duration). @default '1m' */
  readonly tlsRefresh?: string;
}

/**
 * Starts the OpenID provider and writes the certificates under `dir` (`<dir>/oidc`, `<dir>/tls`).
 * @param oidc extra provider options (UI clients, users; local/oidc.ts)
 */
export async function startLocalAuth(dir: string, oidc: Partial<Omit<OidcProviderOptions, 'dir'>> = {}): Promise<LocalAuth> {
  const tls = await createTlsDir(join(dir, 'tls'));
  const provider = await startOidcProvider({ ...oidc, dir: join(dir, 'oidc') });
  return {
    oidc: provider,
    tls,
    token: (permissions) => provider.token(permissions),
    clientOptions: (address, token) => ({
      address,
      tls: { serverRootCACertificate: tls.caPem, serverNameOverride: FRONTEND_SERVER_NAME },
      ...(token ? { metadata: { authorization: `Bearer ${token}` } } : {}),
    }),
    stop: () => provider.stop(),
  };
}

/**
 * Adds the authenticated mode to a server config written by `writeServerConfig()` (mutates both):
 * the same `global.authorization`, `global.tls` and `internal-frontend` blocks the image's config
 * template renders from `TEMPORAL_AUTH_*` / `TEMPORAL_TLS_DIR` (docker/temporal-server/config/config_template.yaml),
 * and `TEMPORAL_TLS_DIR` in the environment (the healthcheck and the start-up check read it) in place
 * of the development switches.
 */
export function applyServerSecurity(config: Record<string, unknown>, env: NodeJS.ProcessEnv, s: ServerSecurityInput): void {
  const f = (name: string) => join(s.tlsDir, name);
  const global = (config.global ?? {}) as Record<string, unknown>;
  global.authorization = {
    jwtKeyProvider: { keySourceURIs: [...s.jwksUris], refreshInterval: '1m' },
    permissionsClaimName: 'permissions',
    authorizer: 'default',
    claimMapper: 'default',
    audience: s.audience,
  };
  global.tls = {
    refreshInterval: s.tlsRefresh ?? '1m',
    internode: {
      server: { certFile: f('internode.pem'), keyFile: f('internode.key'), requireClientAuth: true, clientCaFiles: [f('ca.pem')] },
      client: { serverName: INTERNODE_SERVER_NAME, rootCaFiles: [f('ca.pem')] },
    },
    frontend: {
      server: { certFile: f('frontend.pem'), keyFile: f('frontend.key'), requireClientAuth: false },
      client: { serverName: FRONTEND_SERVER_NAME, rootCaFiles: [f('ca.pem')] },
    },
  };
  config.global = global;
  const services = (config.services ?? {}) as Record<string, unknown>;
  services['internal-frontend'] = {
    rpc: { grpcPort: s.internalFrontend.grpc, membershipPort: s.internalFrontend.membership, httpPort: s.internalFrontend.http, bindOnIP: '127.0.0.1' },
  };
  config.services = services;
  delete env.TEMPORAL_ALLOW_PLAINTEXT;
  delete env.TEMPORAL_ALLOW_NO_AUTH;
  env.TEMPORAL_TLS_DIR = s.tlsDir;
  // The server's token policy (docker/temporal-server/authz): only this issuer's tokens, for this audience.
  env.TEMPORAL_AUTH_ISSUER = s.issuer;
  env.TEMPORAL_AUTH_AUDIENCE = s.audience;
}

/** Client options that trust the CA of `tlsDir` (`<tlsDir>/ca.pem`) and name the frontend's certificate. */
export function tlsClientOptions(address: string, tlsDir: string): LocalClientOptions {
  return { address, tls: { serverRootCACertificate: readFileSync(join(tlsDir, 'ca.pem')), serverNameOverride: FRONTEND_SERVER_NAME } };
}
