package dsql

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/chasm"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
)

// querier is the statement API of upstream's PostgreSQL db (and of its transactions):
// exported methods that run on the pool, or on the transaction when there is one, and
// convert connection errors the way upstream does.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
	NamedExecContext(ctx context.Context, query string, arg any) (sql.Result, error)
}

// maxRowsPerStatement bounds the rows one chunk of a range delete changes: DSQL refuses a
// transaction that changes more than 3,000 rows.
const maxRowsPerStatement = 3000

// ops holds our own statements for the operations whose upstream PostgreSQL SQL is not
// valid on DSQL or does not keep its guarantees there. Every method is the same for the
// pool and for a transaction: q is upstream's db or its transaction.
type ops struct {
	q         querier
	chunkSize int
}

// --- shards: fencing ----------------------------------------------------------------------

const lockShardForUpdateQry = `SELECT range_id FROM shards WHERE shard_id = $1 FOR UPDATE`

// ReadLockShards reads the shard's range_id inside an execution write. Upstream reads it
// FOR SHARE, which DSQL refuses; a plain read would not fence under snapshot isolation.
// FOR UPDATE adds the shard row to the commit-time conflict check, so if another host
// bumps range_id (takes the shard over) before this transaction commits, the commit fails
// with SQLSTATE 40001 and the stale owner's write is never applied. In a pipelined fenced
// store call the plugin's transaction queues this statement and a check instead (fence.go).
func (o ops) ReadLockShards(ctx context.Context, filter sqlplugin.ShardsFilter) (int64, error) {
	var rangeID int64
	err := o.q.GetContext(ctx, &rangeID, lockShardForUpdateQry, filter.ShardID)
	return rangeID, err
}

// --- executions ---------------------------------------------------------------------------

const (
	lockExecutionForUpdateQry = `SELECT db_record_version, next_event_id FROM executions
 WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4 FOR UPDATE`

	lockCurrentExecutionOnlyQry = `SELECT
shard_id, namespace_id, workflow_id, run_id, create_request_id, state, status, start_time, last_write_version, data, data_encoding
FROM current_executions WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 FOR UPDATE`
	lockCurrentChasmExecutionOnlyQry = `SELECT
shard_id, namespace_id, business_id AS workflow_id, run_id, create_request_id, state, status, start_time, last_write_version, data, data_encoding
FROM current_chasm_executions WHERE shard_id = $1 AND namespace_id = $2 AND business_id = $3 AND archetype_id = $4 FOR UPDATE`
	lockExecutionLastWriteVersionQry = `SELECT last_write_version FROM executions
 WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4 FOR UPDATE`
)

// ReadLockExecutions locks the execution row FOR UPDATE (upstream: FOR SHARE, refused by DSQL).
func (o ops) ReadLockExecutions(ctx context.Context, filter sqlplugin.ExecutionsFilter) (int64, int64, error) {
	var v struct {
		DBRecordVersion int64
		NextEventID     int64
	}
	err := o.q.GetContext(ctx, &v, lockExecutionForUpdateQry, filter.ShardID, filter.NamespaceID, filter.WorkflowID, filter.RunID)
	return v.DBRecordVersion, v.NextEventID, err
}

// LockCurrentExecutionsJoinExecutions locks the current-execution row and the execution
// row it points to. Upstream does it with one joined SELECT ... FOR UPDATE; here it is two
// single-table FOR UPDATE reads in the same transaction, with the same result: no row when
// the current row or its execution row is missing, last_write_version from the execution.
func (o ops) LockCurrentExecutionsJoinExecutions(ctx context.Context, filter sqlplugin.CurrentExecutionsFilter) ([]sqlplugin.CurrentExecutionsRow, error) {
	if filter.ArchetypeID == chasm.UnspecifiedArchetypeID {
		return nil, serviceerror.NewInternal("dsql: archetype ID is unspecified for a current-execution lock")
	}
	var rows []sqlplugin.CurrentExecutionsRow
	var err error
	if filter.ArchetypeID == chasm.WorkflowArchetypeID {
		err = o.q.SelectContext(ctx, &rows, lockCurrentExecutionOnlyQry, filter.ShardID, filter.NamespaceID, filter.WorkflowID)
	} else {
		err = o.q.SelectContext(ctx, &rows, lockCurrentChasmExecutionOnlyQry, filter.ShardID, filter.NamespaceID, filter.WorkflowID, filter.ArchetypeID)
	}
	if err != nil {
		return nil, err
	}
	out := rows[:0]
	for _, r := range rows {
		var lwv int64
		err := o.q.GetContext(ctx, &lwv, lockExecutionLastWriteVersionQry, r.ShardID, r.NamespaceID, r.WorkflowID, r.RunID)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r.LastWriteVersion = lwv
		r.ArchetypeID = filter.ArchetypeID
		out = append(out, r)
	}
	return out, nil
}

// --- buffered events: no BIGSERIAL ---------------------------------------------------------

const (
	maxBufferedEventIDQry = `SELECT COALESCE(MAX(id), 0) FROM buffered_events
 WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`
	createBufferedEventQry = `INSERT INTO buffered_events(shard_id, namespace_id, workflow_id, run_id, id, data, data_encoding)
 VALUES (:shard_id, :namespace_id, :workflow_id, :run_id, :id, :data, :data_encoding)`
)

type bufferedEventRow struct {
	sqlplugin.BufferedEventsRow
	ID int64
}

// InsertIntoBufferedEvents appends events with ids max(id)+1, max(id)+2, ... of the same
// workflow run (upstream uses a BIGSERIAL, which DSQL refuses). It runs inside the
// execution write, which holds the execution row FOR UPDATE, so two writers of one run
// conflict at commit instead of interleaving ids.
func (o ops) InsertIntoBufferedEvents(ctx context.Context, rows []sqlplugin.BufferedEventsRow) (sql.Result, error) {
	if len(rows) == 0 {
		return rowsResult(0), nil
	}
	type runKey struct {
		shard      int32
		ns, wf, rn string
	}
	next := map[runKey]int64{}
	out := make([]bufferedEventRow, len(rows))
	for i, r := range rows {
		k := runKey{r.ShardID, string(r.NamespaceID), r.WorkflowID, string(r.RunID)}
		id, ok := next[k]
		if !ok {
			if err := o.q.GetContext(ctx, &id, maxBufferedEventIDQry, r.ShardID, r.NamespaceID, r.WorkflowID, r.RunID); err != nil {
				return nil, err
			}
		}
		id++
		next[k] = id
		out[i] = bufferedEventRow{BufferedEventsRow: r, ID: id}
	}
	return o.q.NamedExecContext(ctx, createBufferedEventQry, out)
}

// --- CHASM nodes: the path is stored as hex text ---------------------------------------------

const (
	chasmNodeColumns        = `chasm_path, metadata, metadata_encoding, data, data_encoding`
	getChasmNodeMapQry      = `SELECT ` + chasmNodeColumns + ` FROM chasm_node_maps WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`
	setKeyInChasmNodeMapQry = `INSERT INTO chasm_node_maps (shard_id, namespace_id, workflow_id, run_id, ` + chasmNodeColumns + `)
 VALUES (:shard_id, :namespace_id, :workflow_id, :run_id, :chasm_path, :metadata, :metadata_encoding, :data, :data_encoding)
 ON CONFLICT (shard_id, namespace_id, workflow_id, run_id, chasm_path) DO UPDATE
 SET metadata = excluded.metadata, metadata_encoding = excluded.metadata_encoding, data = excluded.data, data_encoding = excluded.data_encoding`
	deleteKeyInChasmNodeMapQry = `DELETE FROM chasm_node_maps WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4 AND chasm_path = ANY($5)`
	deleteChasmNodeMapQry      = `DELETE FROM chasm_node_maps WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`
)

// EncodeKeyBytes is the reversible text form of a variable-length byte key (task queue id,
// CHASM node path): lower-case hex. It keeps byte order under DSQL's C collation, so range
// scans ("> last key", ORDER BY) behave as they do on BYTEA, and it doubles the length.
func EncodeKeyBytes(b []byte) string { return hex.EncodeToString(b) }

// DecodeKeyBytes reverses EncodeKeyBytes.
func DecodeKeyBytes(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("dsql: stored key %q is not hex: %w", s, err)
	}
	return b, nil
}

// SelectAllFromChasmNodeMaps returns all CHASM nodes of a run.
func (o ops) SelectAllFromChasmNodeMaps(ctx context.Context, filter sqlplugin.ChasmNodeMapsAllFilter) ([]sqlplugin.ChasmNodeMapsRow, error) {
	var rows []sqlplugin.ChasmNodeMapsRow
	if err := o.q.SelectContext(ctx, &rows, getChasmNodeMapQry, filter.ShardID, filter.NamespaceID, filter.WorkflowID, filter.RunID); err != nil {
		return nil, err
	}
	for i := range rows {
		p, err := DecodeKeyBytes(rows[i].ChasmPath)
		if err != nil {
			return nil, err
		}
		rows[i].ChasmPath = string(p)
		rows[i].ShardID = filter.ShardID
		rows[i].NamespaceID = filter.NamespaceID
		rows[i].WorkflowID = filter.WorkflowID
		rows[i].RunID = filter.RunID
	}
	return rows, nil
}

// ReplaceIntoChasmNodeMaps upserts CHASM nodes.
func (o ops) ReplaceIntoChasmNodeMaps(ctx context.Context, rows []sqlplugin.ChasmNodeMapsRow) (sql.Result, error) {
	enc := make([]sqlplugin.ChasmNodeMapsRow, len(rows))
	for i, r := range rows {
		r.ChasmPath = EncodeKeyBytes([]byte(r.ChasmPath))
		enc[i] = r
	}
	return o.q.NamedExecContext(ctx, setKeyInChasmNodeMapQry, enc)
}

// DeleteFromChasmNodeMaps deletes the given CHASM nodes of a run.
func (o ops) DeleteFromChasmNodeMaps(ctx context.Context, filter sqlplugin.ChasmNodeMapsFilter) (sql.Result, error) {
	paths := make([]string, len(filter.ChasmPaths))
	for i, p := range filter.ChasmPaths {
		paths[i] = EncodeKeyBytes([]byte(p))
	}
	return o.q.ExecContext(ctx, deleteKeyInChasmNodeMapQry, filter.ShardID, filter.NamespaceID, filter.WorkflowID, filter.RunID, paths)
}

// DeleteAllFromChasmNodeMaps deletes all CHASM nodes of a run.
func (o ops) DeleteAllFromChasmNodeMaps(ctx context.Context, filter sqlplugin.ChasmNodeMapsAllFilter) (sql.Result, error) {
	return o.q.ExecContext(ctx, deleteChasmNodeMapQry, filter.ShardID, filter.NamespaceID, filter.WorkflowID, filter.RunID)
}

// --- queues: no range predicate under FOR UPDATE -------------------------------------------

const (
	lastMessageIDQry   = `SELECT message_id FROM queue WHERE queue_type = $1 ORDER BY message_id DESC LIMIT 1`
	lockMessageIDQry   = `SELECT message_id FROM queue WHERE queue_type = $1 AND message_id = $2 FOR UPDATE`
	lastMessageIDV2Qry = `SELECT message_id FROM queue_messages WHERE queue_type = $1 AND queue_name = $2 AND queue_partition = $3 ORDER BY message_id DESC LIMIT 1`
	lockMessageIDV2Qry = `SELECT message_id FROM queue_messages WHERE queue_type = $1 AND queue_name = $2 AND queue_partition = $3 AND message_id = $4 FOR UPDATE`
)

var (
	rangeDeleteMessagesQry   = boundedDeleteQry("queue", `queue_type = $1 AND message_id > $2 AND message_id <= $3`, "message_id", 4)
	rangeDeleteMessagesV2Qry = boundedDeleteQry("queue_messages", `queue_type = $1 AND queue_name = $2 AND queue_partition = $3 AND message_id >= $4 AND message_id <= $5`, "message_id", 6)
)

// GetLastEnqueuedMessageIDForUpdate finds the last message id of a queue and locks that
// row FOR UPDATE by its key (upstream locks a range through a sub-select). Two enqueuers
// that read the same last id then insert the same next id: the second fails on the key.
func (o ops) GetLastEnqueuedMessageIDForUpdate(ctx context.Context, queueType persistence.QueueType) (int64, error) {
	var id int64
	if err := o.q.GetContext(ctx, &id, lastMessageIDQry, queueType); err != nil {
		return 0, err
	}
	var locked int64
	err := o.q.GetContext(ctx, &locked, lockMessageIDQry, queueType, id)
	return locked, err
}

// GetLastEnqueuedMessageIDForUpdateV2 is GetLastEnqueuedMessageIDForUpdate for queue v2.
func (o ops) GetLastEnqueuedMessageIDForUpdateV2(ctx context.Context, filter sqlplugin.QueueV2Filter) (int64, error) {
	var id int64
	if err := o.q.GetContext(ctx, &id, lastMessageIDV2Qry, filter.QueueType, filter.QueueName, filter.Partition); err != nil {
		return 0, err
	}
	var locked int64
	err := o.q.GetContext(ctx, &locked, lockMessageIDV2Qry, filter.QueueType, filter.QueueName, filter.Partition, id)
	return locked, err
}

// RangeDeleteFromMessages deletes messages (MinMessageID, MaxMessageID] in chunks.
func (o ops) RangeDeleteFromMessages(ctx context.Context, filter sqlplugin.QueueMessagesRangeFilter) (sql.Result, error) {
	return o.chunked(ctx, 0, func(n int) (sql.Result, error) {
		return o.q.ExecContext(ctx, rangeDeleteMessagesQry, filter.QueueType, filter.MinMessageID, filter.MaxMessageID, n)
	})
}

// RangeDeleteFromQueueV2Messages deletes messages [MinMessageID, MaxMessageID] in chunks.
func (o ops) RangeDeleteFromQueueV2Messages(ctx context.Context, filter sqlplugin.QueueV2MessagesFilter) (sql.Result, error) {
	return o.chunked(ctx, 0, func(n int) (sql.Result, error) {
		return o.q.ExecContext(ctx, rangeDeleteMessagesV2Qry, filter.QueueType, filter.QueueName, filter.Partition, filter.MinMessageID, filter.MaxMessageID, n)
	})
}

// --- chunked range deletes ----------------------------------------------------------------

type rowsResult int64

func (r rowsResult) LastInsertId() (int64, error) {
	return 0, errors.New("dsql: LastInsertId is not supported")
}
func (r rowsResult) RowsAffected() (int64, error) { return int64(r), nil }

// chunked runs del (which deletes at most n rows) until it deletes fewer than a full
// chunk, or until limit rows are gone (limit 0: no limit). Each chunk is its own statement
// (its own transaction outside a transaction), so none changes more than 3,000 rows.
func (o ops) chunked(ctx context.Context, limit int, del func(n int) (sql.Result, error)) (sql.Result, error) {
	size := o.chunkSize
	if size <= 0 || size > maxRowsPerStatement {
		size = maxRowsPerStatement
	}
	var total int64
	for {
		n := size
		if limit > 0 && limit-int(total) < n {
			n = limit - int(total)
		}
		if n <= 0 {
			return rowsResult(total), nil
		}
		res, err := del(n)
		if err != nil {
			return nil, err
		}
		affected, err := res.RowsAffected()
		if err != nil {
			return nil, err
		}
		total += affected
		if affected < int64(n) {
			return rowsResult(total), nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

var (
	rangeDeleteImmediateTasksQry = boundedDeleteQry("history_immediate_tasks", `shard_id = $1 AND category_id = $2 AND task_id >= $3 AND task_id < $4`, "task_id", 5)
	rangeDeleteScheduledTasksQry = boundedDeleteQry("history_scheduled_tasks", `shard_id = $1 AND category_id = $2 AND visibility_timestamp >= $3 AND visibility_timestamp < $4`, "visibility_timestamp, task_id", 5)
	rangeDeleteTransferTasksQry  = boundedDeleteQry("transfer_tasks", `shard_id = $1 AND task_id >= $2 AND task_id < $3`, "task_id", 4)
	rangeDeleteTimerTasksQry     = boundedDeleteQry("timer_tasks", `shard_id = $1 AND visibility_timestamp >= $2 AND visibility_timestamp < $3`, "visibility_timestamp, task_id", 4)
	rangeDeleteReplicationQry    = boundedDeleteQry("replication_tasks", `shard_id = $1 AND task_id >= $2 AND task_id < $3`, "task_id", 4)
	rangeDeleteReplicationDLQQry = boundedDeleteQry("replication_tasks_dlq", `source_cluster_name = $1 AND shard_id = $2 AND task_id >= $3 AND task_id < $4`, "task_id", 5)
	rangeDeleteVisibilityQry     = boundedDeleteQry("visibility_tasks", `shard_id = $1 AND task_id >= $2 AND task_id < $3`, "task_id", 4)
	rangeDeleteHistoryNodesQry   = boundedDeleteQry("history_node", `shard_id = $1 AND tree_id = $2 AND branch_id = $3 AND node_id >= $4`, "node_id, txn_id", 5)
)

// RangeDeleteFromHistoryImmediateTasks deletes [min, max) task ids in chunks.
func (o ops) RangeDeleteFromHistoryImmediateTasks(ctx context.Context, f sqlplugin.HistoryImmediateTasksRangeFilter) (sql.Result, error) {
	return o.chunked(ctx, 0, func(n int) (sql.Result, error) {
		return o.q.ExecContext(ctx, rangeDeleteImmediateTasksQry, f.ShardID, f.CategoryID, f.InclusiveMinTaskID, f.ExclusiveMaxTaskID, n)
	})
}

// RangeDeleteFromHistoryScheduledTasks deletes [min, max) visibility timestamps in chunks.
func (o ops) RangeDeleteFromHistoryScheduledTasks(ctx context.Context, f sqlplugin.HistoryScheduledTasksRangeFilter) (sql.Result, error) {
	return o.chunked(ctx, 0, func(n int) (sql.Result, error) {
		return o.q.ExecContext(ctx, rangeDeleteScheduledTasksQry, f.ShardID, f.CategoryID, f.InclusiveMinVisibilityTimestamp, f.ExclusiveMaxVisibilityTimestamp, n)
	})
}

// RangeDeleteFromTransferTasks deletes [min, max) task ids in chunks.
func (o ops) RangeDeleteFromTransferTasks(ctx context.Context, f sqlplugin.TransferTasksRangeFilter) (sql.Result, error) {
	return o.chunked(ctx, 0, func(n int) (sql.Result, error) {
		return o.q.ExecContext(ctx, rangeDeleteTransferTasksQry, f.ShardID, f.InclusiveMinTaskID, f.ExclusiveMaxTaskID, n)
	})
}

// RangeDeleteFromTimerTasks deletes [min, max) visibility timestamps in chunks.
func (o ops) RangeDeleteFromTimerTasks(ctx context.Context, f sqlplugin.TimerTasksRangeFilter) (sql.Result, error) {
	return o.chunked(ctx, 0, func(n int) (sql.Result, error) {
		return o.q.ExecContext(ctx, rangeDeleteTimerTasksQry, f.ShardID, f.InclusiveMinVisibilityTimestamp, f.ExclusiveMaxVisibilityTimestamp, n)
	})
}

// RangeDeleteFromReplicationTasks deletes [min, max) task ids in chunks.
func (o ops) RangeDeleteFromReplicationTasks(ctx context.Context, f sqlplugin.ReplicationTasksRangeFilter) (sql.Result, error) {
	return o.chunked(ctx, 0, func(n int) (sql.Result, error) {
		return o.q.ExecContext(ctx, rangeDeleteReplicationQry, f.ShardID, f.InclusiveMinTaskID, f.ExclusiveMaxTaskID, n)
	})
}

// RangeDeleteFromReplicationDLQTasks deletes [min, max) task ids in chunks.
func (o ops) RangeDeleteFromReplicationDLQTasks(ctx context.Context, f sqlplugin.ReplicationDLQTasksRangeFilter) (sql.Result, error) {
	return o.chunked(ctx, 0, func(n int) (sql.Result, error) {
		return o.q.ExecContext(ctx, rangeDeleteReplicationDLQQry, f.SourceClusterName, f.ShardID, f.InclusiveMinTaskID, f.ExclusiveMaxTaskID, n)
	})
}

// RangeDeleteFromVisibilityTasks deletes [min, max) task ids in chunks.
func (o ops) RangeDeleteFromVisibilityTasks(ctx context.Context, f sqlplugin.VisibilityTasksRangeFilter) (sql.Result, error) {
	return o.chunked(ctx, 0, func(n int) (sql.Result, error) {
		return o.q.ExecContext(ctx, rangeDeleteVisibilityQry, f.ShardID, f.InclusiveMinTaskID, f.ExclusiveMaxTaskID, n)
	})
}

// RangeDeleteFromHistoryNode deletes a branch's nodes from MinNodeID on, in chunks.
func (o ops) RangeDeleteFromHistoryNode(ctx context.Context, f sqlplugin.HistoryNodeDeleteFilter) (sql.Result, error) {
	return o.chunked(ctx, 0, func(n int) (sql.Result, error) {
		return o.q.ExecContext(ctx, rangeDeleteHistoryNodesQry, f.ShardID, f.TreeID, f.BranchID, f.MinNodeID, n)
	})
}
