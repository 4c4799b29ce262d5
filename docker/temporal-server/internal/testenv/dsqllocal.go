package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/dsql/auth"
	"github.com/jackc/pgx/v5"
)

// DSQLLocalReady is the JSON line dsql-local prints when it is ready (dsql-local/README.md).
type DSQLLocalReady struct {
	Host        string `json:"host"`
	Port        int    `json:"port"`
	Hostname    string `json:"hostname"`
	Region      string `json:"region"`
	CAFile      string `json:"caFile"`
	ControlURL  string `json:"controlUrl"`
	Credentials []struct {
		AccessKeyID     string `json:"accessKeyId"`
		SecretAccessKey string `json:"secretAccessKey"`
		PrincipalArn    string `json:"principalArn"`
		Admin           bool   `json:"admin"`
	} `json:"credentials"`
}

// DSQLLocal is a running dsql-local owned by the test process.
type DSQLLocal struct {
	DSQLLocalReady
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// RepoRoot is the repository root (two levels above docker/temporal-server).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", "..", ".."))
}

// DSQLLocalBinary returns the dsql-local binary, building it with the project's script
// (`bash scripts/dsql-local.sh build`) when it is missing.
func DSQLLocalBinary(ctx context.Context) (string, error) {
	bin := filepath.Join(RepoRoot(), ".cache", "bin", "dsql-local")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(RepoRoot(), "scripts", "dsql-local.sh"), "build")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building dsql-local: %v: %s", err, out)
	}
	return bin, nil
}

// StartDSQLLocal starts dsql-local on random loopback ports with extra flags and waits for
// its ready line. It exits when Stop closes its stdin.
func StartDSQLLocal(ctx context.Context, args ...string) (*DSQLLocal, error) {
	bin, err := DSQLLocalBinary(ctx)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"--exit-with-stdin"}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &DSQLLocal{cmd: cmd, stdin: stdin}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			d.Stop()
			return nil, fmt.Errorf("dsql-local exited before it was ready: %s", stderr.String())
		}
		if err := json.Unmarshal([]byte(line), &d.DSQLLocalReady); err != nil {
			d.Stop()
			return nil, fmt.Errorf("dsql-local ready line %q: %w", line, err)
		}
	case <-time.After(90 * time.Second):
		d.Stop()
		return nil, fmt.Errorf("dsql-local not ready after 90s: %s", stderr.String())
	}
	return d, nil
}

// Credential returns the test credential whose principal ARN ends with "role/"+name.
func (d *DSQLLocal) Credential(name string) (accessKey, secret, arn string, err error) {
	for _, c := range d.Credentials {
		if filepath.Base(c.PrincipalArn) == name {
			return c.AccessKeyID, c.SecretAccessKey, c.PrincipalArn, nil
		}
	}
	return "", "", "", fmt.Errorf("dsql-local has no credential for role/%s", name)
}

// ConnectAdmin opens a pgx connection as admin with a DbConnectAdmin token.
func (d *DSQLLocal) ConnectAdmin(ctx context.Context) (*pgx.Conn, error) {
	ak, sk, _, err := d.Credential("admin")
	if err != nil {
		return nil, err
	}
	tok, err := auth.GenerateDBConnectAdminAuthToken(ctx, d.Hostname, d.Region, credentials.NewStaticCredentialsProvider(ak, sk, ""))
	if err != nil {
		return nil, err
	}
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=admin dbname=postgres sslmode=verify-full sslrootcert=%s", d.Host, d.Port, d.CAFile))
	if err != nil {
		return nil, err
	}
	cfg.Password = tok
	cfg.TLSConfig.ServerName = d.Hostname
	return pgx.ConnectConfig(ctx, cfg)
}

// Control sends a request to the fault-injection API.
func (d *DSQLLocal) Control(ctx context.Context, method, path string, body any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.ControlURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("dsql-local %s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	return nil
}

// Addr is host:port for connecting by the certificate's host name.
func (d *DSQLLocal) Addr() string { return d.Hostname + ":" + strconv.Itoa(d.Port) }

// Stop ends dsql-local (closing stdin) and waits for it.
func (d *DSQLLocal) Stop() {
	if d.stdin != nil {
		_ = d.stdin.Close()
	}
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
}
