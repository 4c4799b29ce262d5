package main

import (
	"strings"
	"testing"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"

	"temporal-dsql/server/authz"
)

func TestWithTokenPolicy(t *testing.T) {
	jwtAuth := config.Authorization{ClaimMapper: "default", Authorizer: "default",
		JWTKeyProvider: config.JWTKeyProvider{KeySourceURIs: []string{"https://idp.example/jwks"}}}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	upstream := authorization.NewNoopClaimMapper()

	t.Run("JWT authorization without TEMPORAL_AUTH_ISSUER refuses to start, naming the variable", func(t *testing.T) {
		_, err := withTokenPolicy(upstream, jwtAuth, env(map[string]string{"TEMPORAL_AUTH_AUDIENCE": "a"}))
		if err == nil || !strings.Contains(err.Error(), "TEMPORAL_AUTH_ISSUER") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("JWT authorization with an issuer wraps upstream's mapper with the policy", func(t *testing.T) {
		m, err := withTokenPolicy(upstream, jwtAuth, env(map[string]string{"TEMPORAL_AUTH_ISSUER": "https://idp.example", "TEMPORAL_AUTH_TENANT_ID": "t1"}))
		if err != nil {
			t.Fatal(err)
		}
		w, ok := m.(*authz.IssuerCheckingClaimMapper)
		if !ok || w.Wrapped != upstream || w.Policy.Issuer != "https://idp.example" || w.Policy.TenantID != "t1" || w.Policy.AudienceClaim != "aud" {
			t.Fatalf("got %#v", m)
		}
	})
	t.Run("without JWT authorization (development) the mapper is left alone", func(t *testing.T) {
		m, err := withTokenPolicy(upstream, config.Authorization{}, env(nil))
		if err != nil || m != upstream {
			t.Fatalf("m = %#v, err = %v", m, err)
		}
	})
}
