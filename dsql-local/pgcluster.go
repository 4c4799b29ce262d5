package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// writeCerts generates a throw-away CA and a server certificate for hostname (plus localhost,
// 127.0.0.1 and ::1) and writes ca.pem into dir. Returns the server TLS certificate.
func writeCerts(dir, hostname string) (tls.Certificate, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return tls.Certificate{}, "", err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "dsql-local test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	dns := []string{hostname}
	if hostname != "localhost" {
		dns = append(dns, "localhost")
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano() + 1),
		Subject:      pkix.Name{CommonName: hostname},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dns,
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	caFile := filepath.Join(dir, "ca.pem")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		return tls.Certificate{}, "", err
	}
	abs, _ := filepath.Abs(caFile)
	return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}, abs, nil
}

// pgCluster is a PostgreSQL instance dsql-local started (or found running) in a data directory.
// It listens only on a Unix socket inside the data directory, never on TCP.
type pgCluster struct {
	binDir  string
	dataDir string
	port    int
	cmd     *exec.Cmd
	done    chan struct{}
	cred    *syscall.Credential // when running as root: run PostgreSQL as the postgres user
	owner   string              // bootstrap superuser name
}

// connString is a libpq URL for the bootstrap superuser over the Unix socket.
func (c *pgCluster) connString(user string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=postgres sslmode=disable", c.dataDir, c.port, user)
}

func (c *pgCluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.binDir, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// startCluster initdb's dataDir when empty and starts postgres on a Unix socket in it.
func startCluster(ctx context.Context, binDir, dataDir string) (*pgCluster, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	c := &pgCluster{binDir: binDir, dataDir: abs, done: make(chan struct{})}
	c.owner = "postgres"
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the 'postgres' OS user (from the postgresql package): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	} else if u, err := user.Current(); err == nil {
		c.owner = u.Username
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, err
	}
	if c.cred != nil {
		if err := os.Chown(abs, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(abs, "PG_VERSION")); err != nil {
		cmd := c.command("initdb", "-D", abs, "-U", c.owner, "-E", "UTF8", "--locale=C", "-A", "trust", "--no-sync")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb %s: %v\n%s", abs, err, out)
		}
	}
	// The port only names the socket file (.s.PGSQL.<port>); no TCP listener is opened.
	c.port = 40000 + int(time.Now().UnixNano()%20000)
	c.cmd = c.command("postgres", "-D", abs, "-k", abs, "-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=",
		"-c", "default_transaction_isolation=repeatable read",
		"-c", "deadlock_timeout=100ms",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=500", "-c", "shared_buffers=64MB",
		"-c", "timezone=UTC", "-c", "log_min_messages=warning",
		"-c", "logging_collector=off")
	logf, err := os.OpenFile(filepath.Join(abs, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if c.cmd.SysProcAttr == nil {
		c.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// If dsql-local dies without cleaning up, PostgreSQL gets a fast shutdown request.
	c.cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
	c.cmd.SysProcAttr.Setpgid = true
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	go func() { _ = c.cmd.Wait(); logf.Close(); close(c.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgconn.Connect(ctx, c.connString(c.owner))
		if err == nil {
			conn.Close(ctx)
			return c, nil
		}
		select {
		case <-c.done:
			log, _ := os.ReadFile(filepath.Join(abs, "postgres.log"))
			return nil, fmt.Errorf("postgres exited during start-up:\n%s", tail(string(log), 2000))
		default:
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("postgres did not accept connections within 60s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop asks PostgreSQL for a fast shutdown and waits for it to exit.
func (c *pgCluster) stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
