package main

import (
	"bufio"
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"log"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed bootstrap.sql
var bootstrapSQL string

// config is dsql-local's configuration (see flags in main.go).
type config struct {
	listen           string
	controlListen    string
	hostname         string
	region           string
	maxConnAge       time.Duration
	connRate         float64
	connBurst        int
	maxConns         int
	indexBuildDelay  time.Duration
	txRowLimit       int
	txByteLimit      int64
	txMaxAge         time.Duration
	jobRetention     time.Duration
	staleSchemaOC001 bool
	logRefusals      bool
	concurrency      string        // concurrencyDSQL or concurrencyPostgres (occ.go)
	occCheckInterval time.Duration // how often row-lock waits are looked for (occ.go)
}

// server accepts DSQL-style connections and runs one session per connection.
type server struct {
	cfg           config
	tlsCfg        *tls.Config
	verifier      *tokenVerifier
	backendCfg    *pgconn.Config // bootstrap superuser; sessions copy it and change User
	pool          *pgxpool.Pool
	jobs          *jobRunner
	faults        *faults
	limiter       *rateLimiter
	stats         *stats
	latency       *latencyModel
	schemaVersion atomic.Uint64
	markerSeq     atomic.Uint64
	sessionSeq    atomic.Uint64
	classifyCache sync.Map // statement text -> *stmtInfo (only statements without generated parts)
	queryCache    sync.Map // simple-query text -> []*stmtInfo
	cacheSize     atomic.Int64

	mu       sync.Mutex
	sessions map[uint64]*session
	active   atomic.Int64
}

func (srv *server) nextMarker() uint64 { return srv.markerSeq.Add(1) }

// The classification caches keep at most maxCacheEntries statements of up to maxCachedSQL bytes.
const (
	maxCacheEntries = 20000
	maxCachedSQL    = 4096
)

// classify is classify() with a cache for statements that always classify the same way.
func (srv *server) classify(text string) *stmtInfo {
	if v, ok := srv.classifyCache.Load(text); ok {
		return v.(*stmtInfo)
	}
	info := classify(text)
	if len(text) <= maxCachedSQL && srv.cacheSize.Load() < maxCacheEntries {
		srv.classifyCache.Store(text, info)
		srv.cacheSize.Add(1)
	}
	return info
}

// classifyQuery splits a simple-protocol query string and classifies each statement, with a
// cache keyed by the whole string. Returns nil when the string cannot be split.
func (srv *server) classifyQuery(sql string) []*stmtInfo {
	if v, ok := srv.queryCache.Load(sql); ok {
		return v.([]*stmtInfo)
	}
	parts, err := splitStatements(sql)
	if err != nil || len(parts) == 0 {
		return nil
	}
	infos := make([]*stmtInfo, len(parts))
	for i, p := range parts {
		infos[i] = srv.classify(p)
	}
	if len(sql) <= maxCachedSQL && srv.cacheSize.Load() < maxCacheEntries {
		srv.queryCache.Store(sql, infos)
		srv.cacheSize.Add(1)
	}
	return infos
}

func bootstrap(ctx context.Context, pool *pgxpool.Pool, cfg config) error {
	sql := strings.ReplaceAll(bootstrapSQL, "{{ROW_LIMIT}}", strconv.Itoa(cfg.txRowLimit))
	sql = strings.ReplaceAll(sql, "{{BYTE_LIMIT}}", strconv.FormatInt(cfg.txByteLimit, 10))
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	// Serialise concurrent dsql-local instances sharing one PostgreSQL.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(727274)"); err != nil {
		return err
	}
	defer conn.Exec(ctx, "SELECT pg_advisory_unlock(727274)") //nolint:errcheck
	_, err = conn.Conn().PgConn().Exec(ctx, sql).ReadAll()
	return err
}

func (srv *server) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("accept: %v", err)
			continue
		}
		go srv.handleConn(c)
	}
}

// fatal sends a FATAL error during start-up and closes the connection.
func fatal(c net.Conn, code, msg, detail string) {
	w := bufio.NewWriter(c)
	_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_ = writeMsg(w, errorResponse("FATAL", code, msg, detail))
	_ = w.Flush()
	_ = c.Close()
}

func (srv *server) handleConn(raw net.Conn) {
	if refusing, mode := srv.faults.refusing(); refusing && mode == "reset" {
		_ = raw.Close()
		return
	}
	_ = raw.SetDeadline(time.Now().Add(30 * time.Second))
	be := pgproto3.NewBackend(raw, raw)
	for negotiated := false; !negotiated; {
		first, err := be.ReceiveStartupMessage()
		if err != nil {
			_ = raw.Close()
			return
		}
		switch m := first.(type) {
		case *pgproto3.CancelRequest:
			srv.cancel(m)
			_ = raw.Close()
			return
		case *pgproto3.GSSEncRequest:
			// No GSSAPI encryption; libpq then asks for TLS on the same connection.
			if _, err := raw.Write([]byte{'N'}); err != nil {
				_ = raw.Close()
				return
			}
		case *pgproto3.SSLRequest:
			if _, err := raw.Write([]byte{'S'}); err != nil {
				_ = raw.Close()
				return
			}
			negotiated = true
		default:
			fatal(raw, "28000", "TLS is required: send an SSLRequest (sslmode=require or stronger)", "")
			return
		}
	}
	tc := tls.Server(raw, srv.tlsCfg)
	if err := tc.Handshake(); err != nil {
		_ = raw.Close()
		return
	}
	sni := tc.ConnectionState().ServerName
	be = pgproto3.NewBackend(tc, tc)
	msg, err := be.ReceiveStartupMessage()
	if err != nil {
		_ = tc.Close()
		return
	}
	var startup *pgproto3.StartupMessage
	switch m := msg.(type) {
	case *pgproto3.CancelRequest:
		srv.cancel(m)
		_ = tc.Close()
		return
	case *pgproto3.StartupMessage:
		startup = m
	default:
		fatal(tc, "08P01", "unexpected start-up message", "")
		return
	}
	if sni == "" {
		fatal(tc, "08004", "unable to accept connection, SNI is required", "connect with TLS server name "+srv.cfg.hostname)
		return
	}
	if sni != srv.cfg.hostname {
		fatal(tc, "08004", fmt.Sprintf("unable to accept connection, unknown endpoint %q", sni), "this endpoint is "+srv.cfg.hostname)
		return
	}
	if refusing, mode := srv.faults.refusing(); refusing {
		if mode == "rate" {
			fatal(tc, "53400", "unable to accept connection, rate exceeded", "injected by dsql-local")
		} else {
			fatal(tc, "08006", "unable to accept connection, service unavailable (injected by dsql-local)", "")
		}
		return
	}
	if !srv.limiter.allow() {
		fatal(tc, "53400", "unable to accept connection, rate exceeded", "")
		return
	}
	user := startup.Parameters["user"]
	db := startup.Parameters["database"]
	if db == "" {
		db = user
	}
	if db != "postgres" {
		fatal(tc, "3D000", fmt.Sprintf("database %q does not exist", db), "Aurora DSQL has one database, postgres")
		return
	}
	if srv.cfg.maxConns > 0 && srv.active.Load() >= int64(srv.cfg.maxConns) {
		fatal(tc, "53300", "unable to accept connection, too many open connections", "")
		return
	}
	// Ask for the password (the IAM token) in clear text, as DSQL does; TLS protects it.
	w := bufio.NewWriter(tc)
	_ = writeMsg(w, &pgproto3.AuthenticationCleartextPassword{})
	if err := w.Flush(); err != nil {
		_ = tc.Close()
		return
	}
	_ = be.SetAuthType(pgproto3.AuthTypeCleartextPassword)
	pm, err := be.Receive()
	if err != nil {
		_ = tc.Close()
		return
	}
	pw, ok := pm.(*pgproto3.PasswordMessage)
	if !ok {
		fatal(tc, "08P01", "expected a password message", "")
		return
	}
	cred, err := srv.verifier.verify(pw.Password, user)
	if err == nil && user != "admin" {
		err = srv.checkMapping(user, cred.PrincipalArn)
	}
	if err != nil {
		fatal(tc, "28P01", fmt.Sprintf("password authentication failed for user %q", user), "dsql-local: "+err.Error())
		return
	}
	srv.startSession(tc, w, user, cred.PrincipalArn, startup.Parameters)
}

func (srv *server) checkMapping(user, arn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	err := srv.pool.QueryRow(ctx, `SELECT count(*) FROM sys.iam_pg_role_mappings WHERE pg_role_name = $1 AND arn = $2`, user, arn).Scan(&n)
	if err != nil {
		return fmt.Errorf("looking up IAM role mapping: %v", err)
	}
	if n == 0 {
		return fmt.Errorf("principal %s is not mapped to role %q (use AWS IAM GRANT %s TO '%s')", arn, user, user, arn)
	}
	return nil
}

// passedParams are client start-up parameters forwarded to PostgreSQL.
var blockedParams = map[string]bool{"user": true, "database": true, "replication": true,
	"default_transaction_isolation": true, "transaction_isolation": true}

func (srv *server) startSession(tc net.Conn, w *bufio.Writer, user, principal string, params map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bcfg := srv.backendCfg.Copy()
	bcfg.User = user
	bcfg.Database = "postgres"
	for k, v := range params {
		if blockedParams[k] {
			continue
		}
		if k == "options" && strings.Contains(v, "isolation") {
			fatal(tc, "0A000", "setting the transaction isolation level is not supported", "options: "+v)
			return
		}
		bcfg.RuntimeParams[k] = v
	}
	bcfg.RuntimeParams["default_transaction_isolation"] = "repeatable read"
	pc, err := pgconn.ConnectConfig(ctx, bcfg)
	if err != nil {
		code := "08006"
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			code = pgErr.Code
		}
		msg := err.Error()
		if pgErr != nil {
			msg = pgErr.Message
		}
		fatal(tc, code, msg, "")
		return
	}
	hj, err := pc.Hijack()
	if err != nil {
		fatal(tc, "08006", "backend connection failed", err.Error())
		return
	}
	_ = tc.SetDeadline(time.Time{})
	s := &session{
		srv: srv, id: srv.sessionSeq.Add(1), user: user, principal: principal, connectedAt: time.Now(),
		client: tc, backend: hj.Conn,
		cr: bufio.NewReaderSize(tc, 64*1024), cw: w,
		br: bufio.NewReaderSize(hj.Conn, 64*1024), bw: bufio.NewWriterSize(hj.Conn, 64*1024),
		backendPID: hj.PID, backendKey: hj.SecretKey,
		txStatus: 'I', seenVersion: srv.schemaVersion.Load(),
		markers: map[string]*refusal{}, stmts: map[string]*stmtInfo{}, portals: map[string]*portal{},
		stats: srv.stats.forRole(user), rtOpen: true, clientTx: 'I',
	}
	_ = writeMsg(w, &pgproto3.AuthenticationOk{})
	for k, v := range hj.ParameterStatuses {
		_ = writeMsg(w, &pgproto3.ParameterStatus{Name: k, Value: v})
	}
	_ = writeMsg(w, &pgproto3.BackendKeyData{ProcessID: hj.PID, SecretKey: hj.SecretKey})
	_ = writeMsg(w, &pgproto3.ReadyForQuery{TxStatus: 'I'})
	if err := w.Flush(); err != nil {
		_ = tc.Close()
		_ = hj.Conn.Close()
		return
	}
	srv.mu.Lock()
	srv.sessions[s.id] = s
	srv.mu.Unlock()
	srv.active.Add(1)
	var timer *time.Timer
	if srv.cfg.maxConnAge > 0 {
		timer = time.AfterFunc(srv.cfg.maxConnAge, func() {
			s.close(fmt.Sprintf("terminating connection: maximum connection age of %s reached", srv.cfg.maxConnAge))
		})
	}
	s.run()
	if timer != nil {
		timer.Stop()
	}
	srv.active.Add(-1)
	srv.mu.Lock()
	delete(srv.sessions, s.id)
	srv.mu.Unlock()
}

// cancel forwards a CancelRequest to the backend that owns the key.
func (srv *server) cancel(m *pgproto3.CancelRequest) {
	srv.mu.Lock()
	var target *session
	for _, s := range srv.sessions {
		if s.backendPID == m.ProcessID && string(s.backendKey) == string(m.SecretKey) {
			target = s
		}
	}
	srv.mu.Unlock()
	if target == nil {
		return
	}
	srv.cancelBackend(m.ProcessID, m.SecretKey)
}

// cancelBackend sends PostgreSQL a CancelRequest for the backend pid.
func (srv *server) cancelBackend(pid uint32, key []byte) {
	network, addr := "tcp", net.JoinHostPort(srv.backendCfg.Host, strconv.Itoa(int(srv.backendCfg.Port)))
	if strings.HasPrefix(srv.backendCfg.Host, "/") {
		network, addr = "unix", filepath.Join(srv.backendCfg.Host, ".s.PGSQL."+strconv.Itoa(int(srv.backendCfg.Port)))
	}
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return
	}
	defer c.Close()
	b, _ := (&pgproto3.CancelRequest{ProcessID: pid, SecretKey: key}).Encode(nil)
	_, _ = c.Write(b)
	buf := make([]byte, 1)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Read(buf)
}

// dropConnections closes sessions (all, or those of one user) without a goodbye, like a network
// failure. Returns how many were dropped.
func (srv *server) dropConnections(user string, graceful bool) int {
	srv.mu.Lock()
	var victims []*session
	for _, s := range srv.sessions {
		if user == "" || s.user == user {
			victims = append(victims, s)
		}
	}
	srv.mu.Unlock()
	for _, s := range victims {
		if graceful {
			s.close("terminating connection due to administrator command (injected by dsql-local)")
		} else {
			s.close("")
		}
	}
	return len(victims)
}

// rateLimiter is a token bucket for new connections (DSQL: 100/s, burst 1,000).
type rateLimiter struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

func (r *rateLimiter) allow() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rate <= 0 {
		return true
	}
	now := time.Now()
	r.tokens += now.Sub(r.last).Seconds() * r.rate
	if r.tokens > r.burst {
		r.tokens = r.burst
	}
	r.last = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}
