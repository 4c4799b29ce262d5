package main

import (
	"fmt"
	"strings"

	"go.temporal.io/server/common/config"
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
