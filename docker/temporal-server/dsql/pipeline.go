package dsql

// Pipelined transactions: fewer round trips to Aurora DSQL for the same statements.
//
// On DSQL every client round trip crosses the network and every commit goes through the
// journal, so round trips per transaction bound a shard's throughput (its writes are
// serialised on its owner). Upstream's SQL store sends every statement as its own round trip:
// BEGIN alone, each statement alone, COMMIT alone. Inside a transaction this connection instead:
//
//   - holds BEGIN back and sends it in front of the transaction's first statement (a
//     transaction that sends nothing costs nothing);
//   - queues *deferred* writes, the statements a caller marked with withDeferral, and sends
//     them in front of the next statement that needs an answer, or in front of COMMIT; the whole
//     group goes as one pgx batch (one Sync, one round trip).
//
// What may be deferred (docs/temporal-server.md, "Pipelined transactions", gives the argument
// per statement): only statements whose error is fatal to the transaction anyway, and whose
// RowsAffected the caller either does not read or is known in advance: a plain multi-row
// INSERT affects exactly its rows or fails; an UPDATE by primary key of a row this transaction
// already locked FOR UPDATE affects exactly one row or the transaction fails (the row cannot
// change under the lock on PostgreSQL, and on DSQL a concurrent change fails our COMMIT). A
// deferred statement that fails makes the statement that flushed it (or COMMIT) fail with that
// error; the transaction is then aborted, as it would have been at the statement itself, and
// upstream's store turns it into the same serviceerror.Unavailable.
//
// Reads inside the transaction always see its earlier writes: every read flushes the queue
// first, in the same batch, before itself. Statements outside transactions are not touched.
// connectAttributes pipeline=off turns all of this off.

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

type deferralKey struct{}

// unknownRows marks a deferred statement whose RowsAffected is not known in advance; asking
// for it flushes the queue first.
const unknownRows = -1

// withDeferral marks ctx: a write executed with it inside a pipelined transaction may be
// queued. rows is its RowsAffected if known in advance (>= 0), else unknownRows.
func withDeferral(ctx context.Context, rows int64) context.Context {
	return context.WithValue(ctx, deferralKey{}, rows)
}

func deferral(ctx context.Context) (int64, bool) {
	n, ok := ctx.Value(deferralKey{}).(int64)
	return n, ok
}

// queued is a deferred statement; result is filled in when it was sent.
type queued struct {
	query  string
	args   []any
	result *queuedResult
	// check: the statement is part of a deferred check (the shard fence, fence.go, or an
	// execution row's condition, rowcheck.go); its failure is recorded there, for the store to
	// map back to upstream's error.
	check deferredCheck
}

// queuedResult is the driver.Result of a deferred statement.
type queuedResult struct {
	c         *conn
	predicted int64
	sent      bool
	affected  int64
}

func (r *queuedResult) LastInsertId() (int64, error) {
	return 0, errors.New("dsql: LastInsertId is not supported")
}

// RowsAffected is the predicted count, or, when none was predicted, the real one (flushing the
// queue if the statement has not been sent yet).
func (r *queuedResult) RowsAffected() (int64, error) {
	if r.predicted >= 0 {
		return r.predicted, nil
	}
	if !r.sent {
		if err := r.c.flush(r.c.txContext()); err != nil {
			return 0, err
		}
	}
	return r.affected, nil
}

// batchResult is the driver.Result of a statement sent at the end of a batch.
type batchResult struct{ affected int64 }

func (r batchResult) LastInsertId() (int64, error) {
	return 0, errors.New("dsql: LastInsertId is not supported")
}
func (r batchResult) RowsAffected() (int64, error) { return r.affected, nil }

// pipelined reports whether statements of the open transaction go through the pipeline.
func (c *conn) pipelined() bool { return c.inTx && c.ptx }

// beginPipelined opens a transaction without a round trip: BEGIN goes with the first statement.
func (c *conn) beginPipelined(ctx context.Context) driver.Tx {
	c.inTx, c.ptx, c.pendingBegin, c.txCtx = true, true, true, ctx
	c.txRows, c.txFirst, c.txArgs = 0, "", nil
	c.queue = c.queue[:0]
	return &ptxn{c: c}
}

// send runs BEGIN (if still pending), the queued statements and final (if any) as one batch,
// and returns final's results: a pgx.Rows still open on the batch when query, else its
// command tag. On error the transaction is aborted on the server (and the queue dropped).
func (c *conn) send(ctx context.Context, final *queued, query bool) (pgx.Rows, pgx.BatchResults, pgconn.CommandTag, error) {
	var none pgconn.CommandTag
	b := &pgx.Batch{}
	begin := c.pendingBegin
	if begin {
		b.Queue("BEGIN")
	}
	for _, q := range c.queue {
		b.Queue(q.query, q.args...)
	}
	if final != nil {
		b.Queue(final.query, final.args...)
	}
	if b.Len() == 0 {
		return nil, nil, none, nil
	}
	pending := c.queue
	c.queue = nil
	c.pendingBegin = false
	c.metrics.Pipelined(len(pending))
	br := c.Conn.Conn().SendBatch(ctx, b)
	if begin {
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return nil, nil, none, err
		}
	}
	for _, q := range pending {
		ct, err := br.Exec()
		if err != nil {
			_ = br.Close()
			if q.check != nil {
				q.check.observe(err)
			}
			return nil, nil, none, c.deferredFailed(q, err)
		}
		q.result.sent, q.result.affected = true, ct.RowsAffected()
		if q.check == nil { // a check's statement reads, it changes no row
			c.txRows += ct.RowsAffected()
		}
	}
	if final == nil {
		return nil, nil, none, br.Close()
	}
	if query {
		rows, err := br.Query()
		if err != nil {
			rows.Close()
			_ = br.Close()
			return nil, nil, none, err
		}
		return rows, br, none, nil
	}
	ct, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, none, err
	}
	c.txRows += ct.RowsAffected()
	return nil, nil, ct, nil
}

// deferredFailed reports a deferred statement's error, naming the statement: it is returned by
// the statement (or COMMIT) that sent it.
func (c *conn) deferredFailed(q queued, err error) error {
	c.noteError(err, q.query, q.args)
	return &deferredError{query: shortSQL(q.query, 120), err: err}
}

// deferredError is a deferred statement's failure, already counted and reported (noteError)
// under the statement's own name; COMMIT, which returns it, does not count it again.
type deferredError struct {
	query string
	err   error
}

func (e *deferredError) Error() string {
	return fmt.Sprintf("dsql: deferred statement %q failed: %v", e.query, e.err)
}
func (e *deferredError) Unwrap() error { return e.err }

// noteError updates the counters and the row-limit log for an error inside a transaction.
func (c *conn) noteError(err error, query string, args []any) {
	if IsConflict(err) {
		c.metrics.Conflict("statement")
	}
	if IsRowLimit(err) {
		c.limits.report(err, query, stringArgs(args), c.txRows, true)
	}
}

// flush sends the queued statements (and a pending BEGIN only if something is queued).
func (c *conn) flush(ctx context.Context) error {
	if len(c.queue) == 0 {
		return nil
	}
	_, _, _, err := c.send(ctx, nil, false)
	return err
}

// pipelinedExec runs a statement of a pipelined transaction: queued when deferrable, else sent
// with whatever is queued in front of it.
func (c *conn) pipelinedExec(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.noteTxStatement(query, args)
	q := queued{query: query, args: namedArgs(args)}
	if n, ok := deferral(ctx); ok {
		q.check = checkStatement(ctx)
		q.result = &queuedResult{c: c, predicted: n}
		c.queue = append(c.queue, q)
		return q.result, nil
	}
	_, _, tag, err := c.send(ctx, &q, false)
	if err != nil {
		c.noteError(err, query, q.args)
		return nil, err
	}
	return batchResult{affected: tag.RowsAffected()}, nil
}

// pipelinedQuery runs a read of a pipelined transaction behind a pending BEGIN and the queued
// writes, so that it sees them.
func (c *conn) pipelinedQuery(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.noteTxStatement(query, args)
	q := queued{query: query, args: namedArgs(args)}
	rows, br, _, err := c.send(ctx, &q, true)
	if err != nil {
		c.noteError(err, query, q.args)
		return nil, err
	}
	return &batchRows{rows: rows, br: br}, nil
}

// ptxn is a pipelined transaction.
type ptxn struct{ c *conn }

// Commit sends the queued statements and COMMIT as one batch. A transaction that never sent
// anything ends without a round trip. COMMIT answered with ROLLBACK (an aborted transaction)
// is an error, as in pgx.
func (t *ptxn) Commit() error {
	c := t.c
	defer c.endPipelined()
	if c.pendingBegin && len(c.queue) == 0 {
		c.pendingBegin = false
		return nil
	}
	_, _, tag, err := c.send(c.txContext(), &queued{query: "COMMIT"}, false)
	if err == nil && tag.String() != "COMMIT" {
		err = fmt.Errorf("dsql: COMMIT answered %q, the transaction was rolled back: %w", tag.String(), pgx.ErrTxCommitRollback)
	}
	var deferred *deferredError
	if !errors.As(err, &deferred) { // a deferred statement's failure is counted once, as its own
		if IsConflict(err) {
			c.metrics.Conflict("commit")
		}
		if IsRowLimit(err) {
			c.limits.report(err, "COMMIT of: "+c.txFirst, c.txArgs, c.txRows, true)
		}
	}
	if err != nil {
		c.abortOnServer()
	}
	return err
}

// Rollback drops the queue; ROLLBACK is sent only if BEGIN was. If a deferred check is still
// queued (the caller gave up on an error of its own before anything sent it), the queue is
// sent first, so that the check's outcome is known: upstream would have compared before that
// error, and the store maps a failed check to upstream's error (fence.go, rowcheck.go). That
// costs one round trip on that error path only; the writes sent with it are rolled back.
func (t *ptxn) Rollback() error {
	c := t.c
	defer c.endPipelined()
	for _, q := range c.queue {
		if q.check != nil {
			_ = c.flush(c.txContext())
			break
		}
	}
	c.queue = nil
	if c.pendingBegin {
		c.pendingBegin = false
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Conn.Conn().Exec(ctx, "ROLLBACK")
	return err
}

// txContext is the context of the open pipelined transaction's BEGIN (Background if none).
func (c *conn) txContext() context.Context {
	if c.txCtx == nil {
		return context.Background()
	}
	return c.txCtx
}

func (c *conn) endPipelined() {
	c.inTx, c.ptx, c.pendingBegin, c.txCtx = false, false, false, nil
	c.queue = nil
}

// abortOnServer makes sure no transaction is left open on the server after a failed COMMIT
// batch (a statement's error leaves the block aborted, and COMMIT was skipped).
func (c *conn) abortOnServer() {
	if c.Conn.Conn().PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = c.Conn.Conn().Exec(ctx, "ROLLBACK")
}

// batchRows adapts a query's pgx.Rows, read from a batch, to driver.Rows. Values are
// converted to the types database/sql expects; UUIDs become Temporal's 16 raw bytes.
type batchRows struct {
	rows pgx.Rows
	br   pgx.BatchResults
	cols []string
}

func (r *batchRows) Columns() []string {
	if r.cols == nil {
		fds := r.rows.FieldDescriptions()
		r.cols = make([]string, len(fds))
		for i, fd := range fds {
			r.cols[i] = fd.Name
		}
	}
	return r.cols
}

func (r *batchRows) Close() error {
	r.rows.Close()
	err := r.rows.Err()
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

func (r *batchRows) Next(dest []driver.Value) error {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	vals, err := r.rows.Values()
	if err != nil {
		return err
	}
	for i, v := range vals {
		if dest[i], err = driverValue(v); err != nil {
			return fmt.Errorf("dsql: column %q: %w", r.Columns()[i], err)
		}
	}
	return nil
}

// driverValue converts a pgx-decoded value to a database/sql driver.Value.
func driverValue(v any) (driver.Value, error) {
	switch x := v.(type) {
	case nil, int64, float64, bool, string, time.Time:
		return x, nil
	case []byte:
		return x, nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int:
		return int64(x), nil
	case float32:
		return float64(x), nil
	case [16]byte:
		b := make([]byte, 16)
		copy(b, x[:])
		return b, nil
	}
	return nil, fmt.Errorf("unsupported value type %T in a pipelined read", v)
}

func namedArgs(args []driver.NamedValue) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a.Value
	}
	return out
}
