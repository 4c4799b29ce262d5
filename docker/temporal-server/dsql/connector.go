package dsql

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/dsql/auth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"go.temporal.io/server/common/log"
	"golang.org/x/time/rate"
)

// AdminRole is DSQL's built-in administrator role. Connecting as it needs
// dsql:DbConnectAdmin; the servers log in as a custom role by default.
const AdminRole = "admin"

// ConnectorConfig describes how to open physical connections to an Aurora DSQL cluster
// (or to a PostgreSQL server that stands in for one in tests).
type ConnectorConfig struct {
	// Host is the cluster endpoint host name; it is also the TLS SNI name and the host
	// the IAM token is signed for. Required.
	Host string
	// Port is the TCP port. Default 5432.
	Port int
	// Database is the database name. DSQL has one, "postgres" (the default).
	Database string
	// User is the database role. "admin" signs an admin token (dsql:DbConnectAdmin);
	// any other role signs a DbConnect token. Required.
	User string
	// Region is the AWS Region the IAM token is signed for. Required unless Password is set.
	Region string
	// Password, when set, is sent instead of an IAM token (plain PostgreSQL in tests only).
	Password string
	// Credentials sign the IAM tokens. Default: the AWS SDK default credential chain.
	Credentials aws.CredentialsProvider
	// TokenLifetime is the validity of each IAM token. Tokens are only checked when a
	// connection opens, so a short lifetime is safe. Default 15 minutes.
	TokenLifetime time.Duration
	// TLS enables TLS with certificate and host name verification. Default true; false
	// is accepted only together with Password (plain PostgreSQL in tests).
	TLS bool
	// PipelineOff turns pipelined transactions off (pipeline.go): BEGIN, every statement and
	// COMMIT then each take their own round trip, as in upstream's PostgreSQL plugin. Default
	// false (pipelining on).
	PipelineOff bool
	// DeferFenceOff keeps the shard fence a read compared in Go before the writes (as
	// upstream does) instead of a check queued in the pipelined batch (fence.go). Default
	// false (deferred when pipelining is on).
	DeferFenceOff bool
	// DeferExecutionCheckOff keeps the execution row's condition a read compared in Go before
	// the writes (as upstream does) instead of a check queued in the pipelined batch
	// (rowcheck.go). Default false (deferred when pipelining is on).
	DeferExecutionCheckOff bool
	// DeferCurrentCheckOff keeps the current-execution row's run-id condition of upstream's
	// assertRunIDAndUpdateCurrentExecution a read compared in Go before the writes (as upstream
	// does) instead of a check queued in the pipelined batch (currentcheck.go). True unless
	// connectAttributes deferCurrentCheck=on (ConnectorConfigFromSQL): deferred, it saved a round
	// trip per update but the bench's throughput fell (docs/temporal-server.md).
	DeferCurrentCheckOff bool
	// CAFile is a PEM bundle used to verify the server instead of the system roots.
	CAFile string
	// ServerName overrides the TLS SNI / verification name. Default Host.
	ServerName string
	// MaxConnAge is the longest a physical connection is kept. DSQL closes connections
	// at 60 minutes. Default 55 minutes.
	MaxConnAge time.Duration
	// ConnAgeJitter: each connection's age limit is MaxConnAge minus a random duration
	// in [0, ConnAgeJitter), so that a pool does not reconnect all at once.
	// Default MaxConnAge/11 (5 minutes for the default 55).
	ConnAgeJitter time.Duration
	// ConnectRate is the most new physical connections per second this process opens,
	// across all its pools (the first Connector created in a process sets the process-wide
	// limiter). DSQL allows 100 per second per cluster: the default 5/s keeps a fleet of
	// 20 processes within it. Default 5.
	ConnectRate float64
	// ConnectBurst is the token-bucket burst of ConnectRate (DSQL's cluster burst is
	// 1,000). Default 20, one full default pool.
	ConnectBurst int
	// Retry is the policy for statements outside transactions. Default DefaultRetryPolicy.
	Retry RetryPolicy
	// Metrics receives the plugin's counters. Default: none.
	Metrics *Counters
	// Logger receives the one-per-operation report of a transaction limit error
	// (SQLSTATE 54000). Default: none.
	Logger log.Logger
}

func (c *ConnectorConfig) withDefaults() (ConnectorConfig, error) {
	out := *c
	if out.Host == "" {
		return out, errors.New("dsql: connectAddr host is empty: set persistence...sql.connectAddr to <cluster endpoint>:5432")
	}
	if out.Port == 0 {
		out.Port = 5432
	}
	if out.Port < 1 || out.Port > 65535 {
		return out, fmt.Errorf("dsql: port %d is out of range 1-65535", out.Port)
	}
	if out.Database == "" {
		out.Database = "postgres"
	}
	if out.User == "" {
		return out, errors.New("dsql: user (database role) is empty: set persistence...sql.user to the role the servers log in as, e.g. temporal_server")
	}
	if out.Password == "" && out.Region == "" {
		return out, errors.New("dsql: connectAttributes.region is empty: the IAM token must be signed for the cluster's Region, e.g. us-east-1")
	}
	if !out.TLS && out.Password == "" {
		return out, errors.New("dsql: TLS is disabled: Aurora DSQL requires TLS; only a password-authenticated test server may run without it")
	}
	if out.TokenLifetime <= 0 {
		out.TokenLifetime = 15 * time.Minute
	}
	if out.MaxConnAge <= 0 {
		out.MaxConnAge = 55 * time.Minute
	}
	if out.MaxConnAge > 59*time.Minute {
		return out, fmt.Errorf("dsql: connectAttributes.maxConnAge %v is too long: DSQL closes connections at 60m, use at most 59m", out.MaxConnAge)
	}
	if out.ConnAgeJitter < 0 || out.ConnAgeJitter >= out.MaxConnAge {
		return out, fmt.Errorf("dsql: connectAttributes.connAgeJitter %v must be >= 0 and below maxConnAge %v", out.ConnAgeJitter, out.MaxConnAge)
	}
	if out.ConnAgeJitter == 0 {
		out.ConnAgeJitter = out.MaxConnAge / 11
	}
	if out.ConnectRate <= 0 {
		out.ConnectRate = 5
	}
	if out.ConnectBurst <= 0 {
		out.ConnectBurst = 20
	}
	if out.Retry.MaxAttempts == 0 {
		out.Retry = DefaultRetryPolicy
	}
	if out.Metrics == nil {
		out.Metrics = NewCounters(nil)
	}
	return out, nil
}

// Connector is a database/sql driver.Connector that opens pgx connections to DSQL:
// a fresh IAM token for every new physical connection, TLS with SNI and certificate
// verification, a per-process limit on the rate of new connections, a jittered maximum
// connection age, and retries of optimistic-concurrency conflicts (SQLSTATE 40001)
// for statements that run outside a transaction.
type Connector struct {
	cfg     ConnectorConfig
	limiter *rate.Limiter
	tlsCfg  *tls.Config
	limits  *rowLimitLog

	credsMu sync.Mutex
	creds   aws.CredentialsProvider
}

var _ driver.Connector = (*Connector)(nil)

// NewConnector checks cfg and returns a Connector. Errors name the bad field.
func NewConnector(cfg ConnectorConfig) (*Connector, error) {
	full, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Connector{cfg: full, limiter: processConnectLimiter(full.ConnectRate, full.ConnectBurst), creds: full.Credentials, limits: newRowLimitLog(full.Logger)}
	if full.TLS {
		c.tlsCfg, err = buildTLSConfig(full)
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

var (
	processLimiterMu sync.Mutex
	processLimiter   *rate.Limiter
)

// processConnectLimiter returns the process-wide limiter of new connections, creating it
// with rate/burst on first use.
func processConnectLimiter(r float64, burst int) *rate.Limiter {
	processLimiterMu.Lock()
	defer processLimiterMu.Unlock()
	if processLimiter == nil {
		processLimiter = rate.NewLimiter(rate.Limit(r), burst)
	}
	return processLimiter
}

func buildTLSConfig(cfg ConnectorConfig) (*tls.Config, error) {
	serverName := cfg.ServerName
	if serverName == "" {
		serverName = cfg.Host
	}
	t := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("dsql: reading TLS CA file %q: %w", cfg.CAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("dsql: TLS CA file %q holds no PEM certificate", cfg.CAFile)
		}
		t.RootCAs = pool
	}
	return t, nil
}

// Driver implements driver.Connector.
func (c *Connector) Driver() driver.Driver { return stdlib.GetDefaultDriver() }

// credentials returns the configured provider, or loads the AWS SDK default chain. A
// successful load is kept (the SDK's provider caches and refreshes credentials itself); a
// failed load is not, so the next connection attempt tries again (for example once the
// container's credentials endpoint answers).
func (c *Connector) credentials(ctx context.Context) (aws.CredentialsProvider, error) {
	c.credsMu.Lock()
	defer c.credsMu.Unlock()
	if c.creds != nil {
		return c.creds, nil
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(c.cfg.Region))
	if err != nil {
		return nil, fmt.Errorf("dsql: loading AWS credentials: %w", err)
	}
	c.creds = awsCfg.Credentials
	return c.creds, nil
}

// Token returns a fresh IAM authentication token for the configured role.
func (c *Connector) Token(ctx context.Context) (string, error) {
	creds, err := c.credentials(ctx)
	if err != nil {
		return "", err
	}
	endpoint := c.cfg.Host
	opt := func(o *auth.TokenOptions) { o.ExpiresIn = c.cfg.TokenLifetime }
	if c.cfg.User == AdminRole {
		return auth.GenerateDBConnectAdminAuthToken(ctx, endpoint, c.cfg.Region, creds, opt)
	}
	return auth.GenerateDbConnectAuthToken(ctx, endpoint, c.cfg.Region, creds, opt)
}

// Connect opens one physical connection. It waits for the connection-rate limiter,
// signs a new token, and retries "rate exceeded" (53400) refusals with backoff.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	var lastErr error
	for attempt := 0; attempt < c.cfg.Retry.MaxAttempts; attempt++ {
		if attempt > 0 {
			if err := sleepCtx(ctx, c.cfg.Retry.backoff(attempt)); err != nil {
				return nil, lastErr
			}
		}
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, fmt.Errorf("dsql: waiting for the connection-rate limiter: %w", err)
		}
		conn, err := c.connectOnce(ctx)
		if err == nil {
			return conn, nil
		}
		lastErr = err
		if !isConnectRetryable(err) {
			return nil, err
		}
		c.cfg.Metrics.ConnectRetries()
	}
	return nil, lastErr
}

func (c *Connector) connectOnce(ctx context.Context) (driver.Conn, error) {
	password := c.cfg.Password
	if password == "" {
		tok, err := c.Token(ctx)
		if err != nil {
			return nil, fmt.Errorf("dsql: signing the IAM token: %w", err)
		}
		password = tok
	}
	pcfg, err := pgx.ParseConfig("")
	if err != nil {
		return nil, err
	}
	pcfg.Host = c.cfg.Host
	pcfg.Port = uint16(c.cfg.Port)
	pcfg.Database = c.cfg.Database
	pcfg.User = c.cfg.User
	pcfg.Password = password
	pcfg.TLSConfig = c.tlsCfg
	pcfg.Fallbacks = nil
	pcfg.ConnectTimeout = 10 * time.Second
	pcfg.RuntimeParams = map[string]string{"application_name": "temporal-dsql"}
	pcfg.DialFunc = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	inner := stdlib.GetConnector(*pcfg, stdlib.OptionAfterConnect(registerTypes))
	dc, err := inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := dc.(*stdlib.Conn)
	if !ok {
		_ = dc.Close()
		return nil, fmt.Errorf("dsql: unexpected driver connection type %T", dc)
	}
	c.cfg.Metrics.ConnectionOpened()
	age := c.cfg.MaxConnAge
	if c.cfg.ConnAgeJitter > 0 {
		age -= time.Duration(rand.Int64N(int64(c.cfg.ConnAgeJitter)))
	}
	return &conn{Conn: sc, expiresAt: time.Now().Add(age), retry: c.cfg.Retry, metrics: c.cfg.Metrics, limits: c.limits, pipeline: !c.cfg.PipelineOff}, nil
}

// String describes the target without secrets, for logs.
func (c *Connector) String() string {
	return c.cfg.User + "@" + net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port)) + "/" + c.cfg.Database
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
