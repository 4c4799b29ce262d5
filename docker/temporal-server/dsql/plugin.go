// Package dsql is a Temporal SQL persistence plugin for Amazon Aurora DSQL, registered
// under the plugin name "dsql".
//
// It builds upstream's PostgreSQL plugin (postgres12_pgx) through sql.NewSQLDB with our
// own connection pool (config.SQL.Connect) and wraps it: every statement whose upstream
// SQL is valid on DSQL runs unchanged, and ops/tasks hold our own statements where it is
// not (FOR SHARE, joined FOR UPDATE, BIGSERIAL, BYTEA keys, unbounded range deletes).
// Facts it relies on: ../../../../shared/DSQL.md and TEMPORAL.md.
package dsql

import (
	stdsql "database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/iancoleman/strcase"
	"github.com/jmoiron/sqlx"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/common/resolver"
)

// PluginName is the name the plugin registers under (config: persistence.datastores.*.sql.pluginName).
const PluginName = "dsql"

// DefaultMaxConns is the pool size when the config sets none.
const DefaultMaxConns = 20

// ChunkPoolConns is the size of the separate pool that runs the autocommit chunks of bulk
// deletes handed off by a transaction (db.go): 2, so that one slow chunk does not hold up
// every delete; more would only add DSQL connections, as the deletes are rare (retention,
// DeleteWorkflowExecution, DLQ purges).
const ChunkPoolConns = 2

func init() {
	sql.RegisterPlugin(PluginName, &plugin{})
}

type plugin struct{}

var _ sqlplugin.Plugin = (*plugin)(nil)

// GetVisibilityQueryConverter is not supported: visibility lives in OpenSearch.
func (p *plugin) GetVisibilityQueryConverter() sqlplugin.VisibilityQueryConverter { return nil }

// CreateDB opens the main store. cfg fields used: connectAddr (host:port), user (database
// role; "admin" only when configured so), databaseName (default postgres), maxConns,
// tls.caFile / tls.serverName / tls.enabled, and connectAttributes:
//
//	region          AWS Region the IAM token is signed for (required)
//	tokenLifetime   IAM token lifetime, Go duration (default 15m)
//	maxConnAge      longest life of a connection (default 55m, at most 59m)
//	connAgeJitter   random reduction of each connection's age (default maxConnAge/11, 5m)
//	connectRate     new connections per second per process, all pools together (default 5)
//	connectBurst    burst of connectRate (default 20)
//	retryAttempts   tries of a conflicting statement outside a transaction (default 5)
//	chunkSize       rows per chunk of a range delete, 1-3000 (default 3000)
//	pipeline        "on" (default) or "off": pipelined transactions (pipeline.go), fewer round trips
//	deferFence      "on" (default) or "off": the shard fence is checked inside the pipelined batch
//	                (fence.go) instead of read and compared before the writes; ignored with pipeline=off
//	deferExecutionCheck "on" (default) or "off": the execution row's condition (db_record_version
//	                or next_event_id) is checked inside the pipelined batch (rowcheck.go) instead of
//	                read and compared before the writes; ignored with pipeline=off
//	deferCurrentCheck "off" (default) or "on": the current-execution row's run id expected by
//	                UpdateWorkflowExecution / ConflictResolveWorkflowExecution (mode UpdateCurrent) is
//	                checked inside the pipelined batch (currentcheck.go) instead of read and compared
//	                before the writes; ignored with pipeline=off
//	sslmode         "disable" turns TLS off; only allowed with a password (tests)
func (p *plugin) CreateDB(kind sqlplugin.DbKind, cfg *config.SQL, r resolver.ServiceResolver, logger log.Logger, mh metrics.Handler) (sqlplugin.GenericDB, error) {
	if kind != sqlplugin.DbKindMain {
		return nil, fmt.Errorf("dsql: plugin %q serves only the main store (got db kind %v); use OpenSearch for visibility", PluginName, kind)
	}
	counters := NewCounters(mh)
	cc, chunk, err := ConnectorConfigFromSQL(cfg, r)
	if err != nil {
		return nil, err
	}
	cc.Metrics = counters
	cc.Logger = logger
	connector, err := NewConnector(cc)
	if err != nil {
		return nil, err
	}
	maxConns := cfg.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	inner := *cfg
	inner.PluginName = postgresql.PluginNamePGX
	if inner.DatabaseName == "" {
		// DSQL's only database; also the db_name the schema runner records in schema_version.
		inner.DatabaseName = "postgres"
	}
	pool := &atomic.Pointer[stdsql.DB]{}
	inner.Connect = func(*config.SQL) (*sqlx.DB, error) {
		db := sqlx.NewDb(stdsql.OpenDB(connector), "pgx")
		pool.Store(db.DB)
		// Keep idle connections: opening one costs a token and counts against the
		// cluster's connection rate. Age is enforced per connection (with jitter).
		db.SetMaxOpenConns(maxConns)
		db.SetMaxIdleConns(maxConns)
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
		db.MapperFunc(strcase.ToSnake)
		if err := db.Ping(); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("dsql: connecting to %s: %w", connector, err)
		}
		return db, nil
	}
	upstream, err := sql.NewSQLDB(kind, &inner, r, logger, mh)
	if err != nil {
		return nil, err
	}
	d, err := newDB(upstream, counters, chunk)
	if err != nil {
		return nil, err
	}
	d.sqlDB, d.prefetch = pool, !cc.PipelineOff
	d.deferFence = !cc.PipelineOff && !cc.DeferFenceOff
	d.deferExecutionCheck = !cc.PipelineOff && !cc.DeferExecutionCheckOff
	d.deferCurrentCheck = !cc.PipelineOff && !cc.DeferCurrentCheckOff
	// The chunk pool (db.go, tx): ChunkPoolConns connections from the same connector (same
	// token, age and connection-rate limits), opened on first use.
	chunkDB := sqlx.NewDb(stdsql.OpenDB(connector), "pgx")
	chunkDB.SetMaxOpenConns(ChunkPoolConns)
	chunkDB.SetMaxIdleConns(ChunkPoolConns)
	chunkDB.MapperFunc(strcase.ToSnake)
	d.chunks, d.chunkPool = &ops{q: chunkDB, chunkSize: chunk}, chunkDB
	d.poolStats = startPoolSampler(counters, PoolStatsInterval,
		poolSource{name: "main", db: pool.Load}, poolSource{name: "chunk", db: func() *stdsql.DB { return chunkDB.DB }})
	return d, nil
}

// ConnectorConfigFromSQL maps a Temporal SQL datastore config to a ConnectorConfig and the
// range-delete chunk size. Errors name the field and the value.
func ConnectorConfigFromSQL(cfg *config.SQL, r resolver.ServiceResolver) (ConnectorConfig, int, error) {
	// deferCurrentCheck is opt-in: with it on, the bench measured fewer round trips but lower
	// throughput (docs/temporal-server.md, "Current-execution condition inside the batch").
	cc := ConnectorConfig{DeferCurrentCheckOff: true}
	addr := cfg.ConnectAddr
	if r != nil && addr != "" {
		if resolved := r.Resolve(addr); len(resolved) > 0 {
			addr = resolved[0]
		}
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return cc, 0, fmt.Errorf("dsql: connectAddr %q must be host:port, e.g. <cluster>.dsql.us-east-1.on.aws:5432: %v", cfg.ConnectAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return cc, 0, fmt.Errorf("dsql: connectAddr %q has a non-numeric port", cfg.ConnectAddr)
	}
	cc.Host, cc.Port = host, port
	cc.Database = cfg.DatabaseName
	cc.User = cfg.User
	cc.Password = cfg.Password
	cc.TLS = true
	if cfg.TLS != nil {
		if cfg.TLS.CaFile != "" {
			cc.CAFile = cfg.TLS.CaFile
		}
		cc.ServerName = cfg.TLS.ServerName
	}
	attrs := map[string]string{}
	for k, v := range cfg.ConnectAttributes {
		attrs[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	chunk := maxRowsPerStatement
	for k, v := range attrs {
		var err error
		switch k {
		case "region":
			cc.Region = v
		case "tokenLifetime":
			cc.TokenLifetime, err = parseDuration(k, v)
		case "maxConnAge":
			cc.MaxConnAge, err = parseDuration(k, v)
		case "connAgeJitter":
			cc.ConnAgeJitter, err = parseDuration(k, v)
		case "connectRate":
			cc.ConnectRate, err = strconv.ParseFloat(v, 64)
			if err != nil || cc.ConnectRate <= 0 {
				err = fmt.Errorf("dsql: connectAttributes.connectRate %q must be a positive number of connections per second", v)
			}
		case "connectBurst":
			cc.ConnectBurst, err = strconv.Atoi(v)
			if err != nil || cc.ConnectBurst <= 0 {
				err = fmt.Errorf("dsql: connectAttributes.connectBurst %q must be a positive integer", v)
			}
		case "retryAttempts":
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 1 || n > 20 {
				err = fmt.Errorf("dsql: connectAttributes.retryAttempts %q must be an integer from 1 to 20", v)
			}
			cc.Retry = DefaultRetryPolicy
			cc.Retry.MaxAttempts = n
		case "chunkSize":
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 1 || n > maxRowsPerStatement {
				err = fmt.Errorf("dsql: connectAttributes.chunkSize %q must be an integer from 1 to %d", v, maxRowsPerStatement)
			}
			chunk = n
		case "pipeline":
			switch v {
			case "on":
				cc.PipelineOff = false
			case "off":
				cc.PipelineOff = true
			default:
				err = fmt.Errorf("dsql: connectAttributes.pipeline %q must be \"on\" or \"off\"", v)
			}
		case "deferFence":
			switch v {
			case "on":
				cc.DeferFenceOff = false
			case "off":
				cc.DeferFenceOff = true
			default:
				err = fmt.Errorf("dsql: connectAttributes.deferFence %q must be \"on\" or \"off\"", v)
			}
		case "deferExecutionCheck":
			switch v {
			case "on":
				cc.DeferExecutionCheckOff = false
			case "off":
				cc.DeferExecutionCheckOff = true
			default:
				err = fmt.Errorf("dsql: connectAttributes.deferExecutionCheck %q must be \"on\" or \"off\"", v)
			}
		case "deferCurrentCheck":
			switch v {
			case "on":
				cc.DeferCurrentCheckOff = false
			case "off":
				cc.DeferCurrentCheckOff = true
			default:
				err = fmt.Errorf("dsql: connectAttributes.deferCurrentCheck %q must be \"on\" or \"off\"", v)
			}
		case "sslmode":
			if v != "disable" {
				err = fmt.Errorf("dsql: connectAttributes.sslmode %q: only \"disable\" (tests on plain PostgreSQL) is accepted; TLS is on with full verification otherwise", v)
			}
			cc.TLS = false
		default:
			err = fmt.Errorf("dsql: unknown connectAttributes key %q; known: region, tokenLifetime, maxConnAge, connAgeJitter, connectRate, connectBurst, retryAttempts, chunkSize, pipeline, deferFence, deferExecutionCheck, deferCurrentCheck, sslmode", k)
		}
		if err != nil {
			return cc, 0, err
		}
	}
	return cc, chunk, nil
}

func parseDuration(key, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("dsql: connectAttributes.%s %q must be a positive Go duration such as 15m", key, v)
	}
	return d, nil
}

var errNotAdmin = errors.New("dsql: the upstream db does not implement the admin interface")
