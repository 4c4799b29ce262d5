package dsql

// Which statements of a transaction may be deferred (pipeline.go), decided where the operation
// is known: on the plugin's sqlplugin.Tx. Each override only marks the context; the statement
// text, its arguments and upstream's handling of the result are unchanged. With pipelining off
// (connectAttributes pipeline=off) the marks are ignored.
//
//   - History task inserts (transfer, timer, visibility, replication, immediate, scheduled):
//     plain multi-row INSERT ... VALUES, no ON CONFLICT: RowsAffected is len(rows) or the
//     statement fails. Upstream compares RowsAffected with len(rows) (execution_util.go); the
//     prediction satisfies that check exactly when the real statement would.
//   - Mutable-state map writes (activity, timer, child, request-cancel, signal maps and the
//     signals-requested set: ReplaceInto..., DeleteFrom...): upstream never reads their
//     RowsAffected; a read of it would flush first.
//   - UpdateExecutions / UpdateCurrentExecutions by primary key, only after this transaction
//     locked that same key FOR UPDATE (WriteLockExecutions / ReadLockExecutions,
//     LockCurrentExecutions / LockCurrentExecutionsJoinExecutions) and found the row, and
//     deleted no row of that table since: the row is in the transaction's snapshot and locked,
//     so the UPDATE changes exactly one row, or the transaction fails (PostgreSQL keeps others
//     off the locked row; DSQL fails our COMMIT if another transaction changed it). A lock
//     deferred with the execution check (rowcheck.go) counts as locked and found: the check,
//     queued in front of the UPDATE, fails the transaction unless the row is there.
//
// Everything else (reads, conditional updates, deletes of whole runs, buffered events, CHASM
// nodes, matching tasks) runs as before, behind whatever is queued.

import (
	"context"
	"database/sql"

	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/primitives"
)

// lockKey names one row of executions (run set) or current_executions (run empty,
// archetype set) that the transaction locked.
type lockKey struct {
	shard     int32
	namespace string
	workflow  string
	run       string
	archetype uint32
}

// txLocks records the rows a transaction holds FOR UPDATE.
type txLocks struct {
	executions map[lockKey]bool
	current    map[lockKey]bool
}

func execKey(shard int32, ns primitives.UUID, wf string, run primitives.UUID) lockKey {
	return lockKey{shard: shard, namespace: string(ns), workflow: wf, run: string(run)}
}

func currentKey(shard int32, ns primitives.UUID, wf string, archetype uint32) lockKey {
	return lockKey{shard: shard, namespace: string(ns), workflow: wf, archetype: archetype}
}

func (l *txLocks) lockExecution(k lockKey) {
	if l.executions == nil {
		l.executions = map[lockKey]bool{}
	}
	l.executions[k] = true
}

func (l *txLocks) lockCurrent(k lockKey) {
	if l.current == nil {
		l.current = map[lockKey]bool{}
	}
	l.current[k] = true
}

// WriteLockExecutions (upstream's FOR UPDATE, or the deferred check) is in rowcheck.go; the
// locked row is remembered.

// ReadLockExecutions is ours (FOR UPDATE); the locked row is remembered.
func (t *tx) ReadLockExecutions(ctx context.Context, f sqlplugin.ExecutionsFilter) (int64, int64, error) {
	v, n, err := t.ops.ReadLockExecutions(ctx, f)
	if err == nil {
		t.locks.lockExecution(execKey(f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID))
	}
	return v, n, err
}

// LockCurrentExecutions (upstream's FOR UPDATE, or the deferred check) is in currentcheck.go; a
// found row is remembered.

// LockCurrentExecutionsJoinExecutions is ours; found rows are remembered (both tables).
func (t *tx) LockCurrentExecutionsJoinExecutions(ctx context.Context, f sqlplugin.CurrentExecutionsFilter) ([]sqlplugin.CurrentExecutionsRow, error) {
	rows, err := t.ops.LockCurrentExecutionsJoinExecutions(ctx, f)
	if err == nil {
		for _, r := range rows {
			t.locks.lockCurrent(currentKey(f.ShardID, f.NamespaceID, f.WorkflowID, uint32(f.ArchetypeID)))
			t.locks.lockExecution(execKey(r.ShardID, r.NamespaceID, r.WorkflowID, r.RunID))
		}
	}
	return rows, err
}

// UpdateExecutions is deferred (RowsAffected 1) when this transaction locked the row.
func (t *tx) UpdateExecutions(ctx context.Context, row *sqlplugin.ExecutionsRow) (sql.Result, error) {
	if t.locks.executions[execKey(row.ShardID, row.NamespaceID, row.WorkflowID, row.RunID)] {
		ctx = withDeferral(ctx, 1)
	}
	return t.upstreamTx.UpdateExecutions(ctx, row)
}

// UpdateCurrentExecutions is deferred (RowsAffected 1) when this transaction locked the row.
func (t *tx) UpdateCurrentExecutions(ctx context.Context, row *sqlplugin.CurrentExecutionsRow) (sql.Result, error) {
	if t.locks.current[currentKey(row.ShardID, row.NamespaceID, row.WorkflowID, uint32(row.ArchetypeID))] {
		ctx = withDeferral(ctx, 1)
	}
	return t.upstreamTx.UpdateCurrentExecutions(ctx, row)
}

// DeleteFromExecutions forgets the transaction's execution locks (a deleted row would make
// an UPDATE change nothing).
func (t *tx) DeleteFromExecutions(ctx context.Context, f sqlplugin.ExecutionsFilter) (sql.Result, error) {
	t.locks.executions = nil
	return t.upstreamTx.DeleteFromExecutions(ctx, f)
}

// DeleteFromCurrentExecutions forgets the transaction's current-execution locks.
func (t *tx) DeleteFromCurrentExecutions(ctx context.Context, f sqlplugin.CurrentExecutionsFilter) (sql.Result, error) {
	t.locks.current = nil
	return t.upstreamTx.DeleteFromCurrentExecutions(ctx, f)
}

// --- history task inserts: RowsAffected is len(rows) or the INSERT fails ---------------------

func (t *tx) InsertIntoTransferTasks(ctx context.Context, rows []sqlplugin.TransferTasksRow) (sql.Result, error) {
	return t.upstreamTx.InsertIntoTransferTasks(withDeferral(ctx, int64(len(rows))), rows)
}

func (t *tx) InsertIntoTimerTasks(ctx context.Context, rows []sqlplugin.TimerTasksRow) (sql.Result, error) {
	return t.upstreamTx.InsertIntoTimerTasks(withDeferral(ctx, int64(len(rows))), rows)
}

func (t *tx) InsertIntoVisibilityTasks(ctx context.Context, rows []sqlplugin.VisibilityTasksRow) (sql.Result, error) {
	return t.upstreamTx.InsertIntoVisibilityTasks(withDeferral(ctx, int64(len(rows))), rows)
}

func (t *tx) InsertIntoReplicationTasks(ctx context.Context, rows []sqlplugin.ReplicationTasksRow) (sql.Result, error) {
	return t.upstreamTx.InsertIntoReplicationTasks(withDeferral(ctx, int64(len(rows))), rows)
}

func (t *tx) InsertIntoHistoryImmediateTasks(ctx context.Context, rows []sqlplugin.HistoryImmediateTasksRow) (sql.Result, error) {
	return t.upstreamTx.InsertIntoHistoryImmediateTasks(withDeferral(ctx, int64(len(rows))), rows)
}

func (t *tx) InsertIntoHistoryScheduledTasks(ctx context.Context, rows []sqlplugin.HistoryScheduledTasksRow) (sql.Result, error) {
	return t.upstreamTx.InsertIntoHistoryScheduledTasks(withDeferral(ctx, int64(len(rows))), rows)
}

// --- mutable-state map writes: upstream never reads their RowsAffected ----------------------

func (t *tx) ReplaceIntoActivityInfoMaps(ctx context.Context, rows []sqlplugin.ActivityInfoMapsRow) (sql.Result, error) {
	return t.upstreamTx.ReplaceIntoActivityInfoMaps(withDeferral(ctx, unknownRows), rows)
}

func (t *tx) DeleteFromActivityInfoMaps(ctx context.Context, f sqlplugin.ActivityInfoMapsFilter) (sql.Result, error) {
	return t.upstreamTx.DeleteFromActivityInfoMaps(withDeferral(ctx, unknownRows), f)
}

func (t *tx) ReplaceIntoTimerInfoMaps(ctx context.Context, rows []sqlplugin.TimerInfoMapsRow) (sql.Result, error) {
	return t.upstreamTx.ReplaceIntoTimerInfoMaps(withDeferral(ctx, unknownRows), rows)
}

func (t *tx) DeleteFromTimerInfoMaps(ctx context.Context, f sqlplugin.TimerInfoMapsFilter) (sql.Result, error) {
	return t.upstreamTx.DeleteFromTimerInfoMaps(withDeferral(ctx, unknownRows), f)
}

func (t *tx) ReplaceIntoChildExecutionInfoMaps(ctx context.Context, rows []sqlplugin.ChildExecutionInfoMapsRow) (sql.Result, error) {
	return t.upstreamTx.ReplaceIntoChildExecutionInfoMaps(withDeferral(ctx, unknownRows), rows)
}

func (t *tx) DeleteFromChildExecutionInfoMaps(ctx context.Context, f sqlplugin.ChildExecutionInfoMapsFilter) (sql.Result, error) {
	return t.upstreamTx.DeleteFromChildExecutionInfoMaps(withDeferral(ctx, unknownRows), f)
}

func (t *tx) ReplaceIntoRequestCancelInfoMaps(ctx context.Context, rows []sqlplugin.RequestCancelInfoMapsRow) (sql.Result, error) {
	return t.upstreamTx.ReplaceIntoRequestCancelInfoMaps(withDeferral(ctx, unknownRows), rows)
}

func (t *tx) DeleteFromRequestCancelInfoMaps(ctx context.Context, f sqlplugin.RequestCancelInfoMapsFilter) (sql.Result, error) {
	return t.upstreamTx.DeleteFromRequestCancelInfoMaps(withDeferral(ctx, unknownRows), f)
}

func (t *tx) ReplaceIntoSignalInfoMaps(ctx context.Context, rows []sqlplugin.SignalInfoMapsRow) (sql.Result, error) {
	return t.upstreamTx.ReplaceIntoSignalInfoMaps(withDeferral(ctx, unknownRows), rows)
}

func (t *tx) DeleteFromSignalInfoMaps(ctx context.Context, f sqlplugin.SignalInfoMapsFilter) (sql.Result, error) {
	return t.upstreamTx.DeleteFromSignalInfoMaps(withDeferral(ctx, unknownRows), f)
}

func (t *tx) ReplaceIntoSignalsRequestedSets(ctx context.Context, rows []sqlplugin.SignalsRequestedSetsRow) (sql.Result, error) {
	return t.upstreamTx.ReplaceIntoSignalsRequestedSets(withDeferral(ctx, unknownRows), rows)
}

func (t *tx) DeleteFromSignalsRequestedSets(ctx context.Context, f sqlplugin.SignalsRequestedSetsFilter) (sql.Result, error) {
	return t.upstreamTx.DeleteFromSignalsRequestedSets(withDeferral(ctx, unknownRows), f)
}
