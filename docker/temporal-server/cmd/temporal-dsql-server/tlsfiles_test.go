package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"

	"temporal-dsql/server/internal/testenv"
)

// testCA is a CA that issues leaf certificates for the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert, key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// issue returns a leaf (PEM) and its PKCS#8 key (PEM) for dnsName, as the certificate custom resource stores them.
func (ca *testCA) issue(t *testing.T, dnsName string, serial int64) (certPEM, keyPEM string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: dnsName}, DNSNames: []string{dnsName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
}

func secretJSON(t *testing.T, cert, key, ca string) string {
	b, err := json.Marshal(tlsSecret{Certificate: cert, PrivateKey: key, CABundle: ca})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startMoto runs the repository's moto_server (.venv, PyPI moto[server]; scripts/setup.sh), the
// stand-in for AWS Secrets Manager, which cannot run here.
func startMoto(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(testenv.RepoRoot(), ".venv", "bin", "moto_server")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("moto_server not found at %s (run bash scripts/setup.sh): %v", bin, err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get(endpoint + "/moto-api/"); err == nil {
			resp.Body.Close()
			return endpoint
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s", endpoint)
		}
	}
}

// TestTLSSecretsFromMoto: the start-up fetch writes the five files (0600) from two secrets in
// Secrets Manager (moto stands in for it), the refresh picks up a renewed certificate, and an
// invalid secret leaves the current files in place with an error that names the secret and
// field but carries no key material.
func TestTLSSecretsFromMoto(t *testing.T) {
	endpoint := startMoto(t)
	ctx := context.Background()
	client := secretsmanager.New(secretsmanager.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	})
	ca := newTestCA(t, "test CA")
	inCert, inKey := ca.issue(t, InternodeServerName, 10)
	feCert, feKey := ca.issue(t, FrontendServerName, 11)
	create := func(name, value string) string {
		out, err := client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
		if err != nil {
			t.Fatal(err)
		}
		return *out.ARN
	}
	internodeARN := create("temporal/internode", secretJSON(t, inCert, inKey, ca.pem))
	frontendARN := create("temporal/frontend", secretJSON(t, feCert, feKey, ca.pem))

	dir := filepath.Join(t.TempDir(), "tls")
	e := mapEnv{envTLSDir: dir, envTLSInternodeSecret: internodeARN, envTLSFrontendSecret: frontendARN}
	var fetcher *tlsFetcher
	newFetcher := func(_ context.Context, getenv func(string) string) (*tlsFetcher, error) {
		fetcher = &tlsFetcher{client: client, dir: tlsDir(getenv), internodeARN: getenv(envTLSInternodeSecret), frontendARN: getenv(envTLSFrontendSecret)}
		return fetcher, nil
	}
	if _, err := prepareTLS(ctx, e, newFetcher); err != nil {
		t.Fatal(err)
	}
	if e[envTLSEnabled] != "true" {
		t.Fatalf("%s = %q after a successful fetch", envTLSEnabled, e[envTLSEnabled])
	}
	want := map[string]string{"ca.pem": ca.pem, "internode.pem": inCert, "internode.key": inKey, "frontend.pem": feCert, "frontend.key": feKey}
	for name, content := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != content {
			t.Fatalf("%s differs from the secret's field", name)
		}
		if st, _ := os.Stat(filepath.Join(dir, name)); st.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v, want 0600", name, st.Mode().Perm())
		}
	}

	// Renewal: a new internode certificate (and a second CA in the frontend's bundle) reach the files.
	ca2 := newTestCA(t, "next CA")
	inCert2, inKey2 := ca.issue(t, InternodeServerName, 12)
	put := func(arn, value string) {
		if _, err := client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(value)}); err != nil {
			t.Fatal(err)
		}
	}
	put(internodeARN, secretJSON(t, inCert2, inKey2, ca.pem))
	put(frontendARN, secretJSON(t, feCert, feKey, ca.pem+ca2.pem))
	if err := fetcher.fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "internode.pem")); string(b) != inCert2 {
		t.Fatal("the renewed internode certificate was not written")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); string(b) != ca.pem+ca2.pem {
		t.Fatalf("ca.pem is not the union of both bundles:\n%s", b)
	}

	// A key that does not match its certificate: refused, files unchanged, no key in the error.
	_, otherKey := ca.issue(t, InternodeServerName, 13)
	put(internodeARN, secretJSON(t, inCert2, otherKey, ca.pem))
	err := fetcher.fetch(ctx)
	if err == nil || !strings.Contains(err.Error(), internodeARN) || !strings.Contains(err.Error(), "privateKey") || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("mismatched key: got %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "internode.key")); string(b) != inKey2 {
		t.Fatal("a refused secret replaced internode.key")
	}

	// refreshLoop reports a failing fetch and keeps going until cancelled.
	rctx, cancel := context.WithCancel(ctx)
	errs := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		fetcher.refreshLoop(rctx, 100*time.Millisecond, func(err error) {
			select {
			case errs <- err:
			default:
			}
		})
		close(done)
	}()
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), internodeARN) {
			t.Fatalf("refresh error: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("refreshLoop did not report the failing fetch")
	}
	cancel()
	<-done
}

func TestPrepareTLSWithoutSecrets(t *testing.T) {
	none := func(context.Context, func(string) string) (*tlsFetcher, error) { return nil, nil }
	dir := t.TempDir()
	e := mapEnv{envTLSDir: dir}
	if _, err := prepareTLS(context.Background(), e, none); err != nil || e[envTLSEnabled] != "false" {
		t.Fatalf("empty dir: err %v, enabled %q", err, e[envTLSEnabled])
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := prepareTLS(context.Background(), e, none); err == nil || !strings.Contains(err.Error(), "internode.pem") {
		t.Fatalf("partial dir: want an error naming the missing files, got %v", err)
	}
	e = mapEnv{envTLSRefresh: "5s"}
	if _, err := prepareTLS(context.Background(), e, none); err == nil || !strings.Contains(err.Error(), envTLSRefresh) {
		t.Fatalf("refresh 5s: want an error naming %s, got %v", envTLSRefresh, err)
	}
	if _, err := newTLSFetcher(context.Background(), mapEnv{envTLSInternodeSecret: "arn:x"}.Getenv); err == nil || !strings.Contains(err.Error(), envTLSFrontendSecret) {
		t.Fatalf("one ARN only: got %v", err)
	}
}

// TestConfigTemplateSecurity: the template renders global.authorization, global.tls and the
// internal-frontend service from the env contract, and checkSecurity refuses the config
// without them unless the development switches are on.
func TestConfigTemplateSecurity(t *testing.T) {
	for k, v := range map[string]string{
		"DSQL_ENDPOINT": "abc.dsql.us-east-1.on.aws", "DSQL_REGION": "us-east-1",
		"OPENSEARCH_ENDPOINT": "https://vpc-x.us-east-1.es.amazonaws.com", "OPENSEARCH_VISIBILITY_INDEX": "v",
		"TEMPORAL_AUTH_JWKS_URIS": "https://idp.example/jwks, https://idp2.example/keys", "TEMPORAL_AUTH_AUDIENCE": "urn:temporal",
		"TEMPORAL_TLS_ENABLED": "true", "TEMPORAL_TLS_DIR": "/run/tls", "INTERNAL_FRONTEND_GRPC_PORT": "17236",
	} {
		t.Setenv(k, v)
	}
	load := func() *config.Config {
		cfg, err := config.Load(config.WithConfigFile(filepath.Join("..", "..", "config", "config_template.yaml")))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := load()
	a := cfg.Global.Authorization
	if a.Authorizer != "default" || a.ClaimMapper != "default" || a.PermissionsClaimName != "permissions" || a.Audience != "urn:temporal" ||
		strings.Join(a.JWTKeyProvider.KeySourceURIs, " ") != "https://idp.example/jwks https://idp2.example/keys" || a.JWTKeyProvider.RefreshInterval != time.Minute {
		t.Fatalf("authorization: %+v", a)
	}
	tl := cfg.Global.TLS
	if tl.Internode.Server.CertFile != "/run/tls/internode.pem" || !tl.Internode.Server.RequireClientAuth ||
		tl.Internode.Client.ServerName != InternodeServerName || tl.Internode.Client.RootCAFiles[0] != "/run/tls/ca.pem" ||
		tl.Frontend.Server.KeyFile != "/run/tls/frontend.key" || tl.Frontend.Server.RequireClientAuth || tl.RefreshInterval != time.Minute {
		t.Fatalf("tls: %+v", tl)
	}
	if ife, ok := cfg.Services["internal-frontend"]; !ok || ife.RPC.GRPCPort != 17236 || ife.RPC.MembershipPort != 6936 {
		t.Fatalf("internal-frontend: %+v", cfg.Services["internal-frontend"])
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("upstream validation: %v", err)
	}
	if err := checkSecurity(cfg, []string{"frontend", "internal-frontend"}, false, false); err != nil {
		t.Fatalf("secured config refused: %v", err)
	}
	if got := strings.Join(withInternalFrontend(cfg, []string{"frontend"}), ","); got != "frontend,internal-frontend" {
		t.Fatalf("frontend with an internal-frontend section runs %s", got)
	}
	if got := strings.Join(withInternalFrontend(cfg, []string{"history"}), ","); got != "history" {
		t.Fatalf("history runs %s", got)
	}

	t.Setenv("TEMPORAL_AUTH_JWKS_URIS", "")
	t.Setenv("TEMPORAL_TLS_ENABLED", "false")
	cfg = load()
	if err := checkSecurity(cfg, []string{"frontend"}, false, true); err == nil || !strings.Contains(err.Error(), envAllowNoAuth) || !strings.Contains(err.Error(), "TEMPORAL_AUTH_JWKS_URIS") {
		t.Fatalf("no authorizer: got %v", err)
	}
	if err := checkSecurity(cfg, []string{"history"}, false, true); err != nil {
		t.Fatalf("history needs no authorizer: %v", err)
	}
	if err := checkSecurity(cfg, []string{"history"}, true, false); err == nil || !strings.Contains(err.Error(), envAllowPlaintext) {
		t.Fatalf("no TLS: got %v", err)
	}
	if err := checkSecurity(cfg, []string{"frontend"}, true, true); err != nil {
		t.Fatalf("both switches on: %v", err)
	}
}

// TestEnableRingpopTLS: with TLS on, the dynamic config gains system.enableRingpopTLS=true unless
// it sets the key itself.
func TestEnableRingpopTLS(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dc.yaml")
	if err := os.WriteFile(path, []byte("frontend.enableUpdateWorkflowExecution:\n  - value: true"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := mapEnv{envTLSDir: dir, envDynamicConfigFile: path}
	for _, name := range tlsFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	none := func(context.Context, func(string) string) (*tlsFetcher, error) { return nil, nil }
	if _, err := prepareTLS(context.Background(), e, none); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	res := dynamicconfig.LoadYamlFile(b)
	v := res.Map[dynamicconfig.MakeKey(ringpopTLSKey)]
	if res.Err() != nil || len(v) != 1 || v[0].Value != true || len(res.Map) != 2 {
		t.Fatalf("dynamic config after prepareTLS (err %v):\n%s", res.Err(), b)
	}
	// Set by the operator: left alone.
	off := "system.enableRingpopTLS:\n  - value: false\n"
	if err := os.WriteFile(path, []byte(off), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := enableRingpopTLS(path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != off {
		t.Fatalf("an explicit setting was changed:\n%s", b)
	}
}

// TestStartRefusesInsecureConfig runs the real `start` command on the image's config template:
// without TEMPORAL_AUTH_JWKS_URIS it stops before any service starts, naming the variables; with
// TEMPORAL_ALLOW_NO_AUTH=true it stops on the missing TLS files, naming TEMPORAL_ALLOW_PLAINTEXT.
func TestStartRefusesInsecureConfig(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"DSQL_ENDPOINT": "abc.dsql.us-east-1.on.aws", "DSQL_REGION": "us-east-1",
		"OPENSEARCH_ENDPOINT": "https://vpc-x.us-east-1.es.amazonaws.com", "OPENSEARCH_VISIBILITY_INDEX": "v",
		"TEMPORAL_BROADCAST_ADDRESS": "", "ECS_CONTAINER_METADATA_URI_V4": "", "SERVICES": "",
		"TEMPORAL_DYNAMIC_CONFIG": "", "TEMPORAL_DEFAULT_DYNAMIC_CONFIG_FILE": filepath.Join("..", "..", "config", "dynamicconfig", "default.yaml"),
		"TEMPORAL_DYNAMIC_CONFIG_FILE": filepath.Join(dir, "dc.yaml"), envTLSDir: filepath.Join(dir, "tls"),
		envTLSInternodeSecret: "", envTLSFrontendSecret: "", "TEMPORAL_AUTH_JWKS_URIS": "",
		envAllowNoAuth: "", envAllowPlaintext: "",
	} {
		t.Setenv(k, v)
	}
	start := func() error {
		return newApp().Run([]string{"temporal-dsql-server", "--config-file", filepath.Join("..", "..", "config", "config_template.yaml"), "start"})
	}
	if err := start(); err == nil || !strings.Contains(err.Error(), "TEMPORAL_AUTH_JWKS_URIS") || !strings.Contains(err.Error(), envAllowNoAuth) {
		t.Fatalf("no authorizer: got %v", err)
	}
	t.Setenv(envAllowNoAuth, "true")
	if err := start(); err == nil || !strings.Contains(err.Error(), envAllowPlaintext) || !strings.Contains(err.Error(), envTLSInternodeSecret) {
		t.Fatalf("no TLS: got %v", err)
	}
}
