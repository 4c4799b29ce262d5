package dsql

import (
	"context"
	"database/sql/driver"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/stdlib"
)

// conn wraps one pgx stdlib connection:
//   - it reports itself invalid once its jittered age limit has passed, so that
//     database/sql closes it and the Connector opens a new one with a fresh token;
//   - statements outside a transaction are retried on optimistic-concurrency conflicts;
//   - UUID columns are returned as 16 raw bytes, the form Temporal's SQL layer uses for
//     ids (upstream stores them as BYTEA; DSQL cannot key on BYTEA, so we store UUID).
type conn struct {
	*stdlib.Conn
	expiresAt time.Time
	inTx      bool
	retry     RetryPolicy
	metrics   *Counters
	// limits logs 54000s. txRows counts the rows the open transaction has changed;
	// txFirst and txArgs are its first statement and that statement's text arguments
	// (workflow id, queue name), which name the operation when COMMIT hits the limit.
	limits  *rowLimitLog
	txRows  int64
	txFirst string
	txArgs  []string
	// pipeline: transactions hold BEGIN back and queue deferred writes (pipeline.go); ptx: the
	// open transaction is such a one; pendingBegin: its BEGIN has not been sent; queue: its
	// deferred writes not sent yet.
	pipeline     bool
	ptx          bool
	pendingBegin bool
	// txCtx is the context the pipelined transaction was begun with: its deadline bounds
	// every batch of the transaction, COMMIT included (as pgx's own Tx.Commit uses it).
	txCtx context.Context
	queue []queued
}

var (
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
)

func (c *conn) expired() bool { return !time.Now().Before(c.expiresAt) }

// IsValid implements driver.Validator: an expired connection is not returned to the pool.
func (c *conn) IsValid() bool { return !c.expired() && !c.Conn.Conn().IsClosed() }

// ResetSession implements driver.SessionResetter: an expired connection is discarded
// before reuse.
func (c *conn) ResetSession(ctx context.Context) error {
	if c.expired() {
		return driver.ErrBadConn
	}
	return c.Conn.ResetSession(ctx)
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.pipeline && opts == (driver.TxOptions{}) {
		return c.beginPipelined(ctx), nil
	}
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.inTx = true
	c.txRows, c.txFirst, c.txArgs = 0, "", nil
	return &txn{Tx: tx, c: c}, nil
}

// Begin is the legacy entry point; it behaves like BeginTx with default options.
func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

type txn struct {
	driver.Tx
	c *conn
}

func (t *txn) Commit() error {
	t.c.inTx = false
	err := t.Tx.Commit()
	if IsConflict(err) {
		t.c.metrics.Conflict("commit")
	}
	if IsRowLimit(err) {
		t.c.limits.report(err, "COMMIT of: "+t.c.txFirst, t.c.txArgs, t.c.txRows, true)
	}
	return err
}

func (t *txn) Rollback() error {
	t.c.inTx = false
	return t.Tx.Rollback()
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.pipelined() {
		return c.pipelinedExec(ctx, query, args)
	}
	if c.inTx {
		c.noteTxStatement(query, args)
		res, err := c.Conn.ExecContext(ctx, query, args)
		if IsConflict(err) {
			c.metrics.Conflict("statement")
		}
		if IsRowLimit(err) {
			c.limits.report(err, query, textArgs(args), c.txRows, true)
		}
		if err == nil {
			if n, rerr := res.RowsAffected(); rerr == nil {
				c.txRows += n
			}
		}
		return res, err
	}
	var res driver.Result
	err := c.retry.run(ctx, c.metrics, func() error {
		var err error
		res, err = c.Conn.ExecContext(ctx, query, args)
		return err
	})
	if IsRowLimit(err) {
		c.limits.report(err, query, textArgs(args), 0, false)
	}
	return res, err
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.pipelined() && (c.pendingBegin || len(c.queue) > 0) {
		return c.pipelinedQuery(ctx, query, args)
	}
	var rows driver.Rows
	run := func() error {
		var err error
		rows, err = c.Conn.QueryContext(ctx, query, args)
		return err
	}
	var err error
	if c.inTx {
		c.noteTxStatement(query, args)
		err = run()
		if IsConflict(err) {
			c.metrics.Conflict("statement")
		}
	} else {
		err = c.retry.run(ctx, c.metrics, run)
	}
	if IsRowLimit(err) {
		c.limits.report(err, query, textArgs(args), c.txRows, c.inTx)
	}
	if err != nil {
		return nil, err
	}
	if r, ok := rows.(*stdlib.Rows); ok {
		return &uuidRows{Rows: r}, nil
	}
	return rows, nil
}

// noteTxStatement remembers the transaction's first statement and its text arguments.
func (c *conn) noteTxStatement(query string, args []driver.NamedValue) {
	if c.txFirst == "" {
		c.txFirst = query
		c.txArgs = textArgs(args)
	}
}

// PrepareContext returns a statement that runs through this connection's
// ExecContext/QueryContext (pgx caches the server-side statement itself).
func (c *conn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	return &stmt{c: c, query: query}, nil
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

type stmt struct {
	c     *conn
	query string
}

var (
	_ driver.StmtExecContext  = (*stmt)(nil)
	_ driver.StmtQueryContext = (*stmt)(nil)
)

func (s *stmt) Close() error  { return nil }
func (s *stmt) NumInput() int { return -1 }
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.c.ExecContext(context.Background(), s.query, toNamed(args))
}
func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.c.QueryContext(context.Background(), s.query, toNamed(args))
}
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.query, args)
}
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.query, args)
}

func toNamed(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return out
}

// uuidRows turns UUID column values (which pgx's database/sql adapter returns as
// 36-character strings) into the 16 raw bytes Temporal's row types expect.
type uuidRows struct {
	*stdlib.Rows
	uuidCols []int
	checked  bool
}

func (r *uuidRows) Next(dest []driver.Value) error {
	if err := r.Rows.Next(dest); err != nil {
		return err
	}
	if !r.checked {
		r.checked = true
		for i := range dest {
			if r.Rows.ColumnTypeDatabaseTypeName(i) == "UUID" {
				r.uuidCols = append(r.uuidCols, i)
			}
		}
	}
	for _, i := range r.uuidCols {
		if s, ok := dest[i].(string); ok {
			u, err := uuid.Parse(s)
			if err != nil {
				return err
			}
			b := make([]byte, 16)
			copy(b, u[:])
			dest[i] = b
		}
	}
	return nil
}
