package dsql

import (
	"context"
	"database/sql"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
)

// Matching's task tables key on task_queue_id, a variable-length byte string. DSQL cannot
// key on BYTEA, so the column is TEXT holding EncodeKeyBytes(id) (hex), and these
// statements encode and decode it. Otherwise they are upstream's statements.
const (
	taskQueueCreateQry = `INSERT INTO task_queues_v2 (range_hash, task_queue_id, range_id, data, data_encoding)
 VALUES (:range_hash, :task_queue_id, :range_id, :data, :data_encoding)`
	taskQueueUpdateQry = `UPDATE task_queues_v2 SET range_id = :range_id, data = :data, data_encoding = :data_encoding
 WHERE range_hash = :range_hash AND task_queue_id = :task_queue_id`
	taskQueueSelect           = `SELECT range_hash, task_queue_id, range_id, data, data_encoding FROM task_queues_v2 `
	taskQueueListHashRangeQry = taskQueueSelect + `WHERE range_hash >= $1 AND range_hash <= $2 AND task_queue_id > $3 ORDER BY task_queue_id ASC LIMIT $4`
	taskQueueListQry          = taskQueueSelect + `WHERE range_hash = $1 AND task_queue_id > $2 ORDER BY task_queue_id ASC LIMIT $3`
	taskQueueGetQry           = taskQueueSelect + `WHERE range_hash = $1 AND task_queue_id = $2`
	taskQueueDeleteQry        = `DELETE FROM task_queues_v2 WHERE range_hash = $1 AND task_queue_id = $2 AND range_id = $3`
	taskQueueLockQry          = `SELECT range_id FROM task_queues_v2 WHERE range_hash = $1 AND task_queue_id = $2 FOR UPDATE`

	taskGetMinMaxQry = `SELECT task_id, data, data_encoding FROM tasks
 WHERE range_hash = $1 AND task_queue_id = $2 AND task_id >= $3 AND task_id < $4 ORDER BY task_id LIMIT $5`
	taskGetMinQry = `SELECT task_id, data, data_encoding FROM tasks
 WHERE range_hash = $1 AND task_queue_id = $2 AND task_id >= $3 ORDER BY task_id LIMIT $4`
	taskCreateQry = `INSERT INTO tasks (range_hash, task_queue_id, task_id, data, data_encoding)
 VALUES (:range_hash, :task_queue_id, :task_id, :data, :data_encoding)`

	taskV2GetQry = `SELECT task_id, pass, data, data_encoding FROM tasks_v2
 WHERE range_hash = $1 AND task_queue_id = $2 AND (pass, task_id) >= ($3, $4) ORDER BY pass, task_id`
	taskV2GetLimitQry = taskV2GetQry + ` LIMIT $5`
	taskV2CreateQry   = `INSERT INTO tasks_v2 (range_hash, task_queue_id, task_id, pass, data, data_encoding)
 VALUES (:range_hash, :task_queue_id, :task_id, :task_pass, :data, :data_encoding)`
)

var (
	taskRangeDeleteQry   = boundedDeleteQry("tasks", `range_hash = $1 AND task_queue_id = $2 AND task_id < $3`, "task_id", 4)
	taskV2RangeDeleteQry = boundedDeleteQry("tasks_v2", `range_hash = $1 AND task_queue_id = $2 AND (pass, task_id) < ($3, $4)`, "pass, task_id", 5)
)

type taskQueueRow struct {
	RangeHash    uint32
	TaskQueueID  string
	RangeID      int64
	Data         []byte
	DataEncoding string
}

func (r taskQueueRow) decode() (sqlplugin.TaskQueuesRow, error) {
	id, err := DecodeKeyBytes(r.TaskQueueID)
	return sqlplugin.TaskQueuesRow{RangeHash: r.RangeHash, TaskQueueID: id, RangeID: r.RangeID, Data: r.Data, DataEncoding: r.DataEncoding}, err
}

func encodeTaskQueueRow(r *sqlplugin.TaskQueuesRow) taskQueueRow {
	return taskQueueRow{RangeHash: r.RangeHash, TaskQueueID: EncodeKeyBytes(r.TaskQueueID), RangeID: r.RangeID, Data: r.Data, DataEncoding: r.DataEncoding}
}

// InsertIntoTaskQueues inserts a task queue row.
func (o ops) InsertIntoTaskQueues(ctx context.Context, row *sqlplugin.TaskQueuesRow, v sqlplugin.MatchingTaskVersion) (sql.Result, error) {
	return o.q.NamedExecContext(ctx, sqlplugin.SwitchTaskQueuesTable(taskQueueCreateQry, v), encodeTaskQueueRow(row))
}

// UpdateTaskQueues updates a task queue row.
func (o ops) UpdateTaskQueues(ctx context.Context, row *sqlplugin.TaskQueuesRow, v sqlplugin.MatchingTaskVersion) (sql.Result, error) {
	return o.q.NamedExecContext(ctx, sqlplugin.SwitchTaskQueuesTable(taskQueueUpdateQry, v), encodeTaskQueueRow(row))
}

// SelectFromTaskQueues reads one task queue row, or a page of them (same filter rules as upstream).
func (o ops) SelectFromTaskQueues(ctx context.Context, filter sqlplugin.TaskQueuesFilter, v sqlplugin.MatchingTaskVersion) ([]sqlplugin.TaskQueuesRow, error) {
	var rows []taskQueueRow
	switch {
	case filter.TaskQueueID != nil:
		if filter.RangeHashLessThanEqualTo != 0 || filter.RangeHashGreaterThanEqualTo != 0 {
			return nil, serviceerror.NewInternal("shardID range not supported for specific selection")
		}
		var row taskQueueRow
		if err := o.q.GetContext(ctx, &row, sqlplugin.SwitchTaskQueuesTable(taskQueueGetQry, v), filter.RangeHash, EncodeKeyBytes(filter.TaskQueueID)); err != nil {
			return nil, err
		}
		rows = []taskQueueRow{row}
	case filter.RangeHashLessThanEqualTo != 0 && filter.PageSize != nil:
		if filter.RangeHashLessThanEqualTo < filter.RangeHashGreaterThanEqualTo {
			return nil, serviceerror.NewInternal("range of hashes bound is invalid")
		}
		if err := o.q.SelectContext(ctx, &rows, sqlplugin.SwitchTaskQueuesTable(taskQueueListHashRangeQry, v),
			filter.RangeHashGreaterThanEqualTo, filter.RangeHashLessThanEqualTo, EncodeKeyBytes(filter.TaskQueueIDGreaterThan), *filter.PageSize); err != nil {
			return nil, err
		}
	case filter.TaskQueueIDGreaterThan != nil && filter.PageSize != nil:
		if err := o.q.SelectContext(ctx, &rows, sqlplugin.SwitchTaskQueuesTable(taskQueueListQry, v),
			filter.RangeHash, EncodeKeyBytes(filter.TaskQueueIDGreaterThan), *filter.PageSize); err != nil {
			return nil, err
		}
	default:
		return nil, serviceerror.NewInternal("invalid set of query filter params")
	}
	out := make([]sqlplugin.TaskQueuesRow, len(rows))
	for i, r := range rows {
		d, err := r.decode()
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// DeleteFromTaskQueues deletes a task queue row at the given range id.
func (o ops) DeleteFromTaskQueues(ctx context.Context, filter sqlplugin.TaskQueuesFilter, v sqlplugin.MatchingTaskVersion) (sql.Result, error) {
	if filter.RangeID == nil {
		return nil, serviceerror.NewInternal("missing RangeID parameter")
	}
	return o.q.ExecContext(ctx, sqlplugin.SwitchTaskQueuesTable(taskQueueDeleteQry, v), filter.RangeHash, EncodeKeyBytes(filter.TaskQueueID), *filter.RangeID)
}

// LockTaskQueues reads a task queue's range id FOR UPDATE.
func (o ops) LockTaskQueues(ctx context.Context, filter sqlplugin.TaskQueuesFilter, v sqlplugin.MatchingTaskVersion) (int64, error) {
	var rangeID int64
	err := o.q.GetContext(ctx, &rangeID, sqlplugin.SwitchTaskQueuesTable(taskQueueLockQry, v), filter.RangeHash, EncodeKeyBytes(filter.TaskQueueID))
	return rangeID, err
}

type taskRow struct {
	RangeHash    uint32
	TaskQueueID  string
	TaskID       int64
	Data         []byte
	DataEncoding string
}

// InsertIntoTasks inserts v1 tasks.
func (o ops) InsertIntoTasks(ctx context.Context, rows []sqlplugin.TasksRow) (sql.Result, error) {
	enc := make([]taskRow, len(rows))
	for i, r := range rows {
		enc[i] = taskRow{RangeHash: r.RangeHash, TaskQueueID: EncodeKeyBytes(r.TaskQueueID), TaskID: r.TaskID, Data: r.Data, DataEncoding: r.DataEncoding}
	}
	return o.q.NamedExecContext(ctx, taskCreateQry, enc)
}

// SelectFromTasks reads a page of v1 tasks.
func (o ops) SelectFromTasks(ctx context.Context, filter sqlplugin.TasksFilter) ([]sqlplugin.TasksRow, error) {
	var rows []sqlplugin.TasksRow
	var err error
	if filter.InclusiveMinTaskID == nil || filter.PageSize == nil {
		return nil, serviceerror.NewInternal("missing InclusiveMinTaskID or PageSize parameter")
	}
	if filter.ExclusiveMaxTaskID != nil {
		err = o.q.SelectContext(ctx, &rows, taskGetMinMaxQry, filter.RangeHash, EncodeKeyBytes(filter.TaskQueueID), *filter.InclusiveMinTaskID, *filter.ExclusiveMaxTaskID, *filter.PageSize)
	} else {
		err = o.q.SelectContext(ctx, &rows, taskGetMinQry, filter.RangeHash, EncodeKeyBytes(filter.TaskQueueID), *filter.InclusiveMinTaskID, *filter.PageSize)
	}
	return rows, err
}

// DeleteFromTasks deletes up to Limit v1 tasks below ExclusiveMaxTaskID, in chunks.
func (o ops) DeleteFromTasks(ctx context.Context, filter sqlplugin.TasksFilter) (sql.Result, error) {
	if filter.ExclusiveMaxTaskID == nil {
		return nil, serviceerror.NewInternal("missing ExclusiveMaxTaskID parameter")
	}
	if filter.Limit == nil || *filter.Limit == 0 {
		return nil, serviceerror.NewInternal("missing limit parameter")
	}
	id := EncodeKeyBytes(filter.TaskQueueID)
	return o.chunked(ctx, *filter.Limit, func(n int) (sql.Result, error) {
		return o.q.ExecContext(ctx, taskRangeDeleteQry, filter.RangeHash, id, *filter.ExclusiveMaxTaskID, n)
	})
}

type taskV2Row struct {
	RangeHash    uint32
	TaskQueueID  string
	TaskID       int64
	TaskPass     int64
	Data         []byte
	DataEncoding string
}

// InsertIntoTasksV2 inserts fairness tasks.
func (o ops) InsertIntoTasksV2(ctx context.Context, rows []sqlplugin.TasksRowV2) (sql.Result, error) {
	enc := make([]taskV2Row, len(rows))
	for i, r := range rows {
		enc[i] = taskV2Row{RangeHash: r.RangeHash, TaskQueueID: EncodeKeyBytes(r.TaskQueueID), TaskID: r.TaskID, TaskPass: r.TaskPass, Data: r.Data, DataEncoding: r.DataEncoding}
	}
	return o.q.NamedExecContext(ctx, taskV2CreateQry, enc)
}

type taskV2Selected struct {
	TaskID       int64
	Pass         int64
	Data         []byte
	DataEncoding string
}

// SelectFromTasksV2 reads fairness tasks at or after InclusiveMinLevel.
func (o ops) SelectFromTasksV2(ctx context.Context, filter sqlplugin.TasksFilterV2) ([]sqlplugin.TasksRowV2, error) {
	if filter.InclusiveMinLevel == nil {
		return nil, serviceerror.NewInternal("missing InclusiveMinLevel")
	}
	var rows []taskV2Selected
	var err error
	id := EncodeKeyBytes(filter.TaskQueueID)
	if filter.PageSize != nil {
		err = o.q.SelectContext(ctx, &rows, taskV2GetLimitQry, filter.RangeHash, id, filter.InclusiveMinLevel.TaskPass, filter.InclusiveMinLevel.TaskID, *filter.PageSize)
	} else {
		err = o.q.SelectContext(ctx, &rows, taskV2GetQry, filter.RangeHash, id, filter.InclusiveMinLevel.TaskPass, filter.InclusiveMinLevel.TaskID)
	}
	if err != nil {
		return nil, err
	}
	out := make([]sqlplugin.TasksRowV2, len(rows))
	for i, r := range rows {
		out[i] = sqlplugin.TasksRowV2{FairLevel: sqlplugin.FairLevel{TaskPass: r.Pass, TaskID: r.TaskID}, Data: r.Data, DataEncoding: r.DataEncoding}
	}
	return out, nil
}

// DeleteFromTasksV2 deletes up to Limit fairness tasks below ExclusiveMaxLevel, in chunks.
func (o ops) DeleteFromTasksV2(ctx context.Context, filter sqlplugin.TasksFilterV2) (sql.Result, error) {
	if filter.ExclusiveMaxLevel == nil {
		return nil, serviceerror.NewInternal("missing ExclusiveMaxTaskLevel")
	}
	if filter.Limit == nil || *filter.Limit == 0 {
		return nil, serviceerror.NewInternal("missing limit parameter")
	}
	id := EncodeKeyBytes(filter.TaskQueueID)
	return o.chunked(ctx, *filter.Limit, func(n int) (sql.Result, error) {
		return o.q.ExecContext(ctx, taskV2RangeDeleteQry, filter.RangeHash, id, filter.ExclusiveMaxLevel.TaskPass, filter.ExclusiveMaxLevel.TaskID, n)
	})
}
