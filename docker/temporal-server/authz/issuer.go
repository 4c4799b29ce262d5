// Package authz narrows which signed tokens the frontend accepts. Upstream's default JWT claim
// mapper (go.temporal.io/server/common/authorization, v1.31.2, default_jwt_claim_mapper.go) checks
// a token's signature against the configured key sets, its expiry and, only when one is configured,
// its `aud`; it never looks at the issuer. With an identity provider that signs many tenants'
// tokens with one key set (Microsoft Entra ID's common keys), a token from another tenant would
// then pass.
//
// IssuerCheckingClaimMapper wraps any upstream ClaimMapper (the extension point
// temporal.WithClaimMapper) and, for a request that carries a bearer token, accepts the claims the
// wrapped mapper returns only when the token's `iss` equals the configured issuer exactly, its
// audience claim (`aud`, or `client_id` for Amazon Cognito access tokens, which have no `aud`)
// holds the configured audience when one is configured, and its `tid` equals the configured
// tenant when one is configured. The wrapped mapper verifies the signature and expiry first, so
// the claims read here are those of a token that already passed them. Requests without a token
// (internode mutual TLS) go to the wrapped mapper unchanged.
package authz

import (
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v4"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common/authorization"
)

// Environment variables of the token policy (docs/server-container.md, "Authorization").
const (
	// EnvIssuer is the exact `iss` every accepted token carries (the OIDC issuer URL). Required.
	EnvIssuer = "TEMPORAL_AUTH_ISSUER"
	// EnvAudience is the value every accepted token's audience claim holds; empty: not checked.
	// Checked here rather than by upstream, whose check reads only `aud`.
	EnvAudience = "TEMPORAL_AUTH_AUDIENCE"
	// EnvAudienceClaim names the audience claim: `aud` (default) or `client_id` (Amazon Cognito
	// access tokens carry the app client id there).
	EnvAudienceClaim = "TEMPORAL_AUTH_AUDIENCE_CLAIM"
	// EnvTenantID is the Entra ID tenant every accepted token's `tid` equals; empty: not checked.
	EnvTenantID = "TEMPORAL_AUTH_TENANT_ID"
)

// TokenPolicy says which issuer, audience and tenant an accepted token names.
type TokenPolicy struct {
	// Issuer must equal the token's `iss` claim exactly (no trailing-slash or case folding). Required.
	Issuer string
	// Audience, when not empty, must be one of the values of AudienceClaim (a string or a list).
	Audience string
	// AudienceClaim is where Audience is looked up: "aud" (default when empty) or "client_id".
	AudienceClaim string
	// TenantID, when not empty, must equal the token's `tid` claim (Microsoft Entra ID).
	TenantID string
}

// PolicyFromEnv reads the policy from the environment (getenv is os.Getenv in the server). It
// fails, naming the variable, when the issuer is missing or the audience claim is not aud or client_id.
func PolicyFromEnv(getenv func(string) string) (TokenPolicy, error) {
	p := TokenPolicy{Issuer: getenv(EnvIssuer), Audience: getenv(EnvAudience), AudienceClaim: getenv(EnvAudienceClaim), TenantID: getenv(EnvTenantID)}
	if p.Issuer == "" {
		return p, fmt.Errorf("%s is not set: with frontend authorization on, the server accepts a token only from the configured issuer (the OIDC issuer URL, exactly as in the tokens' iss claim)", EnvIssuer)
	}
	if p.AudienceClaim == "" {
		p.AudienceClaim = "aud"
	}
	if p.AudienceClaim != "aud" && p.AudienceClaim != "client_id" {
		return p, fmt.Errorf("%s is %q: allowed are aud and client_id", EnvAudienceClaim, p.AudienceClaim)
	}
	return p, nil
}

// IssuerCheckingClaimMapper is an authorization.ClaimMapper that accepts the wrapped mapper's claims
// only for tokens that satisfy Policy (see the package comment).
type IssuerCheckingClaimMapper struct {
	Wrapped authorization.ClaimMapper
	Policy  TokenPolicy
}

var (
	_ authorization.ClaimMapper                     = (*IssuerCheckingClaimMapper)(nil)
	_ authorization.ClaimMapperWithAuthInfoRequired = (*IssuerCheckingClaimMapper)(nil)
)

// GetClaims returns the wrapped mapper's claims, or a PermissionDenied error naming the claim that
// did not match (upstream's interceptor logs it and answers the caller "Request unauthorized.").
func (m *IssuerCheckingClaimMapper) GetClaims(authInfo *authorization.AuthInfo) (*authorization.Claims, error) {
	claims, err := m.Wrapped.GetClaims(authInfo)
	if err != nil || authInfo == nil || authInfo.AuthToken == "" {
		return claims, err
	}
	parts := strings.SplitN(authInfo.AuthToken, " ", 2)
	if len(parts) != 2 {
		return nil, serviceerror.NewPermissionDenied("unexpected authorization token format", "")
	}
	tc := jwt.MapClaims{}
	// The wrapped mapper has verified this very token's signature; here its claims are only read.
	if _, _, err := jwt.NewParser().ParseUnverified(parts[1], tc); err != nil {
		return nil, serviceerror.NewPermissionDenied(fmt.Sprintf("unreadable token: %v", err), "")
	}
	if iss, _ := tc["iss"].(string); iss != m.Policy.Issuer {
		return nil, serviceerror.NewPermissionDenied(fmt.Sprintf("token issuer %q is not the configured issuer %q", iss, m.Policy.Issuer), "")
	}
	if claim := m.audienceClaim(); m.Policy.Audience != "" && !hasValue(tc[claim], m.Policy.Audience) {
		return nil, serviceerror.NewPermissionDenied(fmt.Sprintf("token %s %v does not hold the configured audience %q", claim, tc[claim], m.Policy.Audience), "")
	}
	if m.Policy.TenantID != "" {
		if tid, _ := tc["tid"].(string); tid != m.Policy.TenantID {
			return nil, serviceerror.NewPermissionDenied(fmt.Sprintf("token tenant %q is not the configured tenant %q", tid, m.Policy.TenantID), "")
		}
	}
	return claims, nil
}

// AuthInfoRequired forwards the wrapped mapper's answer (upstream calls GetClaims without auth
// info only for mappers that say so), so wrapping changes nothing for tokenless requests.
func (m *IssuerCheckingClaimMapper) AuthInfoRequired() bool {
	if r, ok := m.Wrapped.(authorization.ClaimMapperWithAuthInfoRequired); ok {
		return r.AuthInfoRequired()
	}
	return true
}

func (m *IssuerCheckingClaimMapper) audienceClaim() string {
	if m.Policy.AudienceClaim == "" {
		return "aud"
	}
	return m.Policy.AudienceClaim
}

// hasValue reports whether claim (a string or a list of strings, as JWT audiences are) holds want.
func hasValue(claim any, want string) bool {
	switch v := claim.(type) {
	case string:
		return v == want
	case []any:
		for _, e := range v {
			if s, _ := e.(string); s == want {
				return true
			}
		}
	}
	return false
}
