// Command dsql-local is a local endpoint that behaves like an Amazon Aurora DSQL cluster: a
// PostgreSQL wire-protocol proxy (TLS, IAM-token auth, DSQL's dialect and transaction rules,
// async indexes, optimistic-concurrency errors, limits, fault injection) in front of a real
// PostgreSQL 15. See README.md in this directory.
//
// When ready it prints one JSON line on stdout describing the endpoint (see readyLine) and runs
// until SIGTERM/SIGINT (or, with --exit-with-stdin, until stdin closes), then stops the
// PostgreSQL it started.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// readyLine is the JSON line printed on stdout once the endpoint accepts connections.
type readyLine struct {
	Host       string `json:"host"`
	Port       int    `json:"port"`
	Hostname   string `json:"hostname"`
	Region     string `json:"region"`
	CAFile     string `json:"caFile"`
	ControlURL string `json:"controlUrl"`
	PgData     string `json:"pgData,omitempty"`
	// PgSocketDir/PgPort/PgUser reach the PostgreSQL behind the proxy directly (Unix socket,
	// trust auth), for debugging and for measuring the proxy's overhead. Only when dsql-local
	// started PostgreSQL itself.
	PgSocketDir string       `json:"pgSocketDir,omitempty"`
	PgPort      int          `json:"pgPort,omitempty"`
	PgUser      string       `json:"pgUser,omitempty"`
	Credentials []Credential `json:"credentials"`
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("dsql-local: ")
	if err := run(); err != nil {
		log.Printf("error: %v", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg config
	var pgData, pgURL, pgBin, certDir string
	var exitWithStdin bool
	flag.StringVar(&cfg.listen, "listen", "127.0.0.1:0", "address for the PostgreSQL-protocol endpoint (port 0 = random free port)")
	flag.StringVar(&cfg.controlListen, "control-listen", "127.0.0.1:0", "address for the fault-injection HTTP API (keep it on loopback)")
	flag.StringVar(&pgData, "pg-data", "", "PostgreSQL data directory; initdb'd when empty, started on a Unix socket in it (default: a temporary directory removed at exit)")
	flag.StringVar(&pgURL, "pg-url", "", "use this running PostgreSQL instead (superuser connection string; roles must be able to log in without a password, e.g. trust over a Unix socket)")
	flag.StringVar(&pgBin, "pg-bin", "/usr/lib/postgresql/15/bin", "directory with initdb and postgres")
	flag.StringVar(&cfg.hostname, "hostname", "localhost", "endpoint host name: TLS certificate SAN, required SNI, and the host IAM tokens must be signed for")
	flag.StringVar(&cfg.region, "region", "us-east-1", "AWS Region IAM tokens must be signed for")
	flag.StringVar(&certDir, "cert-dir", "", "directory for ca.pem (default: <pg-data>/../certs or the temporary directory)")
	flag.DurationVar(&cfg.maxConnAge, "max-conn-age", 60*time.Minute, "connections are closed at this age (0 = never)")
	flag.Float64Var(&cfg.connRate, "conn-rate", 100, "new connections per second (0 = unlimited); beyond it 53400")
	flag.IntVar(&cfg.connBurst, "conn-burst", 1000, "burst of new connections")
	flag.IntVar(&cfg.maxConns, "max-conns", 10000, "open connections limit; beyond it 53300 (0 = unlimited)")
	flag.DurationVar(&cfg.indexBuildDelay, "index-build-delay", 0, "simulated duration of every async index build (DSQL: 5-24 s)")
	flag.IntVar(&cfg.txRowLimit, "tx-row-limit", 3000, "rows changed per transaction; beyond it 54000 (0 = unlimited)")
	flag.Int64Var(&cfg.txByteLimit, "tx-byte-limit", 10<<20, "bytes written per transaction; beyond it 54000 (0 = unlimited)")
	flag.DurationVar(&cfg.txMaxAge, "tx-max-age", 5*time.Minute, "transaction age limit; statements after it get 54000 (0 = unlimited)")
	flag.DurationVar(&cfg.jobRetention, "job-retention", 30*time.Minute, "finished jobs are pruned from sys.jobs after this")
	flag.BoolVar(&cfg.staleSchemaOC001, "stale-schema-oc001", true, "after another session's DDL commits, the next transaction of every other session fails once with OC001")
	flag.BoolVar(&cfg.logRefusals, "log-refusals", true, "log every refused statement (SQLSTATE, message, SQL) to stderr")
	flag.StringVar(&cfg.concurrency, "concurrency", concurrencyDSQL, "dsql: no statement waits for another session's transaction, one of two conflicting transactions fails with 40001 OC000 (see README, Concurrency); postgres: PostgreSQL's row locks make the second writer wait (for comparison)")
	flag.DurationVar(&cfg.occCheckInterval, "occ-check-interval", 2*time.Millisecond, "with --concurrency=dsql, how often row-lock waits between sessions are looked for and resolved")
	var latencyProfileName string
	var latRT, latCommit time.Duration
	var latJitter float64
	flag.StringVar(&latencyProfileName, "latency-profile", "none", "added latency: none, dsql-single-region, dsql-multi-region (see README, Latency model)")
	flag.DurationVar(&latRT, "latency-round-trip", -1, "added latency per client round trip (overrides the profile's)")
	flag.DurationVar(&latCommit, "latency-commit", -1, "added latency per commit (overrides the profile's)")
	flag.Float64Var(&latJitter, "latency-jitter", -1, "each delay is drawn from base*(1-j)..base*(1+j), j in 0..1 (overrides the profile's)")
	flag.BoolVar(&exitWithStdin, "exit-with-stdin", false, "shut down when stdin reaches EOF (for test harnesses: no stray process if the parent dies)")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if cfg.hostname == "" {
		return fmt.Errorf("--hostname must not be empty")
	}
	if cfg.concurrency != concurrencyDSQL && cfg.concurrency != concurrencyPostgres {
		return fmt.Errorf("--concurrency must be %q or %q, got %q", concurrencyDSQL, concurrencyPostgres, cfg.concurrency)
	}
	if cfg.occCheckInterval < 100*time.Microsecond || cfg.occCheckInterval > time.Second {
		return fmt.Errorf("--occ-check-interval must be between 100us and 1s, got %s", cfg.occCheckInterval)
	}
	profile, ok := latencyProfiles[latencyProfileName]
	if !ok {
		return fmt.Errorf("--latency-profile must be none, dsql-single-region or dsql-multi-region, got %q", latencyProfileName)
	}
	if latRT >= 0 {
		profile.RoundTrip = latRT
	}
	if latCommit >= 0 {
		profile.Commit = latCommit
	}
	if latJitter >= 0 {
		profile.Jitter = latJitter
	}
	latency := newLatencyModel(latencyProfile{})
	if err := latency.set(profile); err != nil {
		return fmt.Errorf("latency flags: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if exitWithStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}

	var cluster *pgCluster
	var tempDir string
	var backendURL string
	if pgURL != "" {
		backendURL = pgURL
	} else {
		if pgData == "" {
			d, err := os.MkdirTemp("", "dsql-local-")
			if err != nil {
				return err
			}
			tempDir = d
			// PostgreSQL runs as the postgres user when we are root: it must reach pgdata.
			_ = os.Chmod(d, 0o755)
			pgData = filepath.Join(d, "pgdata")
			defer os.RemoveAll(tempDir)
		}
		if certDir == "" {
			certDir = filepath.Join(filepath.Dir(pgData), "certs")
		}
		c, err := startCluster(ctx, pgBin, pgData)
		if err != nil {
			return err
		}
		cluster = c
		defer cluster.stop()
		backendURL = cluster.connString(cluster.owner)
	}
	if certDir == "" {
		d, err := os.MkdirTemp("", "dsql-local-certs-")
		if err != nil {
			return err
		}
		certDir = d
		defer os.RemoveAll(d)
	}
	cert, caFile, err := writeCerts(certDir, cfg.hostname)
	if err != nil {
		return fmt.Errorf("writing certificates to %s: %w", certDir, err)
	}

	backendCfg, err := pgconn.ParseConfig(backendURL)
	if err != nil {
		return fmt.Errorf("--pg-url: %w", err)
	}
	poolCfg, err := pgxpool.ParseConfig(backendURL)
	if err != nil {
		return err
	}
	poolCfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := bootstrap(ctx, pool, cfg); err != nil {
		return fmt.Errorf("creating sys schema and helpers: %w", err)
	}
	if err := setDeadlockTimeout(ctx, pool, cfg.concurrency); err != nil {
		return fmt.Errorf("setting deadlock_timeout: %w", err)
	}

	f := &faults{}
	srv := &server{
		cfg:        cfg,
		tlsCfg:     &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		verifier:   newTokenVerifier(cfg.hostname, cfg.region, testCredentials),
		backendCfg: backendCfg,
		pool:       pool,
		faults:     f,
		limiter:    newRateLimiter(cfg.connRate, cfg.connBurst),
		sessions:   map[uint64]*session{},
		stats:      newStats(),
		latency:    latency,
	}
	srv.jobs = &jobRunner{pool: pool, retention: cfg.jobRetention, faults: f}
	srv.jobs.delay.Store(int64(cfg.indexBuildDelay))
	jobCtx, stopJobs := context.WithCancel(context.Background())
	defer stopJobs()
	jobsDone := make(chan struct{})
	go func() { srv.jobs.run(jobCtx); close(jobsDone) }()
	if cfg.concurrency == concurrencyDSQL {
		go srv.runOCCMonitor(jobCtx, cfg.occCheckInterval)
	}

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", cfg.listen, err)
	}
	cln, err := net.Listen("tcp", cfg.controlListen)
	if err != nil {
		return fmt.Errorf("--control-listen %s: %w", cfg.controlListen, err)
	}
	hs := &http.Server{Handler: srv.controlHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(cln) }()
	go srv.serve(ln)

	addr := ln.Addr().(*net.TCPAddr)
	ready := readyLine{
		Host: addr.IP.String(), Port: addr.Port, Hostname: cfg.hostname, Region: cfg.region, CAFile: caFile,
		ControlURL: "http://" + cln.Addr().String(), Credentials: testCredentials,
	}
	if cluster != nil {
		ready.PgData = cluster.dataDir
		ready.PgSocketDir, ready.PgPort, ready.PgUser = cluster.dataDir, cluster.port, cluster.owner
	}
	line, _ := json.Marshal(ready)
	fmt.Println(string(line))

	<-ctx.Done()
	log.Printf("shutting down")
	_ = ln.Close()
	_ = hs.Close()
	srv.dropConnections("", true)
	stopJobs()
	<-jobsDone
	return nil
}
