package main

import (
	"fmt"
	"strings"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"

	"temporal-dsql/server/authz"
)

const envAllowNoAuth = "TEMPORAL_ALLOW_NO_AUTH"

// checkSecurity refuses a config that would serve the cluster unauthenticated or in plaintext
// unless the development switch for it is on (docs/server-container.md, "Authorization" and
// "TLS"):
//   - a frontend without global.authorization.authorizer and claimMapper "default" (the config
//     template renders them when TEMPORAL_AUTH_JWKS_URIS is set) needs TEMPORAL_ALLOW_NO_AUTH=true;
//   - a config without internode and frontend server certificates (the template renders them when
//     TEMPORAL_TLS_DIR holds the files) needs TEMPORAL_ALLOW_PLAINTEXT=true.
//
// svcs are the roles this process runs; the authorization check applies only with "frontend".
func checkSecurity(cfg *config.Config, svcs []string, allowNoAuth, allowPlaintext bool) error {
	a := cfg.Global.Authorization
	runsFrontend := false
	for _, s := range svcs {
		runsFrontend = runsFrontend || s == "frontend"
	}
	if runsFrontend && !allowNoAuth {
		if !strings.EqualFold(a.Authorizer, "default") || !strings.EqualFold(a.ClaimMapper, "default") || len(a.JWTKeyProvider.KeySourceURIs) == 0 {
			return fmt.Errorf("refusing to start the frontend without an authorizer: set TEMPORAL_AUTH_JWKS_URIS to the OIDC issuer's JWKS URL(s) (global.authorization: authorizer %q, claimMapper %q, %d key source URIs), or %s=true for development only", a.Authorizer, a.ClaimMapper, len(a.JWTKeyProvider.KeySourceURIs), envAllowNoAuth)
		}
	}
	t := cfg.Global.TLS
	hasCert := func(s config.ServerTLS) bool { return s.CertFile != "" || s.CertData != "" }
	if !allowPlaintext && (!hasCert(t.Internode.Server) || !hasCert(t.Frontend.Server)) {
		return fmt.Errorf("refusing to start without TLS: %s must hold %s (or set %s and %s to fill it from Secrets Manager), or %s=true for development only", envTLSDir, strings.Join(tlsFiles, ", "), envTLSInternodeSecret, envTLSFrontendSecret, envAllowPlaintext)
	}
	if !allowPlaintext && !t.Internode.Server.RequireClientAuth {
		return fmt.Errorf("refusing to start: global.tls.internode.server.requireClientAuth must be true (internode is mutual TLS; internal-frontend trusts every internode peer as admin), or %s=true for development only", envAllowPlaintext)
	}
	return nil
}

// withTokenPolicy puts the token policy (package authz: the exact issuer, the audience, the tenant)
// in front of upstream's JWT claim mapper whenever JWT authorization is configured (claimMapper
// "default" with key sources, as the config template renders from TEMPORAL_AUTH_JWKS_URIS). It
// fails, naming the variable, when TEMPORAL_AUTH_ISSUER is missing: a frontend that checks
// signatures but not the issuer would accept another tenant's tokens signed with shared keys.
func withTokenPolicy(m authorization.ClaimMapper, a config.Authorization, getenv func(string) string) (authorization.ClaimMapper, error) {
	if !strings.EqualFold(a.ClaimMapper, "default") || len(a.JWTKeyProvider.KeySourceURIs) == 0 {
		return m, nil
	}
	policy, err := authz.PolicyFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("refusing to start with JWT authorization: %w", err)
	}
	return &authz.IssuerCheckingClaimMapper{Wrapped: m, Policy: policy}, nil
}
