// Package testenv starts the servers the Go tests need: a plain PostgreSQL in a temporary
// directory on a random loopback port, and dsql-local (the project's local DSQL endpoint).
// Both are real servers; tests stop them when done.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGBin is where Debian's PostgreSQL 15 binaries live (override with TEST_PG_BIN).
func PGBin() string {
	if v := os.Getenv("TEST_PG_BIN"); v != "" {
		return v
	}
	return "/usr/lib/postgresql/15/bin"
}

// Postgres is a running PostgreSQL server owned by the test process.
type Postgres struct {
	Dir  string
	Port int
	cmd  *exec.Cmd
}

// FreePort returns a TCP port on 127.0.0.1 that is free now, chosen at random in 20000-31999,
// below Linux's ephemeral range (32768-60999). The kernel hands ephemeral ports to every outgoing
// connection, so a port picked there (as with ":0") can be taken by any client between this call
// and the server's bind; seen under load: "bind: address already in use" in the e2e test. Below
// 32768 a port also fits Temporal's SMALLINT port columns.
func FreePort() (int, error) {
	for i := 0; i < 200; i++ {
		p := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p, nil
	}
	return 0, errors.New("testenv: no free port in 20000-31999 after 200 tries")
}

// credential returns the postgres OS user's credential when running as root (PostgreSQL
// refuses to run as root), else nil.
func credential() (*syscall.Credential, int, int, error) {
	if os.Getuid() != 0 {
		return nil, -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("running as root needs the postgres OS user (Debian's postgresql package creates it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

// StartPostgres initdb's a cluster (C locale, trust auth, superuser "postgres") in a new
// temporary directory and starts it on a random 127.0.0.1 port.
func StartPostgres(ctx context.Context) (*Postgres, error) {
	dir, err := os.MkdirTemp("", "temporal-dsql-pg-")
	if err != nil {
		return nil, err
	}
	cred, uid, gid, err := credential()
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(PGBin(), "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--locale=C", "-E", "UTF8")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(PGBin(), "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "default_transaction_isolation=repeatable read")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pg := &Postgres{Dir: dir, Port: port, cmd: cmd}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := pg.Connect(ctx, "postgres")
		if err == nil {
			c.Close(ctx)
			return pg, nil
		}
		if time.Now().After(deadline) {
			pg.Stop()
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			return nil, fmt.Errorf("postgres did not start: %v: %s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Connect opens a superuser connection to database db.
func (p *Postgres) Connect(ctx context.Context, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, db))
}

// Stop stops the server (fast shutdown) and removes its directory.
func (p *Postgres) Stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
		}
	}
	os.RemoveAll(p.Dir)
}
