package authz

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
)

// oneRSAKey is a TokenKeyProvider holding one RSA key, so these tests run upstream's real default
// JWT claim mapper (signature, expiry, audience) underneath the issuer check.
type oneRSAKey struct{ key *rsa.PublicKey }

func (k oneRSAKey) EcdsaKey(string, string) (*ecdsa.PublicKey, error) {
	return nil, errors.New("no ECDSA key")
}
func (k oneRSAKey) HmacKey(string, string) ([]byte, error)        { return nil, errors.New("no HMAC key") }
func (k oneRSAKey) RsaKey(string, string) (*rsa.PublicKey, error) { return k.key, nil }
func (k oneRSAKey) SupportedMethods() []string                    { return []string{"RS256"} }
func (k oneRSAKey) Close()                                        {}

const (
	testIssuer   = "https://login.example.test/tenant-a/v2.0"
	testAudience = "urn:temporal:frontend"
	testTenant   = "tenant-a"
)

func TestIssuerCheckingClaimMapper(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	upstream := authorization.NewDefaultJWTClaimMapper(oneRSAKey{&priv.PublicKey}, &config.Authorization{}, log.NewNoopLogger())
	mapper := &IssuerCheckingClaimMapper{Wrapped: upstream, Policy: TokenPolicy{Issuer: testIssuer, Audience: testAudience, TenantID: testTenant}}
	sign := func(c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}
	good := func() jwt.MapClaims {
		return jwt.MapClaims{
			"iss": testIssuer, "aud": []any{"other", testAudience}, "tid": testTenant, "sub": "client-1",
			"exp": time.Now().Add(time.Hour).Unix(), "permissions": []any{"temporal-system:admin"},
		}
	}
	with := func(k string, v any) jwt.MapClaims { c := good(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := good(); delete(c, k); return c }

	cases := []struct {
		name   string
		claims jwt.MapClaims
		ok     bool
		ours   bool // refused by the issuer check (not by upstream's mapper underneath)
	}{
		{"the configured issuer, audience and tenant", good(), true, false},
		{"aud as a single string", with("aud", testAudience), true, false},
		{"another issuer signed with the same key", with("iss", "https://login.example.test/tenant-b/v2.0"), false, true},
		{"issuer differing by a trailing slash", with("iss", testIssuer+"/"), false, true},
		{"no issuer", without("iss"), false, true},
		{"issuer of another type", with("iss", 42), false, true},
		{"audience missing", without("aud"), false, true},
		{"another audience only", with("aud", "urn:someone:else"), false, true},
		{"another tenant", with("tid", "tenant-b"), false, true},
		{"no tenant", without("tid"), false, true},
		{"expired (upstream's check, still enforced)", with("exp", time.Now().Add(-time.Minute).Unix()), false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			claims, err := mapper.GetClaims(&authorization.AuthInfo{AuthToken: sign(tc.claims)})
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if claims.System != authorization.RoleAdmin || claims.Subject != "client-1" {
					t.Fatalf("claims not passed through: %+v", claims)
				}
				return
			}
			if err == nil || claims != nil {
				t.Fatalf("accepted (claims %+v, err %v)", claims, err)
			}
			// Our own refusals are PermissionDenied naming the claim; upstream's (signature, expiry)
			// are its own errors. Upstream's interceptor answers every one with PermissionDenied.
			var pd *serviceerror.PermissionDenied
			if tc.ours && !errors.As(err, &pd) {
				t.Fatalf("want PermissionDenied from the issuer check, got %T %v", err, err)
			}
		})
	}

	t.Run("Cognito access tokens: the audience is in client_id", func(t *testing.T) {
		m := &IssuerCheckingClaimMapper{Wrapped: upstream, Policy: TokenPolicy{Issuer: testIssuer, Audience: "app-client-1", AudienceClaim: "client_id"}}
		c := without("aud")
		c["client_id"] = "app-client-1"
		if _, err := m.GetClaims(&authorization.AuthInfo{AuthToken: sign(c)}); err != nil {
			t.Fatalf("refused: %v", err)
		}
		c["client_id"] = "app-client-2"
		if _, err := m.GetClaims(&authorization.AuthInfo{AuthToken: sign(c)}); err == nil {
			t.Fatal("accepted another app client")
		}
	})
	t.Run("no audience configured: the audience is not checked here", func(t *testing.T) {
		m := &IssuerCheckingClaimMapper{Wrapped: upstream, Policy: TokenPolicy{Issuer: testIssuer}}
		if _, err := m.GetClaims(&authorization.AuthInfo{AuthToken: sign(without("aud"))}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no tenant configured: tid is not checked", func(t *testing.T) {
		m := &IssuerCheckingClaimMapper{Wrapped: upstream, Policy: TokenPolicy{Issuer: testIssuer, Audience: testAudience}}
		if _, err := m.GetClaims(&authorization.AuthInfo{AuthToken: sign(with("tid", "anything"))}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a request without a token goes to the wrapped mapper unchanged", func(t *testing.T) {
		claims, err := mapper.GetClaims(&authorization.AuthInfo{})
		if err != nil || claims == nil || claims.System != authorization.RoleUndefined {
			t.Fatalf("claims %+v err %v", claims, err)
		}
	})
	t.Run("a token with a bad signature is refused by upstream first", func(t *testing.T) {
		other, _ := rsa.GenerateKey(rand.Reader, 2048)
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, good())
		tok.Header["kid"] = "k1"
		s, _ := tok.SignedString(other)
		if _, err := mapper.GetClaims(&authorization.AuthInfo{AuthToken: "Bearer " + s}); err == nil {
			t.Fatal("accepted a token signed by another key")
		}
	})
	t.Run("AuthInfoRequired follows the wrapped mapper", func(t *testing.T) {
		if mapper.AuthInfoRequired() != true {
			t.Fatal("default JWT mapper requires auth info")
		}
		noop := &IssuerCheckingClaimMapper{Wrapped: authorization.NewNoopClaimMapper()}
		if noop.AuthInfoRequired() != false {
			t.Fatal("noop mapper does not require auth info")
		}
	})
}

func TestPolicyFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if _, err := PolicyFromEnv(env(map[string]string{EnvAudience: "a"})); err == nil || !strings.Contains(err.Error(), EnvIssuer) {
		t.Fatalf("missing issuer: %v", err)
	}
	if _, err := PolicyFromEnv(env(map[string]string{EnvIssuer: "i", EnvAudienceClaim: "azp"})); err == nil || !strings.Contains(err.Error(), EnvAudienceClaim) {
		t.Fatalf("unknown audience claim: %v", err)
	}
	p, err := PolicyFromEnv(env(map[string]string{EnvIssuer: "i", EnvAudience: "a", EnvTenantID: "t"}))
	if err != nil || p != (TokenPolicy{Issuer: "i", Audience: "a", AudienceClaim: "aud", TenantID: "t"}) {
		t.Fatalf("%+v %v", p, err)
	}
}
