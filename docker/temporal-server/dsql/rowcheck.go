package dsql

// The execution row's condition checked by the database inside the pipelined batch (issue 29,
// item 1, after the shard fence of fence.go).
//
// Upstream's UpdateWorkflowExecution (its UpdateWorkflowMutation), ConflictResolveWorkflowExecution
// (its ResetWorkflowSnapshot and CurrentWorkflowMutation) and SetWorkflowExecution (its
// SetWorkflowSnapshot) each lock a run's executions row with lockAndCheckExecution
// (common/persistence/sql/execution_util.go, pinned by internal/upstreamguard): tx.WriteLockExecutions
// reads (db_record_version, next_event_id) FOR UPDATE, and upstream compares in Go:
// next_event_id with the request's Condition when its DBRecordVersion is 0, otherwise
// db_record_version with DBRecordVersion - 1; a mismatch is *persistence.WorkflowConditionFailedError
// {Msg, NextEventID, DBRecordVersion} (the row's values), a missing row
// *persistence.ConditionFailedError. The read is a round trip the transaction waits for.
//
// FencedExecutionStore knows those requests, so it adds to the call's mark an
// executionExpectation per locked run (shard, namespace, workflow, run -> Condition,
// DBRecordVersion). A run named twice in one request gets none (its second lock must see the
// first's writes: it reads as before). In a pipelined transaction with deferExecutionCheck on,
// tx.WriteLockExecutions of a marked run queues two statements instead of reading:
//
//   - lockExecutionForUpdateQry, the same single-row SELECT ... FOR UPDATE as before (the row
//     joins the transaction's write set: DSQL's commit-time check; PostgreSQL's row lock);
//   - a check (execCheckVersionQry or execCheckNextEventQry), a plain aggregate read of the same
//     row that fails the transaction (a text cast to BIGINT, SQLSTATE 22P02) unless exactly one
//     row with the expected value is in the transaction's snapshot; the text carries the row
//     count and the row's db_record_version and next_event_id;
//
// and returns the expected values at once (DBRecordVersion - 1 and Condition), so upstream's
// comparison passes. The lock is recorded as "locked and found" (pipeline_tx.go), so
// upstream's UpdateExecutions of that run is queued with RowsAffected 1: sound, because the
// UPDATE is queued behind the check, and if the row is missing or differs the check fails the
// transaction before the UPDATE runs, and the aborted transaction cannot commit; if the check
// passes, the row exists and is locked, as in the read path. If the check fails, the statement
// that sends the queue (a later read, COMMIT, or Rollback's flush) fails; the connection
// records the failure in the expectation, and FencedExecutionStore returns what
// lockAndCheckExecution returns for those values. Nothing of the transaction is stored.
//
// Without a mark (other callers), with pipelining off, or with connectAttributes
// deferExecutionCheck=off, tx.WriteLockExecutions reads and upstream compares as before.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/primitives"
)

// The checks fail (SQLSTATE 22P02) unless the executions row ($1-$4) exists once with the
// expected db_record_version (or next_event_id) $5; the failing text names the row count and
// the row's two values. The ELSE branch depends on the aggregates, so the planner cannot fold
// it to an error. Plain reads: lockExecutionForUpdateQry locks.
const (
	execCheckWhere = ` FROM executions WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`
	execCheckElse  = ` THEN 0 ELSE ('dsql execution check: rows ' || count(*)::text || ', db_record_version ' || ` +
		`COALESCE(max(db_record_version)::text, 'none') || ', next_event_id ' || COALESCE(max(next_event_id)::text, 'none'))::bigint END`
	execCheckVersionQry   = `SELECT CASE WHEN count(*) = 1 AND max(db_record_version) = $5` + execCheckElse + execCheckWhere
	execCheckNextEventQry = `SELECT CASE WHEN count(*) = 1 AND max(next_event_id) = $5` + execCheckElse + execCheckWhere
)

// execCheckFailure matches the text the checks cast when they fail.
var execCheckFailure = regexp.MustCompile(`dsql execution check: rows (\d+), db_record_version (-?\d+|none), next_event_id (-?\d+|none)`)

// Upstream's texts (common/persistence/sql/execution_util.go lockAndCheckExecution and
// lockExecution, pinned by internal/upstreamguard TestExecutionCheckMirrorsLockAndCheckExecution).
const (
	// ExecutionNextEventMismatchMsg is lockAndCheckExecution's Msg when DBRecordVersion is 0:
	// the row's next_event_id, then the request's Condition.
	ExecutionNextEventMismatchMsg = "lockAndCheckExecution failed. Next_event_id was %v when it should have been %v."
	// ExecutionVersionMismatchMsg is its Msg otherwise: DBRecordVersion - 1, then the row's.
	ExecutionVersionMismatchMsg = "lockAndCheckExecution failed. DBRecordVersion expected: %v, actually %v."
	// ExecutionMissingMsg is lockExecution's ConditionFailedError Msg for a missing row:
	// shard, namespace, workflow, run.
	ExecutionMissingMsg = "WriteLockExecutions failed. Unable to lock (shard, namespace, workflow, run) = (%v,%v,%v,%v) which does not exist."
)

// executionExpectation is one locked run's expectation and, once the connection saw its check
// fail, the outcome (rows found, the row's values).
type executionExpectation struct {
	shard     int32
	namespace primitives.UUID
	workflow  string
	run       primitives.UUID
	// condition and dbRecordVersion are the request's (InternalWorkflowMutation /
	// InternalWorkflowSnapshot Condition and DBRecordVersion), as lockAndCheckExecution gets them.
	condition, dbRecordVersion int64

	mu                          sync.Mutex
	claimed, failed             bool
	rows, actualVersion, actual int64
}

// executionChecks is a store call's set of expectations, by run.
type executionChecks map[lockKey]*executionExpectation

type executionChecksKey struct{}

// withExecutionChecks marks ctx with one store call's expectations; a run named twice is left
// out (see the file comment); runs whose ids do not parse are left to upstream.
func withExecutionChecks(ctx context.Context, shard int32, runs []runCondition) (context.Context, executionChecks) {
	checks := executionChecks{}
	dup := map[lockKey]bool{}
	for _, r := range runs {
		ns, err1 := primitives.ParseUUID(r.namespaceID)
		run, err2 := primitives.ParseUUID(r.runID)
		if err1 != nil || err2 != nil {
			continue
		}
		k := execKey(shard, ns, r.workflowID, run)
		if _, seen := checks[k]; seen || dup[k] {
			delete(checks, k)
			dup[k] = true
			continue
		}
		checks[k] = &executionExpectation{shard: shard, namespace: ns, workflow: r.workflowID, run: run, condition: r.condition, dbRecordVersion: r.dbRecordVersion}
	}
	return context.WithValue(ctx, executionChecksKey{}, checks), checks
}

// runCondition is what a request says of one run it locks with lockAndCheckExecution.
type runCondition struct {
	namespaceID, workflowID, runID string
	condition, dbRecordVersion     int64
}

func mutationCondition(m *persistence.InternalWorkflowMutation) runCondition {
	return runCondition{m.NamespaceID, m.WorkflowID, m.ExecutionState.GetRunId(), m.Condition, m.DBRecordVersion}
}

func snapshotCondition(s *persistence.InternalWorkflowSnapshot) runCondition {
	return runCondition{s.NamespaceID, s.WorkflowID, s.ExecutionState.GetRunId(), s.Condition, s.DBRecordVersion}
}

// WithExecutionCheck returns ctx marked for one store call that locks the run with
// lockAndCheckExecution(condition, dbRecordVersion), as FencedExecutionStore marks
// UpdateWorkflowExecution, ConflictResolveWorkflowExecution and SetWorkflowExecution: a
// pipelined transaction of the plugin begun under it checks the row in its batch
// (tx.WriteLockExecutions). For tests that drive the plugin's transactions directly.
func WithExecutionCheck(ctx context.Context, shard int32, namespaceID, workflowID, runID string, condition, dbRecordVersion int64) context.Context {
	ctx, _ = withExecutionChecks(ctx, shard, []runCondition{{namespaceID, workflowID, runID, condition, dbRecordVersion}})
	return ctx
}

// claim returns the unused expectation for the run f names, or nil (one deferral per run).
func claimExecutionCheck(ctx context.Context, f sqlplugin.ExecutionsFilter) *executionExpectation {
	checks, _ := ctx.Value(executionChecksKey{}).(executionChecks)
	e := checks[execKey(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID)]
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.claimed {
		return nil
	}
	e.claimed = true
	return e
}

// byVersion reports whether upstream compares db_record_version (else next_event_id).
func (e *executionExpectation) byVersion() bool { return e.dbRecordVersion != 0 }

// parseExecutionCheckFailure returns the rows and the row's values from a failed check's error.
func parseExecutionCheckFailure(err error) (rows, version, next int64, ok bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "22P02" {
		return 0, 0, 0, false
	}
	m := execCheckFailure.FindStringSubmatch(pe.Message)
	if m == nil {
		return 0, 0, 0, false
	}
	rows, _ = strconv.ParseInt(m[1], 10, 64)
	version, _ = strconv.ParseInt(m[2], 10, 64) // "none": 0, as the read's zero values
	next, _ = strconv.ParseInt(m[3], 10, 64)
	return rows, version, next, true
}

// observe records the check's failure (called by the connection, pipeline.go); other failures
// are left to upstream's handling.
func (e *executionExpectation) observe(err error) {
	rows, version, next, ok := parseExecutionCheckFailure(err)
	if !ok {
		return
	}
	e.mu.Lock()
	e.failed, e.rows, e.actualVersion, e.actual = true, rows, version, next
	e.mu.Unlock()
}

// err is the error lockAndCheckExecution returns for the recorded failure, or nil.
func (e *executionExpectation) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case !e.failed:
		return nil
	case e.rows == 0:
		return &persistence.ConditionFailedError{Msg: fmt.Sprintf(ExecutionMissingMsg, e.shard, e.namespace, e.workflow, e.run)}
	case !e.byVersion():
		return &persistence.WorkflowConditionFailedError{
			Msg:         fmt.Sprintf(ExecutionNextEventMismatchMsg, e.actual, e.condition),
			NextEventID: e.actual, DBRecordVersion: e.actualVersion,
		}
	default:
		return &persistence.WorkflowConditionFailedError{
			Msg:         fmt.Sprintf(ExecutionVersionMismatchMsg, e.dbRecordVersion-1, e.actualVersion),
			NextEventID: e.actual, DBRecordVersion: e.actualVersion,
		}
	}
}

// err is the first recorded failure's error (at most one check of a transaction can fail: a
// failure aborts the transaction), or nil.
func (c executionChecks) err() error {
	for _, e := range c {
		if err := e.err(); err != nil {
			return err
		}
	}
	return nil
}

// WriteLockExecutions is upstream's (FOR UPDATE) read, or, in a pipelined transaction of a
// marked store call with deferExecutionCheck on, the deferred check: the lock and the check are
// queued and the expected values are returned at once (see the file comment). Either way the
// locked row is remembered (pipeline_tx.go). If the statements ran at once after all (the
// connection did not pipeline), their outcome is returned as the read's: the row's values for
// a failed check (upstream then builds its own error), sql.ErrNoRows for a missing row.
func (t *tx) WriteLockExecutions(ctx context.Context, f sqlplugin.ExecutionsFilter) (int64, int64, error) {
	var e *executionExpectation
	if t.deferExecutionCheck {
		e = claimExecutionCheck(ctx, f)
	}
	if e == nil {
		v, n, err := t.upstreamTx.WriteLockExecutions(ctx, f)
		if err == nil {
			t.locks.lockExecution(execKey(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID))
		}
		return v, n, err
	}
	check, want := execCheckNextEventQry, e.condition
	if e.byVersion() {
		check, want = execCheckVersionQry, e.dbRecordVersion-1
	}
	dctx := withCheckStatement(withDeferral(ctx, unknownRows), e)
	for _, stmt := range []string{lockExecutionForUpdateQry, check} {
		args := []any{f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID}
		if stmt == check {
			args = append(args, want)
		}
		if _, err := t.ops.q.ExecContext(dctx, stmt, args...); err != nil {
			if rows, version, next, ok := parseExecutionCheckFailure(err); ok {
				if rows == 0 {
					return 0, 0, sql.ErrNoRows
				}
				return version, next, nil
			}
			return 0, 0, err
		}
	}
	t.locks.lockExecution(execKey(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID))
	var version int64
	if e.byVersion() {
		version = e.dbRecordVersion - 1
	}
	return version, e.condition, nil
}
