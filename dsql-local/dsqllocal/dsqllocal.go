// Package dsqllocal starts dsql-local (the local Aurora DSQL endpoint of this repository) from Go
// tests and opens pgx connections to it with IAM tokens signed by
// github.com/aws/aws-sdk-go-v2/feature/dsql/auth, as a DSQL client would.
//
//	ep, err := dsqllocal.Start(ctx, dsqllocal.Options{})
//	defer ep.Stop()
//	conn, err := ep.Connect(ctx, "admin", "")
//
// The binary is built with `go build` from the dsql-local module (incremental) unless
// Options.Binary names one. Use from another module with
// `require temporal-dsql/dsql-local v0.0.0` and `replace temporal-dsql/dsql-local => <path>`.
package dsqllocal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/dsql/auth"
	"github.com/jackc/pgx/v5"
)

// Options configure Start. Zero values keep dsql-local's defaults (DSQL's limits).
type Options struct {
	// Binary is the dsql-local executable. Default: built into <module>/../.cache/bin/dsql-local.
	Binary string
	// Args are extra flags, e.g. "--index-build-delay=2s", "--max-conn-age=5s".
	Args []string
	// StartTimeout bounds start-up (default 90 s).
	StartTimeout time.Duration
}

// Credential is a fake static AWS credential the endpoint accepts, mapped to an IAM principal.
type Credential struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
	PrincipalArn    string `json:"principalArn"`
	Admin           bool   `json:"admin"` // may use DbConnectAdmin (connect as "admin")
}

// Endpoint is a running dsql-local, as described by its ready line.
type Endpoint struct {
	Host        string       `json:"host"`
	Port        int          `json:"port"`
	Hostname    string       `json:"hostname"` // TLS server name and token host
	Region      string       `json:"region"`
	CAFile      string       `json:"caFile"`
	ControlURL  string       `json:"controlUrl"`
	Credentials []Credential `json:"credentials"`

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	done   chan struct{}
	stderr *tailBuffer
}

// ModuleDir is the directory of the dsql-local module (found from this source file).
func ModuleDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Build runs `go build` for dsql-local into <repo>/.cache/bin/dsql-local and returns the path.
func Build(ctx context.Context) (string, error) {
	mod := ModuleDir()
	out := filepath.Join(filepath.Dir(mod), ".cache", "bin", "dsql-local")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "flock", filepath.Join(filepath.Dir(mod), ".cache", "dsql-local-build.lock"), "go", "build", "-o", out, ".")
	cmd.Dir = mod
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building dsql-local: %v\n%s", err, b)
	}
	return out, nil
}

// Start builds (if needed) and starts dsql-local with its own PostgreSQL, and returns once it
// accepts connections. Call Stop when done.
func Start(ctx context.Context, opts Options) (*Endpoint, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = Build(ctx); err != nil {
			return nil, err
		}
	}
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 90 * time.Second
	}
	cmd := exec.Command(bin, append([]string{"--exit-with-stdin"}, opts.Args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	tb := &tailBuffer{}
	cmd.Stderr = tb
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	ep := &Endpoint{cmd: cmd, stdin: stdin, done: make(chan struct{}), stderr: tb}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		if sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(ep.done) }()
	select {
	case line := <-lines:
		if err := json.Unmarshal([]byte(line), ep); err != nil {
			ep.Stop()
			return nil, fmt.Errorf("dsql-local printed %q: %w", line, err)
		}
		return ep, nil
	case <-ep.done:
		return nil, fmt.Errorf("dsql-local exited before it was ready:\n%s", tb.String())
	case <-time.After(timeout):
		ep.Stop()
		return nil, fmt.Errorf("dsql-local not ready within %s:\n%s", timeout, tb.String())
	case <-ctx.Done():
		ep.Stop()
		return nil, ctx.Err()
	}
}

// Stop shuts dsql-local and its PostgreSQL down and waits for the process to exit.
func (e *Endpoint) Stop() {
	_ = e.stdin.Close()
	select {
	case <-e.done:
	case <-time.After(30 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

// Credential returns the test credential of a principal given by ARN or role name ("admin",
// "temporal-server", "other").
func (e *Endpoint) Credential(principal string) (Credential, error) {
	for _, c := range e.Credentials {
		if c.PrincipalArn == principal || strings.HasSuffix(c.PrincipalArn, ":role/"+principal) {
			return c, nil
		}
	}
	return Credential{}, fmt.Errorf("unknown principal %q", principal)
}

// Token signs a DSQL IAM token for user: DbConnectAdmin for "admin", DbConnect otherwise.
// principal "" means "admin" for user admin and "temporal-server" otherwise.
func (e *Endpoint) Token(ctx context.Context, user, principal string) (string, error) {
	if principal == "" {
		principal = "temporal-server"
		if user == "admin" {
			principal = "admin"
		}
	}
	c, err := e.Credential(principal)
	if err != nil {
		return "", err
	}
	creds := credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, "")
	if user == "admin" {
		return auth.GenerateDBConnectAdminAuthToken(ctx, e.Hostname, e.Region, creds)
	}
	return auth.GenerateDbConnectAuthToken(ctx, e.Hostname, e.Region, creds)
}

// ConnConfig is a pgx configuration for user with a fresh token, verify-full TLS against CAFile
// and SNI = Hostname.
func (e *Endpoint) ConnConfig(ctx context.Context, user, principal string) (*pgx.ConnConfig, error) {
	token, err := e.Token(ctx, user, principal)
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=postgres sslmode=verify-full sslrootcert=%s",
		e.Host, e.Port, user, e.CAFile))
	if err != nil {
		return nil, err
	}
	cfg.Password = token
	cfg.TLSConfig.ServerName = e.Hostname
	return cfg, nil
}

// Connect opens a pgx connection as user (see Token for principal).
func (e *Endpoint) Connect(ctx context.Context, user, principal string) (*pgx.Conn, error) {
	cfg, err := e.ConnConfig(ctx, user, principal)
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// Control calls the fault-injection API: method and path (e.g. "POST", "/faults/statements")
// with a JSON body; it returns the decoded JSON answer or the API's error.
func (e *Endpoint) Control(ctx context.Context, method, path string, body any) (map[string]any, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, e.ControlURL+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return out, errors.New(fmt.Sprint(out["error"]))
	}
	return out, nil
}

type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 16<<10 {
		t.buf = t.buf[len(t.buf)-16<<10:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
