package dsql

import (
	"context"
	"database/sql"
	"fmt"

	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/primitives"
)

// Bulk deletes that upstream runs inside one transaction, and that can change more rows
// than DSQL's 3,000 per transaction:
//
//   - DeleteHistoryBranch: the branch's history_tree row and every history_node row of its
//     ranges (one row per event batch, unbounded for long-running workflows);
//   - DeleteWorkflowExecution: every map row of a closed run (activities, timers, child
//     executions, cancel requests, signals, requested signals, buffered events) and its
//     executions row;
//   - queue v2 RangeDeleteMessages: a whole range of messages plus the queue metadata.
//
// Here the unbounded part runs on the chunk pool, outside the caller's transaction, as chunks of
// at most chunkSize (<= 3,000) rows, each chunk its own autocommit statement, before the
// caller's transaction commits. The transaction then changes only its few fixed rows
// (the history_tree row; the executions row; the queue metadata row).
//
// Why this keeps upstream's guarantees:
//   - Idempotent and resumable: each chunk deletes rows that the caller has decided to
//     delete anyway. If the process dies, or the final transaction fails, after some
//     chunks, the caller retries the whole operation (Temporal retries the task), the
//     chunks find what is left, and the final transaction commits. Nothing else writes
//     these rows of a run being deleted (a closed run's map rows, a branch being deleted,
//     queue messages below the ack level).
//   - No conflicts with the caller's own transaction: the chunks never touch a row the
//     transaction reads or writes (its history_tree row, its executions row, the queue
//     metadata and the last message it locks), so the transaction neither waits for them
//     (PostgreSQL) nor conflicts with them at commit (DSQL).
//   - Only the named path splits: the whole-run map deletes leave the transaction only for
//     the run that ChunkedRunDeleteExecutionStore.DeleteWorkflowExecution deletes (its
//     context names the run); every other transaction keeps them inside, fenced ones
//     (create, update, conflict-resolve, set = reset) included, so the delete-all-then-insert
//     of a reset or conflict-resolve is never split, and a new upstream caller is never split
//     by accident. Fencing is unchanged: upstream's DeleteWorkflowExecution and
//     DeleteHistoryBranch do not fence on the shard row, so a stale shard owner can still not
//     commit a mutation; it can at most delete rows of a run or branch being deleted.

const runFilter = `shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`

var (
	chunkDeleteActivityMapsQry      = boundedDeleteQry("activity_info_maps", runFilter, "schedule_id", 5)
	chunkDeleteTimerMapsQry         = boundedDeleteQry("timer_info_maps", runFilter, "timer_id", 5)
	chunkDeleteChildMapsQry         = boundedDeleteQry("child_execution_info_maps", runFilter, "initiated_id", 5)
	chunkDeleteRequestCancelMapsQry = boundedDeleteQry("request_cancel_info_maps", runFilter, "initiated_id", 5)
	chunkDeleteSignalMapsQry        = boundedDeleteQry("signal_info_maps", runFilter, "initiated_id", 5)
	chunkDeleteSignalsRequestedQry  = boundedDeleteQry("signals_requested_sets", runFilter, "signal_id", 5)
	chunkDeleteBufferedEventsQry    = boundedDeleteQry("buffered_events", runFilter, "id", 5)
	chunkDeleteChasmNodesQry        = boundedDeleteQry("chasm_node_maps", runFilter, "chasm_path", 5)
)

// boundedDeleteQry returns a DELETE of the first n rows, in key order, of the rows of table
// that match filter; n is the parameter $limitParam. keys are the columns that order (and,
// with filter's equality columns, identify) the rows. The n-th key is found once, by an
// uncorrelated sub-select (OFFSET n-1), and the delete takes every matching row up to it
// (all of them when there are fewer than n). Each chunk therefore reads O(rows in range)
// and changes at most n rows. (The form "key IN (SELECT key ... LIMIT n)" was planned by
// PostgreSQL, and so dsql-local, as a nested-loop semi join re-running the sub-select for
// every row: 12 s for one 3,000-row chunk of 5,001 queue messages.)
func boundedDeleteQry(table, filter, keys string, limitParam int) string {
	nth := fmt.Sprintf(`SELECT %s FROM %s WHERE %s ORDER BY %s OFFSET $%d - 1 LIMIT 1`, keys, table, filter, keys, limitParam)
	return fmt.Sprintf(`DELETE FROM %s WHERE %s AND ((%s) <= (%s) OR NOT EXISTS (%s))`, table, filter, keys, nth, nth)
}

// deleteRunRows deletes all rows of one run from one table with query (a chunkDelete*Qry),
// in autocommit chunks on o's querier (which must be the pool).
func (o ops) deleteRunRows(ctx context.Context, query string, shardID int32, namespaceID primitives.UUID, workflowID string, runID primitives.UUID) (sql.Result, error) {
	return o.chunked(ctx, 0, func(n int) (sql.Result, error) {
		return o.q.ExecContext(ctx, query, shardID, namespaceID, workflowID, runID, n)
	})
}

// ChunkedRunDeleteExecutionStore is the explicit entry of the chunked whole-run delete: its
// DeleteWorkflowExecution marks the call's context with the run being deleted (runDeletion) and
// runs the wrapped store's DeleteWorkflowExecution with it. In the plugin's transaction, a
// whole-run delete (DeleteAllFrom*Maps, DeleteFromBufferedEvents, DeleteAllFromChasmNodeMaps)
// of exactly that run then runs as autocommit chunks on the chunk pool; a whole-run delete of
// any other run, or without the mark (a reset or conflict-resolve rewriting a run, a caller
// other than this store), stays in the transaction as upstream runs it. Every other method is
// the wrapped store's. DecorateFactoryProvider wires it (WrapExecutionStore, guard.go).
type ChunkedRunDeleteExecutionStore struct {
	persistence.ExecutionStore
}

// NewChunkedRunDeleteExecutionStore wraps s.
func NewChunkedRunDeleteExecutionStore(s persistence.ExecutionStore) *ChunkedRunDeleteExecutionStore {
	return &ChunkedRunDeleteExecutionStore{ExecutionStore: s}
}

// DeleteWorkflowExecution deletes the run with its whole-run deletes in chunks (see the type).
// A request whose ids do not parse goes to the wrapped store unmarked (it reports the error).
func (s *ChunkedRunDeleteExecutionStore) DeleteWorkflowExecution(ctx context.Context, r *persistence.DeleteWorkflowExecutionRequest) error {
	ns, nsErr := primitives.ParseUUID(r.NamespaceID)
	run, runErr := primitives.ParseUUID(r.RunID)
	if nsErr == nil && runErr == nil {
		ctx = context.WithValue(ctx, runDeletionKey{}, runDeletion{keyOf(r.ShardID, ns, r.WorkflowID, run)})
	}
	return s.ExecutionStore.DeleteWorkflowExecution(ctx, r)
}

type runDeletionKey struct{}

// runDeletion names the one run whose whole-run deletes may run as chunks outside the transaction.
type runDeletion struct{ run runKey }

// chunkRun reports whether ctx carries the deletion of this run (ChunkedRunDeleteExecutionStore).
func chunkRun(ctx context.Context, shard int32, ns primitives.UUID, wf string, run primitives.UUID) bool {
	d, ok := ctx.Value(runDeletionKey{}).(runDeletion)
	return ok && d.run == keyOf(shard, ns, wf, run)
}

// RangeDeleteFromHistoryNode deletes a branch range's history nodes in autocommit chunks
// on the pool (DeleteHistoryBranch is its only transactional caller upstream); the
// transaction keeps only the history_tree row's delete.
func (t *tx) RangeDeleteFromHistoryNode(ctx context.Context, f sqlplugin.HistoryNodeDeleteFilter) (sql.Result, error) {
	return t.pool.RangeDeleteFromHistoryNode(ctx, f)
}

// RangeDeleteFromQueueV2Messages deletes the range in autocommit chunks on the pool; the
// transaction keeps the queue metadata update. Upstream never deletes the last message
// of a queue (persistence.GetDeleteRange), which is the row the transaction locks, so the
// chunks and the transaction touch disjoint rows.
func (t *tx) RangeDeleteFromQueueV2Messages(ctx context.Context, f sqlplugin.QueueV2MessagesFilter) (sql.Result, error) {
	return t.pool.RangeDeleteFromQueueV2Messages(ctx, f)
}

// DeleteAllFromActivityInfoMaps: whole-run delete in chunks on the chunk pool when the call
// belongs to ChunkedRunDeleteExecutionStore.DeleteWorkflowExecution of this run, in the
// transaction otherwise.
func (t *tx) DeleteAllFromActivityInfoMaps(ctx context.Context, f sqlplugin.ActivityInfoMapsAllFilter) (sql.Result, error) {
	if chunkRun(ctx, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID) {
		return t.pool.deleteRunRows(ctx, chunkDeleteActivityMapsQry, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID)
	}
	return t.upstreamTx.DeleteAllFromActivityInfoMaps(ctx, f)
}

// DeleteAllFromTimerInfoMaps: see DeleteAllFromActivityInfoMaps.
func (t *tx) DeleteAllFromTimerInfoMaps(ctx context.Context, f sqlplugin.TimerInfoMapsAllFilter) (sql.Result, error) {
	if chunkRun(ctx, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID) {
		return t.pool.deleteRunRows(ctx, chunkDeleteTimerMapsQry, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID)
	}
	return t.upstreamTx.DeleteAllFromTimerInfoMaps(ctx, f)
}

// DeleteAllFromChildExecutionInfoMaps: see DeleteAllFromActivityInfoMaps.
func (t *tx) DeleteAllFromChildExecutionInfoMaps(ctx context.Context, f sqlplugin.ChildExecutionInfoMapsAllFilter) (sql.Result, error) {
	if chunkRun(ctx, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID) {
		return t.pool.deleteRunRows(ctx, chunkDeleteChildMapsQry, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID)
	}
	return t.upstreamTx.DeleteAllFromChildExecutionInfoMaps(ctx, f)
}

// DeleteAllFromRequestCancelInfoMaps: see DeleteAllFromActivityInfoMaps.
func (t *tx) DeleteAllFromRequestCancelInfoMaps(ctx context.Context, f sqlplugin.RequestCancelInfoMapsAllFilter) (sql.Result, error) {
	if chunkRun(ctx, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID) {
		return t.pool.deleteRunRows(ctx, chunkDeleteRequestCancelMapsQry, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID)
	}
	return t.upstreamTx.DeleteAllFromRequestCancelInfoMaps(ctx, f)
}

// DeleteAllFromSignalInfoMaps: see DeleteAllFromActivityInfoMaps.
func (t *tx) DeleteAllFromSignalInfoMaps(ctx context.Context, f sqlplugin.SignalInfoMapsAllFilter) (sql.Result, error) {
	if chunkRun(ctx, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID) {
		return t.pool.deleteRunRows(ctx, chunkDeleteSignalMapsQry, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID)
	}
	return t.upstreamTx.DeleteAllFromSignalInfoMaps(ctx, f)
}

// DeleteAllFromSignalsRequestedSets: see DeleteAllFromActivityInfoMaps.
func (t *tx) DeleteAllFromSignalsRequestedSets(ctx context.Context, f sqlplugin.SignalsRequestedSetsAllFilter) (sql.Result, error) {
	if chunkRun(ctx, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID) {
		return t.pool.deleteRunRows(ctx, chunkDeleteSignalsRequestedQry, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID)
	}
	return t.upstreamTx.DeleteAllFromSignalsRequestedSets(ctx, f)
}

// DeleteFromBufferedEvents: see DeleteAllFromActivityInfoMaps.
func (t *tx) DeleteFromBufferedEvents(ctx context.Context, f sqlplugin.BufferedEventsFilter) (sql.Result, error) {
	if chunkRun(ctx, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID) {
		return t.pool.deleteRunRows(ctx, chunkDeleteBufferedEventsQry, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID)
	}
	return t.upstreamTx.DeleteFromBufferedEvents(ctx, f)
}

// DeleteAllFromChasmNodeMaps: see DeleteAllFromActivityInfoMaps (the path is hex text,
// so our own statement is used in both cases).
func (t *tx) DeleteAllFromChasmNodeMaps(ctx context.Context, f sqlplugin.ChasmNodeMapsAllFilter) (sql.Result, error) {
	if chunkRun(ctx, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID) {
		return t.pool.deleteRunRows(ctx, chunkDeleteChasmNodesQry, f.ShardID, f.NamespaceID, f.WorkflowID, f.RunID)
	}
	return t.ops.DeleteAllFromChasmNodeMaps(ctx, f)
}
