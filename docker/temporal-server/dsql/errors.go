package dsql

import (
	"database/sql/driver"
	"errors"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// sqlStateLimitExceeded is DSQL's "transaction row limit exceeded" (also the byte and age
// limits): SQLSTATE 54000, program_limit_exceeded.
const sqlStateLimitExceeded = "54000"

// conflictUnavailablePrefix starts the message of the Unavailable error that a conflict
// becomes once the plugin's own retries are spent (IsConflict recognises it).
const conflictUnavailablePrefix = "dsql: optimistic-concurrency conflict (SQLSTATE 40001)"

// conflictUnavailable turns a conflict that is still there after the plugin's retries
// into *serviceerror.Unavailable, the one type Temporal's persistence layer retries
// (common.IsPersistenceTransientError switches on the concrete type). Upstream's SQL store
// returns errors of statements outside a transaction as they are, so without this a
// conflict would reach Temporal as a raw pgconn error and not be retried there.
// Errors inside a transaction need no conversion: upstream's txExecute already turns
// them, and every failed COMMIT, into Unavailable.
func conflictUnavailable(err error, attempts int) error {
	if !IsConflict(err) {
		return err
	}
	if _, ok := err.(*serviceerror.Unavailable); ok {
		return err
	}
	return serviceerror.NewUnavailablef("%s after %d tries: %v", conflictUnavailablePrefix, attempts, err)
}

// IsRowLimit reports whether err is DSQL's per-transaction limit error (SQLSTATE 54000:
// more than 3,000 rows, 10 MiB, or 5 minutes).
func IsRowLimit(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == sqlStateLimitExceeded
}

// rowLimitLog logs each distinct operation that hits 54000 once: the statement that
// crossed the limit (or, when DSQL reports it at COMMIT, the transaction's first statement),
// the rows the transaction had changed, and the statement's text arguments (workflow id,
// queue name). Temporal retries the failing operation with
// its own backoff (the persistence retry policy, then the task's reschedule policy); a
// retry of the same operation hits the same limit and is not logged again, so the log
// holds one line per stuck operation instead of one per retry.
type rowLimitLog struct {
	logger log.Logger

	mu   sync.Mutex
	seen map[string]struct{}
}

// maxRowLimitKeys bounds the memory of rowLimitLog; when full it starts over (an
// operation still failing is then logged once more).
const maxRowLimitKeys = 4096

func newRowLimitLog(l log.Logger) *rowLimitLog {
	return &rowLimitLog{logger: l, seen: map[string]struct{}{}}
}

// report logs err (a 54000) once per statement and text arguments. rowsBefore is the
// number of rows the transaction had changed before the failing statement (all of them at
// COMMIT).
func (r *rowLimitLog) report(err error, query string, args []string, rowsBefore int64, inTx bool) {
	if r == nil || r.logger == nil {
		return
	}
	stmt := shortSQL(query, 160)
	key := stmt + "\x00" + strings.Join(args, "\x00")
	r.mu.Lock()
	if _, ok := r.seen[key]; ok {
		r.mu.Unlock()
		return
	}
	if len(r.seen) >= maxRowLimitKeys {
		r.seen = map[string]struct{}{}
	}
	r.seen[key] = struct{}{}
	r.mu.Unlock()
	r.logger.Error("dsql: transaction limit exceeded (SQLSTATE 54000); the operation cannot succeed on DSQL as it is and is left to Temporal's retry backoff; logged once per operation",
		tag.NewStringTag("statement", stmt),
		tag.NewStringsTag("text-arguments", args),
		tag.NewInt64("rows-changed-in-transaction", rowsBefore),
		tag.NewBoolTag("in-transaction", inTx),
		tag.Error(err))
}

// textArgs returns the string arguments of a statement (workflow ids, queue names), the
// part of a 54000 report that says which workflow or queue it was.
func textArgs(args []driver.NamedValue) []string { return stringArgs(namedArgs(args)) }

// stringArgs keeps the first four string values of args.
func stringArgs(args []any) []string {
	var out []string
	for _, a := range args {
		if s, ok := a.(string); ok && len(out) < 4 {
			out = append(out, s)
		}
	}
	return out
}

// shortSQL is query on one line, cut after max bytes, for logs and error messages.
func shortSQL(query string, max int) string {
	stmt := strings.Join(strings.Fields(query), " ")
	if len(stmt) > max {
		stmt = stmt[:max] + "..."
	}
	return stmt
}
