package dsql

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A failed load of the AWS default credential chain is not kept: once the environment
// can supply credentials, the same Connector signs tokens.
func TestCredentialsLoadFailureIsNotCached(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config")
	if err := os.WriteFile(cfgFile, []byte("[default]\nregion = us-east-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", cfgFile)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SESSION_TOKEN", "")
	// A profile that does not exist makes LoadDefaultConfig fail.
	t.Setenv("AWS_PROFILE", "missing-profile")

	c, err := NewConnector(ConnectorConfig{Host: "abc.dsql.us-east-1.on.aws", User: "temporal_server", Region: "us-east-1", TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Token(ctx); err == nil || !strings.Contains(err.Error(), "loading AWS credentials") {
		t.Fatalf("first token with a missing profile: got %v, want a credentials load error", err)
	}
	// The environment is fixed: static keys, no profile.
	t.Setenv("AWS_PROFILE", "")
	os.Unsetenv("AWS_PROFILE")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	tok, err := c.Token(ctx)
	if err != nil {
		t.Fatalf("token after the environment was fixed: %v (a failed load was cached)", err)
	}
	if !strings.Contains(tok, "Action=DbConnect&") || !strings.Contains(tok, "X-Amz-Credential=AKIDEXAMPLE") {
		t.Fatalf("token %q is not a DbConnect token signed with the new key", tok)
	}
}
