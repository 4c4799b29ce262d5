package dsql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"go.temporal.io/server/common/persistence/sql/sqlplugin"
)

// upstreamDB, upstreamAdmin and upstreamTx hold upstream's PostgreSQL implementation; db and tx
// embed them, so every method the plugin does not declare on db or tx itself is upstream's. The
// plugin's overrides are declared on db and tx (overrides.go, pipeline_tx.go, ...), never
// promoted from another embedded field, so no override depends on embedding depth.
type upstreamDB struct{ sqlplugin.DB }
type upstreamAdmin struct{ sqlplugin.AdminCRUD }
type upstreamTx struct{ sqlplugin.Tx }

// db is the plugin's sqlplugin.DB and sqlplugin.AdminDB.
type db struct {
	ops ops
	upstreamDB
	upstreamAdmin
	counters *Counters
	// sqlDB is the pool upstream's db runs on (set by the plugin's Connect hook, replaced if
	// upstream reconnects); prefetch turns on the mutable-state batch of loads (prefetch.go).
	sqlDB    *atomic.Pointer[sql.DB]
	prefetch bool
	// deferFence: transactions check the shard fence inside the pipelined batch (fence.go);
	// on unless connectAttributes pipeline=off or deferFence=off.
	deferFence bool
	// deferExecutionCheck: transactions check the execution row's condition inside the
	// pipelined batch (rowcheck.go); on unless pipeline=off or deferExecutionCheck=off.
	deferExecutionCheck bool
	// deferCurrentCheck: transactions check the current-execution row's run id inside the
	// pipelined batch (currentcheck.go); only with deferCurrentCheck=on and pipelining on.
	deferCurrentCheck bool
	// chunks runs the autocommit chunks of bulk deletes that a transaction hands off
	// (bulkdelete.go) on its own small pool (chunkPool), never on the pool the transaction
	// holds a connection of; nil: on the main pool (tests that build a db without CreateDB).
	chunks    *ops
	chunkPool io.Closer
	// poolStats exports the pools' wait statistics (poolstats.go); nil without CreateDB.
	poolStats *poolSampler
}

// Close stops the pool sampler (after a last sample), closes the chunk pool, then upstream's db.
func (d *db) Close() error {
	if d.poolStats != nil {
		d.poolStats.Stop()
	}
	if d.chunkPool != nil {
		_ = d.chunkPool.Close()
	}
	return d.upstreamDB.Close()
}

var (
	_ sqlplugin.DB      = (*db)(nil)
	_ sqlplugin.AdminDB = (*db)(nil)
	_ sqlplugin.Tx      = (*tx)(nil)
)

func newDB(upstream sqlplugin.DB, counters *Counters, chunk int) (*db, error) {
	q, ok := upstream.(querier)
	if !ok {
		return nil, fmt.Errorf("dsql: upstream db %T does not expose its statement methods", upstream)
	}
	admin, ok := upstream.(sqlplugin.AdminCRUD)
	if !ok {
		return nil, errNotAdmin
	}
	d := &db{ops: ops{q: q, chunkSize: chunk}, upstreamDB: upstreamDB{upstream}, upstreamAdmin: upstreamAdmin{admin}, counters: counters,
		sqlDB: &atomic.Pointer[sql.DB]{}}
	return d, nil
}

// PluginName returns "dsql".
func (d *db) PluginName() string { return PluginName }

// Counters returns the plugin's counters (conflicts, retries, connections).
func (d *db) Counters() *Counters { return d.counters }

// BeginTx starts a transaction whose DSQL-specific operations use our statements.
func (d *db) BeginTx(ctx context.Context) (sqlplugin.Tx, error) {
	t, err := d.upstreamDB.DB.BeginTx(ctx)
	if err != nil {
		return nil, err
	}
	q, ok := t.(querier)
	if !ok {
		_ = t.Rollback()
		return nil, fmt.Errorf("dsql: upstream tx %T does not expose its statement methods", t)
	}
	pool := d.ops
	if d.chunks != nil {
		pool = *d.chunks
	}
	return &tx{ops: ops{q: q, chunkSize: d.ops.chunkSize}, upstreamTx: upstreamTx{t}, pool: pool, deferFence: d.deferFence, deferExecutionCheck: d.deferExecutionCheck, deferCurrentCheck: d.deferCurrentCheck, reread: d.SelectFromCurrentExecutions}, nil
}

// ExpectedVersion is the DSQL schema version this build needs.
func (d *db) ExpectedVersion() string { return SchemaVersion }

const readSchemaVersionsQry = `SELECT curr_version, COALESCE(min_compatible_version, '') AS min_compatible_version FROM schema_version WHERE version_partition = 0 AND db_name = $1`

// VerifyVersion fails unless the installed DSQL schema is compatible with this build:
// curr_version at least SchemaVersion, and SchemaVersion at least the installed
// min_compatible_version (CheckSchemaCompatibility).
func (d *db) VerifyVersion() error {
	var v struct {
		CurrVersion          string
		MinCompatibleVersion string
	}
	err := d.ops.q.GetContext(context.Background(), &v, readSchemaVersionsQry, d.DbName())
	if errors.Is(err, sql.ErrNoRows) {
		return CheckSchemaCompatibility("", "")
	}
	if err != nil {
		return fmt.Errorf("dsql: cannot read the schema version (table schema_version): %w; apply schema/dsql/temporal/versioned up to v%s with the schema migration first", err, SchemaVersion)
	}
	return CheckSchemaCompatibility(v.CurrVersion, v.MinCompatibleVersion)
}

// tx is the plugin's sqlplugin.Tx. pool runs the autocommit chunks of bulk deletes
// (bulkdelete.go) on the chunk pool: a transaction holds a main-pool connection while they run,
// so taking a second main-pool connection could wait forever once every connection is held by
// such a transaction (shown with MaxConns=1: persistencetest TestBulkDeleteNeverWaitsOnASecondPoolConnection).
// A chunk-pool connection is only ever held by one autocommit statement, which waits for no
// other connection, so the wait for it always ends. Each chunk changes at most chunkSize (<=
// 3,000) rows; two deletes of the same run at once conflict on DSQL (first committer wins, the
// other's chunk gets 40001 and is retried by the statement retry policy, then finds fewer
// rows), and never conflict with the caller's transaction (disjoint rows, bulkdelete.go).
type tx struct {
	ops ops
	upstreamTx
	pool ops
	// locks: rows this transaction holds FOR UPDATE (pipeline_tx.go).
	locks txLocks
	// deferFence: the shard fence of a fenced store call is queued in the pipelined batch
	// (fence.go); false with pipeline=off or deferFence=off.
	deferFence bool
	// deferExecutionCheck: the execution row's condition of a marked store call is queued in
	// the pipelined batch (rowcheck.go); false with pipeline=off or deferExecutionCheck=off.
	deferExecutionCheck bool
	// deferCurrentCheck: the current-execution run-id condition of a marked store call is
	// queued in the pipelined batch (currentcheck.go); false with pipeline=off or
	// deferCurrentCheck=off.
	deferCurrentCheck bool
	// reread is upstream's plain (non-locking, autocommit) SelectFromCurrentExecutions on the
	// db's pool: a failed deferred current check re-reads the row with it (currentcheck.go).
	reread func(context.Context, sqlplugin.CurrentExecutionsFilter) (*sqlplugin.CurrentExecutionsRow, error)
}

// CreateDatabase is refused: an Aurora DSQL cluster has exactly one database, postgres.
func (d *db) CreateDatabase(name string) error {
	return fmt.Errorf("dsql: cannot create database %q: an Aurora DSQL cluster has one database, postgres (set databaseName: postgres)", name)
}

// DropDatabase is refused for the same reason; drop tables instead (DropAllTables).
func (d *db) DropDatabase(name string) error {
	return fmt.Errorf("dsql: cannot drop database %q: an Aurora DSQL cluster has one database, postgres; drop its tables instead", name)
}
