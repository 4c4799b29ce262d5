package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"go.temporal.io/server/common/dynamicconfig"
)

// TLS environment (docs/server-container.md, "TLS").
const (
	envTLSDir             = "TEMPORAL_TLS_DIR"
	envTLSInternodeSecret = "TEMPORAL_TLS_INTERNODE_SECRET_ARN"
	envTLSFrontendSecret  = "TEMPORAL_TLS_FRONTEND_SECRET_ARN"
	envTLSRefresh         = "TEMPORAL_TLS_REFRESH"
	envAllowPlaintext     = "TEMPORAL_ALLOW_PLAINTEXT"
	// envTLSEnabled is set by the bootstrap ("true" when TEMPORAL_TLS_DIR holds every file) for
	// the config template; not meant to be set by hand.
	envTLSEnabled = "TEMPORAL_TLS_ENABLED"

	defaultTLSDir     = "/tmp/temporal/tls"
	defaultTLSRefresh = time.Hour

	// InternodeServerName is the DNS SAN of the internode certificate; roles verify each other
	// with it because they dial task IPs from the membership ring.
	InternodeServerName = "internode.temporal.internal"
	// FrontendServerName is a DNS SAN of the frontend certificate (besides the NLB's name).
	FrontendServerName = "frontend.temporal.internal"
)

// tlsFiles are the files of TEMPORAL_TLS_DIR, all PEM: the CA bundle every role and client
// trusts, the internode pair (client and server usage) and the frontend's server pair.
var tlsFiles = []string{"ca.pem", "internode.pem", "internode.key", "frontend.pem", "frontend.key"}

// tlsSecret is the SecretString JSON of a certificate secret written by the certificate
// custom resource: the leaf then its chain, the PKCS#8 private key, the CA certificate(s).
type tlsSecret struct {
	Certificate string `json:"certificate"`
	PrivateKey  string `json:"privateKey"`
	CABundle    string `json:"caBundle"`
}

// secretGetter is the part of the Secrets Manager client the fetcher uses.
type secretGetter interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// tlsFetcher writes the two certificate secrets into dir: internode.pem/.key from
// internodeARN, frontend.pem/.key from frontendARN, and ca.pem as the union of both CA bundles.
type tlsFetcher struct {
	client       secretGetter
	dir          string
	internodeARN string
	frontendARN  string
}

// tlsDir returns TEMPORAL_TLS_DIR or its default.
func tlsDir(getenv func(string) string) string {
	if d := getenv(envTLSDir); d != "" {
		return d
	}
	return defaultTLSDir
}

// tlsRefresh parses TEMPORAL_TLS_REFRESH (a Go duration, at least 1m; default 1h).
func tlsRefresh(getenv func(string) string) (time.Duration, error) {
	v := getenv(envTLSRefresh)
	if v == "" {
		return defaultTLSRefresh, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute {
		return 0, fmt.Errorf("%s=%q must be a duration of at least 1m, e.g. 1h", envTLSRefresh, v)
	}
	return d, nil
}

// newTLSFetcher returns a fetcher when either secret ARN is set, else nil. Both must be set
// together. The Secrets Manager client uses the SDK's default configuration (task role;
// AWS_ENDPOINT_URL_SECRETS_MANAGER moves the endpoint).
func newTLSFetcher(ctx context.Context, getenv func(string) string) (*tlsFetcher, error) {
	internode, frontend := getenv(envTLSInternodeSecret), getenv(envTLSFrontendSecret)
	if internode == "" && frontend == "" {
		return nil, nil
	}
	if internode == "" || frontend == "" {
		return nil, fmt.Errorf("%s and %s must be set together (got %s=%q, %s=%q)", envTLSInternodeSecret, envTLSFrontendSecret, envTLSInternodeSecret, internode, envTLSFrontendSecret, frontend)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS SDK configuration for Secrets Manager: %w", err)
	}
	return &tlsFetcher{client: secretsmanager.NewFromConfig(cfg), dir: tlsDir(getenv), internodeARN: internode, frontendARN: frontend}, nil
}

// fetch reads both secrets, checks that each certificate matches its key and that the CA
// bundles parse, then replaces the files atomically (0600). Nothing is written unless both
// secrets are valid; errors name the secret ARN and the field, never its content.
func (f *tlsFetcher) fetch(ctx context.Context) error {
	internode, err := f.get(ctx, f.internodeARN)
	if err != nil {
		return err
	}
	frontend, err := f.get(ctx, f.frontendARN)
	if err != nil {
		return err
	}
	ca := caUnion(internode.CABundle, frontend.CABundle)
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", f.dir, err)
	}
	files := map[string]string{
		"ca.pem":        ca,
		"internode.pem": internode.Certificate,
		"internode.key": internode.PrivateKey,
		"frontend.pem":  frontend.Certificate,
		"frontend.key":  frontend.PrivateKey,
	}
	for _, name := range tlsFiles {
		if err := writeFileAtomic(filepath.Join(f.dir, name), []byte(files[name])); err != nil {
			return err
		}
	}
	return nil
}

func (f *tlsFetcher) get(ctx context.Context, arn string) (tlsSecret, error) {
	out, err := f.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return tlsSecret{}, fmt.Errorf("reading the certificate secret %s from Secrets Manager: %w", arn, err)
	}
	var s tlsSecret
	if out.SecretString == nil || json.Unmarshal([]byte(*out.SecretString), &s) != nil {
		return tlsSecret{}, fmt.Errorf("certificate secret %s: SecretString is not JSON {\"certificate\", \"privateKey\", \"caBundle\"}", arn)
	}
	if _, err := tls.X509KeyPair([]byte(s.Certificate), []byte(s.PrivateKey)); err != nil {
		return tlsSecret{}, fmt.Errorf("certificate secret %s: \"certificate\" and \"privateKey\" are not a matching PEM certificate and key", arn)
	}
	if !x509.NewCertPool().AppendCertsFromPEM([]byte(s.CABundle)) {
		return tlsSecret{}, fmt.Errorf("certificate secret %s: \"caBundle\" holds no PEM certificate", arn)
	}
	return s, nil
}

// caUnion joins the CERTIFICATE blocks of the bundles, each once, in order.
func caUnion(bundles ...string) string {
	var out bytes.Buffer
	seen := map[string]bool{}
	for _, b := range bundles {
		rest := []byte(b)
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type != "CERTIFICATE" || seen[string(block.Bytes)] {
				continue
			}
			seen[string(block.Bytes)] = true
			_ = pem.Encode(&out, block)
		}
	}
	return out.String()
}

func writeFileAtomic(path string, content []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil { // an older tmp file keeps its mode in WriteFile
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	return nil
}

// refreshLoop re-fetches the secrets every interval until ctx ends, so renewed certificates
// reach the files that Temporal reloads (global.tls.refreshInterval). A failed fetch keeps
// the current files and is reported to onError.
func (f *tlsFetcher) refreshLoop(ctx context.Context, interval time.Duration, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := f.fetch(ctx); err != nil && ctx.Err() == nil {
				onError(err)
			}
		}
	}
}

// tlsFilesPresent reports whether dir holds every TLS file: false when none exists, an error
// naming the missing ones when only some do.
func tlsFilesPresent(dir string) (bool, error) {
	var missing []string
	for _, name := range tlsFiles {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				return false, fmt.Errorf("checking %s: %w", filepath.Join(dir, name), err)
			}
			missing = append(missing, name)
		}
	}
	switch len(missing) {
	case 0:
		return true, nil
	case len(tlsFiles):
		return false, nil
	default:
		return false, fmt.Errorf("%s=%s holds only some TLS files: missing %v (needs %v)", envTLSDir, dir, missing, tlsFiles)
	}
}

// prepareTLS is the bootstrap's TLS step: it sets TEMPORAL_TLS_DIR to its default when unset,
// fills it from Secrets Manager when the secret ARNs are set (returning the fetcher for the
// periodic refresh), and sets TEMPORAL_TLS_ENABLED=true for the template when the directory
// holds every file, turning ringpop TLS on in the dynamic config file (TEMPORAL_DYNAMIC_CONFIG_FILE,
// written by the bootstrap) in that case.
func prepareTLS(ctx context.Context, e env, newFetcher func(context.Context, func(string) string) (*tlsFetcher, error)) (*tlsFetcher, error) {
	dir := tlsDir(e.Getenv)
	if err := e.Setenv(envTLSDir, dir); err != nil {
		return nil, err
	}
	if _, err := tlsRefresh(e.Getenv); err != nil {
		return nil, err
	}
	f, err := newFetcher(ctx, e.Getenv)
	if err != nil {
		return nil, err
	}
	if f != nil {
		if err := f.fetch(ctx); err != nil {
			return nil, fmt.Errorf("fetching the TLS certificates at start-up: %w", err)
		}
	}
	on, err := tlsFilesPresent(dir)
	if err != nil {
		return nil, err
	}
	enabled := "false"
	if on {
		enabled = "true"
		if path := e.Getenv(envDynamicConfigFile); path != "" {
			if err := enableRingpopTLS(path); err != nil {
				return nil, err
			}
		}
	}
	return f, e.Setenv(envTLSEnabled, enabled)
}

// ringpopTLSKey is upstream's dynamic config switch that runs the membership ring (ringpop over
// TChannel, the *_MEMBERSHIP_PORT ports) over the internode TLS settings; off by default upstream.
const ringpopTLSKey = "system.enableRingpopTLS"

// enableRingpopTLS turns ringpop TLS on in the dynamic config file the server reads (written by
// the bootstrap) unless the file already sets the key, so that with TLS on the membership ports
// are mutual TLS too. Every member of a cluster must agree: a node without it cannot join a ring
// that has it.
func enableRingpopTLS(path string) error {
	content, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the dynamic config %s: %w", path, err)
	}
	res := dynamicconfig.LoadYamlFile(content)
	if err := res.Err(); err != nil {
		return fmt.Errorf("dynamic config %s is invalid: %w", path, err)
	}
	if _, set := res.Map[dynamicconfig.MakeKey(ringpopTLSKey)]; set {
		return nil
	}
	if len(content) > 0 && content[len(content)-1] != '\n' {
		content = append(content, '\n')
	}
	content = append(content, []byte("# Added at start because TLS is on (temporal-dsql-server).\n"+ringpopTLSKey+":\n  - value: true\n")...)
	if res := dynamicconfig.LoadYamlFile(content); res.Err() != nil {
		return fmt.Errorf("adding %s to the dynamic config %s: %w", ringpopTLSKey, path, res.Err())
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		return fmt.Errorf("writing the dynamic config %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
