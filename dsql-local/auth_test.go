package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/dsql/auth"
)

// Tokens come from the AWS SDK's own DSQL signer; the verifier must accept exactly the valid ones.
func TestTokenVerifier(t *testing.T) {
	ctx := context.Background()
	admin, server := testCredentials[0], testCredentials[1]
	provider := func(c Credential, secret string) credentials.StaticCredentialsProvider {
		return credentials.NewStaticCredentialsProvider(c.AccessKeyID, secret, "")
	}
	adminToken, _ := auth.GenerateDBConnectAdminAuthToken(ctx, "localhost", "us-east-1", provider(admin, admin.SecretAccessKey))
	serverToken, _ := auth.GenerateDbConnectAuthToken(ctx, "localhost", "us-east-1", provider(server, server.SecretAccessKey))
	serverAdminToken, _ := auth.GenerateDBConnectAdminAuthToken(ctx, "localhost", "us-east-1", provider(server, server.SecretAccessKey))
	wrongSecret, _ := auth.GenerateDBConnectAdminAuthToken(ctx, "localhost", "us-east-1", provider(admin, "nope"))
	wrongHost, _ := auth.GenerateDBConnectAdminAuthToken(ctx, "x.dsql.us-east-1.on.aws", "us-east-1", provider(admin, admin.SecretAccessKey))
	wrongRegion, _ := auth.GenerateDBConnectAdminAuthToken(ctx, "localhost", "eu-west-1", provider(admin, admin.SecretAccessKey))
	short, _ := auth.GenerateDBConnectAdminAuthToken(ctx, "localhost", "us-east-1", provider(admin, admin.SecretAccessKey),
		func(o *auth.TokenOptions) { o.ExpiresIn = time.Minute })

	v := newTokenVerifier("localhost", "us-east-1", testCredentials)
	tests := []struct {
		name, token, user, principal, errPart string
	}{
		{"admin token as admin", adminToken, "admin", admin.PrincipalArn, ""},
		{"DbConnect token as a role", serverToken, "temporal", server.PrincipalArn, ""},
		{"DbConnect token as admin", serverToken, "admin", "", "needs a DbConnectAdmin token"},
		{"admin token as a role", adminToken, "temporal", "", "needs a DbConnect token"},
		{"DbConnectAdmin from a non-admin principal", serverAdminToken, "admin", "", "not allowed dsql:DbConnectAdmin"},
		{"wrong secret", wrongSecret, "admin", "", "signature does not match"},
		{"wrong host", wrongHost, "admin", "", "signed for host"},
		{"wrong region", wrongRegion, "admin", "", "token scope"},
		{"not a token", "hunter2", "admin", "", ""},
		{"tampered", strings.Replace(adminToken, "X-Amz-Expires=900", "X-Amz-Expires=901", 1), "admin", "", "signature does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := v.verify(tc.token, tc.user)
			if tc.principal != "" {
				if err != nil || cred.PrincipalArn != tc.principal {
					t.Fatalf("verify = %v, %v; want principal %s", cred.PrincipalArn, err, tc.principal)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errPart) {
				t.Fatalf("verify error = %v, want one containing %q", err, tc.errPart)
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		late := newTokenVerifier("localhost", "us-east-1", testCredentials)
		late.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
		if _, err := late.verify(short, "admin"); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("verify error = %v, want expired", err)
		}
		if _, err := v.verify(short, "admin"); err != nil {
			t.Fatalf("unexpired short token refused: %v", err)
		}
	})
}
