package dsql

// The current-execution row's run id checked by the database inside the pipelined batch (issue
// 29, item 1, after the shard fence of fence.go and the execution row of rowcheck.go).
//
// Upstream's UpdateWorkflowExecution and ConflictResolveWorkflowExecution in mode UpdateCurrent
// call assertRunIDAndUpdateCurrentExecution (common/persistence/sql/execution_util.go, pinned by
// internal/upstreamguard): assertCurrentExecution locks the current_executions row with
// tx.LockCurrentExecutions (FOR UPDATE) and upstream compares in Go the row's run_id with the
// run the request expects to be current (the updated run; for ConflictResolve the current
// mutation's run, else the reset run). A missing row is serviceerror.Unavailable "assertCurrentExecution
// failed. Unable to load current record. Error: sql: no rows in result set"; another run is
// *persistence.CurrentWorkflowConditionFailedError with the row's RunID, State, Status,
// LastWriteVersion, StartTime and, from the row's data blob, RequestIDs and FirstExecutionRunID.
// Then updateCurrentExecution updates the row. The read is a round trip the transaction waits
// for.
//
// FencedExecutionStore knows the expected run, so it adds a currentExpectation (shard,
// namespace, workflow, archetype -> run) to the call's mark. In a pipelined transaction with
// deferCurrentCheck on, tx.LockCurrentExecutions of the marked row (workflow archetype only)
// queues two statements instead of reading:
//
//   - lockCurrentExecutionOnlyQry, the same single-row SELECT ... FOR UPDATE as upstream's (the
//     row joins the transaction's write set: DSQL's commit-time check; PostgreSQL's row lock);
//   - currentCheckQry, a plain aggregate read of the same row that fails the transaction (a
//     text cast to BIGINT, SQLSTATE 22P02) unless exactly one row with the expected run_id is in
//     the transaction's snapshot; the text carries the row count only (the error needs the
//     whole row, data blob included, which an error text cannot carry);
//
// and returns a row naming the expected run at once, so upstream's comparison passes (it reads
// nothing else of the row). The lock is recorded as "locked and found" (pipeline_tx.go), so
// upstream's UpdateCurrentExecutions is queued with RowsAffected 1: sound for the reason given
// in rowcheck.go (it is queued behind the check). If the check fails, the statement that sends
// the queue fails and the connection records it; FencedExecutionStore then re-reads the row
// with upstream's own SelectFromCurrentExecutions (a plain autocommit read, one extra round
// trip on this failure path only, after the transaction ended) and returns what
// assertCurrentExecution / its assertFn return for that row, built as upstream builds it. If the
// re-read row is the expected run after all (it changed twice meanwhile), the error is
// Unavailable (retryable), as for a conflict.
//
// Not deferred (they read as before): assertNotCurrentExecution (modes BypassCurrent, any
// missing-or-other-run condition), CreateWorkflowExecution's lockCurrentExecutionIfExists, CHASM
// archetypes, and everything with pipeline=off or deferCurrentCheck=off.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	persistencespb "go.temporal.io/server/api/persistence/v1"
	"go.temporal.io/server/chasm"
	"go.temporal.io/server/common"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/serialization"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/common/primitives/timestamp"
)

// currentCheckQry fails (SQLSTATE 22P02) unless the current_executions row ($1-$3) exists once
// with run_id $4; the failing text names the row count. The ELSE branch depends on the
// aggregate, so the planner cannot fold it to an error. A plain read: the lock statement locks.
const currentCheckQry = `SELECT CASE WHEN count(*) = 1 AND sum(CASE WHEN run_id = $4 THEN 1 ELSE 0 END) = 1 THEN 0 ELSE ` +
	`('dsql current check: rows ' || count(*)::text)::bigint END ` +
	`FROM current_executions WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3`

// currentCheckFailure matches the text currentCheckQry casts when the check fails.
var currentCheckFailure = regexp.MustCompile(`dsql current check: rows (\d+)`)

// Upstream's texts (common/persistence/sql/execution_util.go assertRunIDAndUpdateCurrentExecution
// and assertCurrentExecution, pinned by internal/upstreamguard TestCurrentCheckMirrorsAssertCurrentExecution).
const (
	// CurrentRunMismatchMsg is assertRunIDAndUpdateCurrentExecution's Msg: the row's run id,
	// then the request's.
	CurrentRunMismatchMsg = "assertRunIDAndUpdateCurrentExecution failed. current run ID: %v, request run ID: %v"
	// CurrentLoadFailedMsg is assertCurrentExecution's Unavailable message: the read's error.
	CurrentLoadFailedMsg = "assertCurrentExecution failed. Unable to load current record. Error: %v"
)

type currentCheckKey struct{}

// currentExpectation is one store call's expected current run and, once the connection saw
// its check fail, that fact and the way to re-read the row.
type currentExpectation struct {
	filter      sqlplugin.CurrentExecutionsFilter
	previousRun primitives.UUID

	mu              sync.Mutex
	claimed, failed bool
	reread          func(context.Context, sqlplugin.CurrentExecutionsFilter) (*sqlplugin.CurrentExecutionsRow, error)
}

// newCurrentExpectation is the expectation of a call whose assertRunIDAndUpdateCurrentExecution
// locks (shard, namespace, workflow, archetype) expecting run previousRun; nil when an id does
// not parse (upstream fails on its own) or the archetype is not the workflow's.
func newCurrentExpectation(shard int32, namespaceID, workflowID string, archetype chasm.ArchetypeID, previousRun string) *currentExpectation {
	ns, err1 := primitives.ParseUUID(namespaceID)
	run, err2 := primitives.ParseUUID(previousRun)
	if err1 != nil || err2 != nil || archetype != chasm.WorkflowArchetypeID {
		return nil
	}
	return &currentExpectation{
		filter:      sqlplugin.CurrentExecutionsFilter{ShardID: shard, NamespaceID: ns, WorkflowID: workflowID, ArchetypeID: archetype},
		previousRun: run,
	}
}

// WithCurrentCheck returns ctx marked for one store call whose assertRunIDAndUpdateCurrentExecution
// expects previousRun to be the workflow's current run, as FencedExecutionStore marks
// UpdateWorkflowExecution / ConflictResolveWorkflowExecution in mode UpdateCurrent. For tests
// that drive the plugin's transactions directly.
func WithCurrentCheck(ctx context.Context, shard int32, namespaceID, workflowID, previousRun string) context.Context {
	if e := newCurrentExpectation(shard, namespaceID, workflowID, chasm.WorkflowArchetypeID, previousRun); e != nil {
		ctx = context.WithValue(ctx, currentCheckKey{}, e)
	}
	return ctx
}

// claimCurrentCheck returns the unused expectation of ctx for the row f names, or nil.
func claimCurrentCheck(ctx context.Context, f sqlplugin.CurrentExecutionsFilter) *currentExpectation {
	e, _ := ctx.Value(currentCheckKey{}).(*currentExpectation)
	if e == nil || f.ShardID != e.filter.ShardID || !bytes.Equal(f.NamespaceID, e.filter.NamespaceID) ||
		f.WorkflowID != e.filter.WorkflowID || f.ArchetypeID != e.filter.ArchetypeID {
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

// parseCurrentCheckFailure reports whether err is a failed currentCheckQry.
func parseCurrentCheckFailure(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "22P02" {
		return false
	}
	m := currentCheckFailure.FindStringSubmatch(pe.Message)
	if m == nil {
		return false
	}
	_, perr := strconv.ParseInt(m[1], 10, 64)
	return perr == nil
}

// observe records the check's failure (called by the connection, pipeline.go); other failures
// are left to upstream's handling.
func (e *currentExpectation) observe(err error) {
	if !parseCurrentCheckFailure(err) {
		return
	}
	e.mu.Lock()
	e.failed = true
	e.mu.Unlock()
}

// err is, for a recorded failure, the error upstream's assertCurrentExecution returns for the
// row as re-read now (see the file comment), else nil.
func (e *currentExpectation) err(ctx context.Context) error {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	failed, reread := e.failed, e.reread
	e.mu.Unlock()
	if !failed || reread == nil {
		return nil
	}
	row, err := reread(ctx, e.filter)
	if errors.Is(err, sql.ErrNoRows) {
		return serviceerror.NewUnavailablef(CurrentLoadFailedMsg, err)
	}
	if err != nil {
		return serviceerror.NewUnavailablef("dsql current check failed; re-reading current_executions for upstream's error failed: %v", err)
	}
	if bytes.Equal(row.RunID, e.previousRun) {
		return serviceerror.NewUnavailablef("dsql current check failed, but the current run is %v again when re-read (changed concurrently); retry", row.RunID)
	}
	return CurrentRunMismatchError(row, e.previousRun, serialization.NewSerializer())
}

// CurrentRunMismatchError is the *persistence.CurrentWorkflowConditionFailedError upstream's
// assertRunIDAndUpdateCurrentExecution returns when currentRow's run is not previousRunID (a
// mirror of its assertFn, pinned by internal/upstreamguard), or the data blob's decoding error.
func CurrentRunMismatchError(currentRow *sqlplugin.CurrentExecutionsRow, previousRunID primitives.UUID, serializer serialization.Serializer) error {
	executionState, err := executionStateFromCurrentRow(serializer, currentRow)
	if err != nil {
		return err
	}
	e := &persistence.CurrentWorkflowConditionFailedError{
		Msg:              fmt.Sprintf(CurrentRunMismatchMsg, currentRow.RunID, previousRunID),
		RequestIDs:       executionState.RequestIds,
		RunID:            currentRow.RunID.String(),
		State:            currentRow.State,
		Status:           currentRow.Status,
		LastWriteVersion: currentRow.LastWriteVersion,
		StartTime:        currentRow.StartTime,
	}
	setFirstExecutionRunID(e, executionState)
	return e
}

// executionStateFromCurrentRow mirrors upstream's workflowExecutionStateFromCurrentExecutionsRow
// (execution_util.go, pinned): the data blob, or for old rows without one a state built from
// the columns.
func executionStateFromCurrentRow(serializer serialization.Serializer, row *sqlplugin.CurrentExecutionsRow) (*persistencespb.WorkflowExecutionState, error) {
	if len(row.Data) > 0 && row.DataEncoding != "" {
		return serializer.WorkflowExecutionStateFromBlob(persistence.NewDataBlob(row.Data, row.DataEncoding))
	}
	executionState := &persistencespb.WorkflowExecutionState{
		CreateRequestId: row.CreateRequestID,
		RunId:           row.RunID.String(),
		State:           row.State,
		Status:          row.Status,
		RequestIds: map[string]*persistencespb.RequestIDInfo{
			row.CreateRequestID: {
				EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
				EventId:   common.FirstEventID,
			},
		},
	}
	if row.StartTime != nil {
		executionState.StartTime = timestamp.TimePtr(*row.StartTime)
	}
	return executionState, nil
}

// LockCurrentExecutions is upstream's (FOR UPDATE) read, or, in a pipelined transaction of a
// marked store call with deferCurrentCheck on, the deferred check: the lock and the check are
// queued and a row naming the expected run is returned at once (see the file comment). Either
// way a found row is remembered (pipeline_tx.go). If the statements ran at once after all (the
// connection did not pipeline), a failed check is recorded and returned as the read's error
// (upstream wraps it in Unavailable; the store replaces that with upstream's error from the
// re-read).
func (t *tx) LockCurrentExecutions(ctx context.Context, f sqlplugin.CurrentExecutionsFilter) (*sqlplugin.CurrentExecutionsRow, error) {
	var e *currentExpectation
	if t.deferCurrentCheck {
		e = claimCurrentCheck(ctx, f)
	}
	if e == nil {
		row, err := t.upstreamTx.LockCurrentExecutions(ctx, f)
		if err == nil && row != nil {
			t.locks.lockCurrent(currentKey(f.ShardID, f.NamespaceID, f.WorkflowID, uint32(f.ArchetypeID)))
		}
		return row, err
	}
	e.mu.Lock()
	e.reread = t.reread
	e.mu.Unlock()
	dctx := withCheckStatement(withDeferral(ctx, unknownRows), e)
	for _, stmt := range []struct {
		qry  string
		args []any
	}{
		{lockCurrentExecutionOnlyQry, []any{f.ShardID, f.NamespaceID, f.WorkflowID}},
		{currentCheckQry, []any{f.ShardID, f.NamespaceID, f.WorkflowID, e.previousRun}},
	} {
		if _, err := t.ops.q.ExecContext(dctx, stmt.qry, stmt.args...); err != nil {
			e.observe(err)
			return nil, err
		}
	}
	t.locks.lockCurrent(currentKey(f.ShardID, f.NamespaceID, f.WorkflowID, uint32(f.ArchetypeID)))
	return &sqlplugin.CurrentExecutionsRow{
		ShardID: f.ShardID, NamespaceID: f.NamespaceID, WorkflowID: f.WorkflowID,
		RunID: e.previousRun, ArchetypeID: f.ArchetypeID,
	}, nil
}
