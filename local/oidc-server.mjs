// The local stack's OpenID provider process (npm package `oidc-provider`, ESM-only, hence this
// plain ES module run as a child process by local/oidc.ts; see that file for the contract).
//
// Usage: node local/oidc-server.mjs <config.json>
//   config.json (written 0600 by local/oidc.ts): {
//     port, issuer, audience, tokenTtlSeconds,
//     jwk: <private RSA JWK with kid, alg RS256>,
//     clients: [<oidc-provider client metadata>],
//     users: { <login>: [<permission>, ...] }
//   }
// Prints `oidc-provider listening on <issuer>` once it accepts requests.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const PERMISSION = /^[A-Za-z0-9._-]+:(read|write|worker|admin)$/;

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const users = cfg.users ?? {};

/** Permissions a token carries: a client-credentials token's permission scopes, a user's configured list. */
function permissionsOf(token) {
  if (token.kind === 'ClientCredentials') {
    return (token.scope ?? '').split(' ').filter((s) => PERMISSION.test(s));
  }
  return users[token.accountId] ?? [];
}

const provider = new Provider(cfg.issuer, {
  clients: cfg.clients,
  jwks: { keys: [cfg.jwk] },
  // The UI login (authorization code flow) uses the provider's development login page: any login
  // name is accepted; its permissions come from `users`.
  findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, name: id }) }),
  claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => cfg.audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (resourceIndicator !== cfg.audience) {
          throw new Error(`unknown resource ${resourceIndicator}; this provider serves ${cfg.audience}`);
        }
        const requested = String(ctx.oidc.params?.scope ?? '').split(' ').filter((s) => PERMISSION.test(s));
        return {
          scope: requested.join(' '),
          audience: cfg.audience,
          accessTokenTTL: cfg.tokenTtlSeconds,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: (_ctx, token) => ({ permissions: permissionsOf(token) }),
  ttl: { AccessToken: cfg.tokenTtlSeconds, ClientCredentials: cfg.tokenTtlSeconds },
});

const server = provider.listen(cfg.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${cfg.issuer}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
