// The plugin's overrides, declared on db and tx; keep in step with ops.go and tasks.go.

package dsql

// The plugin's overrides of upstream's sqlplugin methods, declared on db and tx themselves (issue
// 22, item 4). db and tx embed upstream's implementation, whose methods are promoted; a method
// declared on the type itself takes precedence over a promoted one by Go's rules, whatever the
// embedding. Each override below forwards to ops, the plugin's DSQL statements, which db and tx
// hold as a named field (not embedded), so no override depends on embedding depth.
// TestOverridesAreDeclaredOnDBAndTx fails when an exported method of ops has no forwarder here
// (or on the type itself); TestEveryOverrideNamesAnUpstreamMethod when one names no upstream
// method.

import (
	"context"
	"database/sql"

	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
)

// --- db ----------------------------------------------------------------------------------------

// ReadLockShards is ops.ReadLockShards (ops.go).
func (d *db) ReadLockShards(ctx context.Context, filter sqlplugin.ShardsFilter) (int64, error) {
	return d.ops.ReadLockShards(ctx, filter)
}

// ReadLockExecutions is ops.ReadLockExecutions (ops.go).
func (d *db) ReadLockExecutions(ctx context.Context, filter sqlplugin.ExecutionsFilter) (int64, int64, error) {
	return d.ops.ReadLockExecutions(ctx, filter)
}

// LockCurrentExecutionsJoinExecutions is ops.LockCurrentExecutionsJoinExecutions (ops.go).
func (d *db) LockCurrentExecutionsJoinExecutions(ctx context.Context, filter sqlplugin.CurrentExecutionsFilter) ([]sqlplugin.CurrentExecutionsRow, error) {
	return d.ops.LockCurrentExecutionsJoinExecutions(ctx, filter)
}

// InsertIntoBufferedEvents is ops.InsertIntoBufferedEvents (ops.go).
func (d *db) InsertIntoBufferedEvents(ctx context.Context, rows []sqlplugin.BufferedEventsRow) (sql.Result, error) {
	return d.ops.InsertIntoBufferedEvents(ctx, rows)
}

// SelectAllFromChasmNodeMaps is ops.SelectAllFromChasmNodeMaps (ops.go).
func (d *db) SelectAllFromChasmNodeMaps(ctx context.Context, filter sqlplugin.ChasmNodeMapsAllFilter) ([]sqlplugin.ChasmNodeMapsRow, error) {
	return d.ops.SelectAllFromChasmNodeMaps(ctx, filter)
}

// ReplaceIntoChasmNodeMaps is ops.ReplaceIntoChasmNodeMaps (ops.go).
func (d *db) ReplaceIntoChasmNodeMaps(ctx context.Context, rows []sqlplugin.ChasmNodeMapsRow) (sql.Result, error) {
	return d.ops.ReplaceIntoChasmNodeMaps(ctx, rows)
}

// DeleteFromChasmNodeMaps is ops.DeleteFromChasmNodeMaps (ops.go).
func (d *db) DeleteFromChasmNodeMaps(ctx context.Context, filter sqlplugin.ChasmNodeMapsFilter) (sql.Result, error) {
	return d.ops.DeleteFromChasmNodeMaps(ctx, filter)
}

// DeleteAllFromChasmNodeMaps is ops.DeleteAllFromChasmNodeMaps (ops.go).
func (d *db) DeleteAllFromChasmNodeMaps(ctx context.Context, filter sqlplugin.ChasmNodeMapsAllFilter) (sql.Result, error) {
	return d.ops.DeleteAllFromChasmNodeMaps(ctx, filter)
}

// GetLastEnqueuedMessageIDForUpdate is ops.GetLastEnqueuedMessageIDForUpdate (ops.go).
func (d *db) GetLastEnqueuedMessageIDForUpdate(ctx context.Context, queueType persistence.QueueType) (int64, error) {
	return d.ops.GetLastEnqueuedMessageIDForUpdate(ctx, queueType)
}

// GetLastEnqueuedMessageIDForUpdateV2 is ops.GetLastEnqueuedMessageIDForUpdateV2 (ops.go).
func (d *db) GetLastEnqueuedMessageIDForUpdateV2(ctx context.Context, filter sqlplugin.QueueV2Filter) (int64, error) {
	return d.ops.GetLastEnqueuedMessageIDForUpdateV2(ctx, filter)
}

// RangeDeleteFromMessages is ops.RangeDeleteFromMessages (ops.go).
func (d *db) RangeDeleteFromMessages(ctx context.Context, filter sqlplugin.QueueMessagesRangeFilter) (sql.Result, error) {
	return d.ops.RangeDeleteFromMessages(ctx, filter)
}

// RangeDeleteFromQueueV2Messages is ops.RangeDeleteFromQueueV2Messages (ops.go).
func (d *db) RangeDeleteFromQueueV2Messages(ctx context.Context, filter sqlplugin.QueueV2MessagesFilter) (sql.Result, error) {
	return d.ops.RangeDeleteFromQueueV2Messages(ctx, filter)
}

// RangeDeleteFromHistoryImmediateTasks is ops.RangeDeleteFromHistoryImmediateTasks (ops.go).
func (d *db) RangeDeleteFromHistoryImmediateTasks(ctx context.Context, f sqlplugin.HistoryImmediateTasksRangeFilter) (sql.Result, error) {
	return d.ops.RangeDeleteFromHistoryImmediateTasks(ctx, f)
}

// RangeDeleteFromHistoryScheduledTasks is ops.RangeDeleteFromHistoryScheduledTasks (ops.go).
func (d *db) RangeDeleteFromHistoryScheduledTasks(ctx context.Context, f sqlplugin.HistoryScheduledTasksRangeFilter) (sql.Result, error) {
	return d.ops.RangeDeleteFromHistoryScheduledTasks(ctx, f)
}

// RangeDeleteFromTransferTasks is ops.RangeDeleteFromTransferTasks (ops.go).
func (d *db) RangeDeleteFromTransferTasks(ctx context.Context, f sqlplugin.TransferTasksRangeFilter) (sql.Result, error) {
	return d.ops.RangeDeleteFromTransferTasks(ctx, f)
}

// RangeDeleteFromTimerTasks is ops.RangeDeleteFromTimerTasks (ops.go).
func (d *db) RangeDeleteFromTimerTasks(ctx context.Context, f sqlplugin.TimerTasksRangeFilter) (sql.Result, error) {
	return d.ops.RangeDeleteFromTimerTasks(ctx, f)
}

// RangeDeleteFromReplicationTasks is ops.RangeDeleteFromReplicationTasks (ops.go).
func (d *db) RangeDeleteFromReplicationTasks(ctx context.Context, f sqlplugin.ReplicationTasksRangeFilter) (sql.Result, error) {
	return d.ops.RangeDeleteFromReplicationTasks(ctx, f)
}

// RangeDeleteFromReplicationDLQTasks is ops.RangeDeleteFromReplicationDLQTasks (ops.go).
func (d *db) RangeDeleteFromReplicationDLQTasks(ctx context.Context, f sqlplugin.ReplicationDLQTasksRangeFilter) (sql.Result, error) {
	return d.ops.RangeDeleteFromReplicationDLQTasks(ctx, f)
}

// RangeDeleteFromVisibilityTasks is ops.RangeDeleteFromVisibilityTasks (ops.go).
func (d *db) RangeDeleteFromVisibilityTasks(ctx context.Context, f sqlplugin.VisibilityTasksRangeFilter) (sql.Result, error) {
	return d.ops.RangeDeleteFromVisibilityTasks(ctx, f)
}

// RangeDeleteFromHistoryNode is ops.RangeDeleteFromHistoryNode (ops.go).
func (d *db) RangeDeleteFromHistoryNode(ctx context.Context, f sqlplugin.HistoryNodeDeleteFilter) (sql.Result, error) {
	return d.ops.RangeDeleteFromHistoryNode(ctx, f)
}

// InsertIntoTaskQueues is ops.InsertIntoTaskQueues (tasks.go).
func (d *db) InsertIntoTaskQueues(ctx context.Context, row *sqlplugin.TaskQueuesRow, v sqlplugin.MatchingTaskVersion) (sql.Result, error) {
	return d.ops.InsertIntoTaskQueues(ctx, row, v)
}

// UpdateTaskQueues is ops.UpdateTaskQueues (tasks.go).
func (d *db) UpdateTaskQueues(ctx context.Context, row *sqlplugin.TaskQueuesRow, v sqlplugin.MatchingTaskVersion) (sql.Result, error) {
	return d.ops.UpdateTaskQueues(ctx, row, v)
}

// SelectFromTaskQueues is ops.SelectFromTaskQueues (tasks.go).
func (d *db) SelectFromTaskQueues(ctx context.Context, filter sqlplugin.TaskQueuesFilter, v sqlplugin.MatchingTaskVersion) ([]sqlplugin.TaskQueuesRow, error) {
	return d.ops.SelectFromTaskQueues(ctx, filter, v)
}

// DeleteFromTaskQueues is ops.DeleteFromTaskQueues (tasks.go).
func (d *db) DeleteFromTaskQueues(ctx context.Context, filter sqlplugin.TaskQueuesFilter, v sqlplugin.MatchingTaskVersion) (sql.Result, error) {
	return d.ops.DeleteFromTaskQueues(ctx, filter, v)
}

// LockTaskQueues is ops.LockTaskQueues (tasks.go).
func (d *db) LockTaskQueues(ctx context.Context, filter sqlplugin.TaskQueuesFilter, v sqlplugin.MatchingTaskVersion) (int64, error) {
	return d.ops.LockTaskQueues(ctx, filter, v)
}

// InsertIntoTasks is ops.InsertIntoTasks (tasks.go).
func (d *db) InsertIntoTasks(ctx context.Context, rows []sqlplugin.TasksRow) (sql.Result, error) {
	return d.ops.InsertIntoTasks(ctx, rows)
}

// SelectFromTasks is ops.SelectFromTasks (tasks.go).
func (d *db) SelectFromTasks(ctx context.Context, filter sqlplugin.TasksFilter) ([]sqlplugin.TasksRow, error) {
	return d.ops.SelectFromTasks(ctx, filter)
}

// DeleteFromTasks is ops.DeleteFromTasks (tasks.go).
func (d *db) DeleteFromTasks(ctx context.Context, filter sqlplugin.TasksFilter) (sql.Result, error) {
	return d.ops.DeleteFromTasks(ctx, filter)
}

// InsertIntoTasksV2 is ops.InsertIntoTasksV2 (tasks.go).
func (d *db) InsertIntoTasksV2(ctx context.Context, rows []sqlplugin.TasksRowV2) (sql.Result, error) {
	return d.ops.InsertIntoTasksV2(ctx, rows)
}

// SelectFromTasksV2 is ops.SelectFromTasksV2 (tasks.go).
func (d *db) SelectFromTasksV2(ctx context.Context, filter sqlplugin.TasksFilterV2) ([]sqlplugin.TasksRowV2, error) {
	return d.ops.SelectFromTasksV2(ctx, filter)
}

// DeleteFromTasksV2 is ops.DeleteFromTasksV2 (tasks.go).
func (d *db) DeleteFromTasksV2(ctx context.Context, filter sqlplugin.TasksFilterV2) (sql.Result, error) {
	return d.ops.DeleteFromTasksV2(ctx, filter)
}

// --- tx ----------------------------------------------------------------------------------------

// tx.ReadLockShards is declared in fence.go (ops.ReadLockShards, or the deferred shard fence).

// InsertIntoBufferedEvents is ops.InsertIntoBufferedEvents (ops.go).
func (t *tx) InsertIntoBufferedEvents(ctx context.Context, rows []sqlplugin.BufferedEventsRow) (sql.Result, error) {
	return t.ops.InsertIntoBufferedEvents(ctx, rows)
}

// SelectAllFromChasmNodeMaps is ops.SelectAllFromChasmNodeMaps (ops.go).
func (t *tx) SelectAllFromChasmNodeMaps(ctx context.Context, filter sqlplugin.ChasmNodeMapsAllFilter) ([]sqlplugin.ChasmNodeMapsRow, error) {
	return t.ops.SelectAllFromChasmNodeMaps(ctx, filter)
}

// ReplaceIntoChasmNodeMaps is ops.ReplaceIntoChasmNodeMaps (ops.go).
func (t *tx) ReplaceIntoChasmNodeMaps(ctx context.Context, rows []sqlplugin.ChasmNodeMapsRow) (sql.Result, error) {
	return t.ops.ReplaceIntoChasmNodeMaps(ctx, rows)
}

// DeleteFromChasmNodeMaps is ops.DeleteFromChasmNodeMaps (ops.go).
func (t *tx) DeleteFromChasmNodeMaps(ctx context.Context, filter sqlplugin.ChasmNodeMapsFilter) (sql.Result, error) {
	return t.ops.DeleteFromChasmNodeMaps(ctx, filter)
}

// GetLastEnqueuedMessageIDForUpdate is ops.GetLastEnqueuedMessageIDForUpdate (ops.go).
func (t *tx) GetLastEnqueuedMessageIDForUpdate(ctx context.Context, queueType persistence.QueueType) (int64, error) {
	return t.ops.GetLastEnqueuedMessageIDForUpdate(ctx, queueType)
}

// GetLastEnqueuedMessageIDForUpdateV2 is ops.GetLastEnqueuedMessageIDForUpdateV2 (ops.go).
func (t *tx) GetLastEnqueuedMessageIDForUpdateV2(ctx context.Context, filter sqlplugin.QueueV2Filter) (int64, error) {
	return t.ops.GetLastEnqueuedMessageIDForUpdateV2(ctx, filter)
}

// RangeDeleteFromMessages is ops.RangeDeleteFromMessages (ops.go).
func (t *tx) RangeDeleteFromMessages(ctx context.Context, filter sqlplugin.QueueMessagesRangeFilter) (sql.Result, error) {
	return t.ops.RangeDeleteFromMessages(ctx, filter)
}

// RangeDeleteFromHistoryImmediateTasks is ops.RangeDeleteFromHistoryImmediateTasks (ops.go).
func (t *tx) RangeDeleteFromHistoryImmediateTasks(ctx context.Context, f sqlplugin.HistoryImmediateTasksRangeFilter) (sql.Result, error) {
	return t.ops.RangeDeleteFromHistoryImmediateTasks(ctx, f)
}

// RangeDeleteFromHistoryScheduledTasks is ops.RangeDeleteFromHistoryScheduledTasks (ops.go).
func (t *tx) RangeDeleteFromHistoryScheduledTasks(ctx context.Context, f sqlplugin.HistoryScheduledTasksRangeFilter) (sql.Result, error) {
	return t.ops.RangeDeleteFromHistoryScheduledTasks(ctx, f)
}

// RangeDeleteFromTransferTasks is ops.RangeDeleteFromTransferTasks (ops.go).
func (t *tx) RangeDeleteFromTransferTasks(ctx context.Context, f sqlplugin.TransferTasksRangeFilter) (sql.Result, error) {
	return t.ops.RangeDeleteFromTransferTasks(ctx, f)
}

// RangeDeleteFromTimerTasks is ops.RangeDeleteFromTimerTasks (ops.go).
func (t *tx) RangeDeleteFromTimerTasks(ctx context.Context, f sqlplugin.TimerTasksRangeFilter) (sql.Result, error) {
	return t.ops.RangeDeleteFromTimerTasks(ctx, f)
}

// RangeDeleteFromReplicationTasks is ops.RangeDeleteFromReplicationTasks (ops.go).
func (t *tx) RangeDeleteFromReplicationTasks(ctx context.Context, f sqlplugin.ReplicationTasksRangeFilter) (sql.Result, error) {
	return t.ops.RangeDeleteFromReplicationTasks(ctx, f)
}

// RangeDeleteFromReplicationDLQTasks is ops.RangeDeleteFromReplicationDLQTasks (ops.go).
func (t *tx) RangeDeleteFromReplicationDLQTasks(ctx context.Context, f sqlplugin.ReplicationDLQTasksRangeFilter) (sql.Result, error) {
	return t.ops.RangeDeleteFromReplicationDLQTasks(ctx, f)
}

// RangeDeleteFromVisibilityTasks is ops.RangeDeleteFromVisibilityTasks (ops.go).
func (t *tx) RangeDeleteFromVisibilityTasks(ctx context.Context, f sqlplugin.VisibilityTasksRangeFilter) (sql.Result, error) {
	return t.ops.RangeDeleteFromVisibilityTasks(ctx, f)
}

// InsertIntoTaskQueues is ops.InsertIntoTaskQueues (tasks.go).
func (t *tx) InsertIntoTaskQueues(ctx context.Context, row *sqlplugin.TaskQueuesRow, v sqlplugin.MatchingTaskVersion) (sql.Result, error) {
	return t.ops.InsertIntoTaskQueues(ctx, row, v)
}

// UpdateTaskQueues is ops.UpdateTaskQueues (tasks.go).
func (t *tx) UpdateTaskQueues(ctx context.Context, row *sqlplugin.TaskQueuesRow, v sqlplugin.MatchingTaskVersion) (sql.Result, error) {
	return t.ops.UpdateTaskQueues(ctx, row, v)
}

// SelectFromTaskQueues is ops.SelectFromTaskQueues (tasks.go).
func (t *tx) SelectFromTaskQueues(ctx context.Context, filter sqlplugin.TaskQueuesFilter, v sqlplugin.MatchingTaskVersion) ([]sqlplugin.TaskQueuesRow, error) {
	return t.ops.SelectFromTaskQueues(ctx, filter, v)
}

// DeleteFromTaskQueues is ops.DeleteFromTaskQueues (tasks.go).
func (t *tx) DeleteFromTaskQueues(ctx context.Context, filter sqlplugin.TaskQueuesFilter, v sqlplugin.MatchingTaskVersion) (sql.Result, error) {
	return t.ops.DeleteFromTaskQueues(ctx, filter, v)
}

// LockTaskQueues is ops.LockTaskQueues (tasks.go).
func (t *tx) LockTaskQueues(ctx context.Context, filter sqlplugin.TaskQueuesFilter, v sqlplugin.MatchingTaskVersion) (int64, error) {
	return t.ops.LockTaskQueues(ctx, filter, v)
}

// InsertIntoTasks is ops.InsertIntoTasks (tasks.go).
func (t *tx) InsertIntoTasks(ctx context.Context, rows []sqlplugin.TasksRow) (sql.Result, error) {
	return t.ops.InsertIntoTasks(ctx, rows)
}

// SelectFromTasks is ops.SelectFromTasks (tasks.go).
func (t *tx) SelectFromTasks(ctx context.Context, filter sqlplugin.TasksFilter) ([]sqlplugin.TasksRow, error) {
	return t.ops.SelectFromTasks(ctx, filter)
}

// DeleteFromTasks is ops.DeleteFromTasks (tasks.go).
func (t *tx) DeleteFromTasks(ctx context.Context, filter sqlplugin.TasksFilter) (sql.Result, error) {
	return t.ops.DeleteFromTasks(ctx, filter)
}

// InsertIntoTasksV2 is ops.InsertIntoTasksV2 (tasks.go).
func (t *tx) InsertIntoTasksV2(ctx context.Context, rows []sqlplugin.TasksRowV2) (sql.Result, error) {
	return t.ops.InsertIntoTasksV2(ctx, rows)
}

// SelectFromTasksV2 is ops.SelectFromTasksV2 (tasks.go).
func (t *tx) SelectFromTasksV2(ctx context.Context, filter sqlplugin.TasksFilterV2) ([]sqlplugin.TasksRowV2, error) {
	return t.ops.SelectFromTasksV2(ctx, filter)
}

// DeleteFromTasksV2 is ops.DeleteFromTasksV2 (tasks.go).
func (t *tx) DeleteFromTasksV2(ctx context.Context, filter sqlplugin.TasksFilterV2) (sql.Result, error) {
	return t.ops.DeleteFromTasksV2(ctx, filter)
}
