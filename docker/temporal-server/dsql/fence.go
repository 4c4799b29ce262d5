package dsql

// The shard fence checked by the database inside the pipelined batch (issue 29, item 1).
//
// Every fenced execution write of upstream's SQL store (CreateWorkflowExecution,
// UpdateWorkflowExecution, ConflictResolveWorkflowExecution, SetWorkflowExecution,
// AddHistoryTasks: the callers of sqlExecutionStore.txExecuteShardLocked) starts its transaction
// with readLockShard: tx.ReadLockShards reads the shard row's range_id (FOR UPDATE here) and
// upstream compares it in Go with the request's RangeID, returning ShardOwnershipLostError when
// they differ. The read is a round trip the transaction waits for before anything else.
//
// FencedExecutionStore knows the request's ShardID and RangeID. It hands them to the plugin as a
// call-scoped mark (a *shardFence made for that call only, in the context upstream passes on to
// tx.ReadLockShards). When the transaction is pipelined and the mark names the shard being
// read, tx.ReadLockShards queues two statements instead of reading:
//
//   - lockShardForUpdateQry, the same top-level single-row SELECT ... FOR UPDATE as before (the
//     shard row joins the transaction's write set: DSQL's commit-time fence);
//   - fenceCheckQry, a plain aggregate read of the same row that fails the transaction (a cast
//     of a text to BIGINT) unless exactly one row with the expected range_id is in the
//     transaction's snapshot; the text carries the row count and the actual range_id;
//
// and returns the expected range_id at once, so upstream's comparison passes and its writes are
// queued behind the two. If the check fails, the statement that sends the queue (the next read
// or COMMIT) fails; the connection records the failure in the mark (pipeline.go), and
// FencedExecutionStore returns exactly what upstream's readLockShard returns today:
// *persistence.ShardOwnershipLostError{ShardID, Msg: "Failed to lock shard. Previous range ID:
// <expected>; new range ID: <actual>"}, or for a missing row serviceerror.Unavailable "Failed
// to lock shard with ID <id> that does not exist.". Nothing of the transaction is stored: the
// check failed before any write ran, and the aborted transaction cannot commit.
//
// Without the mark (another caller), with pipelining off, or with connectAttributes
// deferFence=off, tx.ReadLockShards reads and upstream compares as before. The same store also
// marks the execution rows it expects (rowcheck.go).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
)

// fenceCheckQry fails (SQLSTATE 22P02, invalid input syntax for type bigint) unless the shard
// row $1 exists once with range_id $2; the failing text names the row count and the actual
// range_id. The ELSE branch depends on the aggregates, so the planner cannot fold it to an
// error. A plain read: no locking clause next to the aggregate (lockShardForUpdateQry locks).
const fenceCheckQry = `SELECT CASE WHEN count(*) = 1 AND max(range_id) = $2 THEN 0 ELSE ` +
	`('dsql shard fence: rows ' || count(*)::text || ', range_id ' || COALESCE(max(range_id)::text, 'none'))::bigint END ` +
	`FROM shards WHERE shard_id = $1`

// fenceFailure matches the text fenceCheckQry casts when the check fails.
var fenceFailure = regexp.MustCompile(`dsql shard fence: rows (\d+), range_id (-?\d+|none)`)

// Upstream's texts (common/persistence/sql/shard.go readLockShard, pinned by
// internal/upstreamguard).
const (
	// ShardFenceLostMsg is readLockShard's ShardOwnershipLostError.Msg: expected, then actual.
	ShardFenceLostMsg = "Failed to lock shard. Previous range ID: %v; new range ID: %v"
	// ShardFenceMissingMsg is readLockShard's Unavailable message for a missing shard row.
	ShardFenceMissingMsg = "Failed to lock shard with ID %v that does not exist."
)

type shardFenceKey struct{}

// shardFence is one fenced store call's expectation (shard, expected range_id) and, once the
// connection saw the check fail, the outcome (rows found, actual range_id).
type shardFence struct {
	shard    int32
	expected int64

	mu      sync.Mutex
	claimed bool
	failed  bool
	rows    int64
	actual  int64
}

// withShardFence marks ctx for one fenced store call.
func withShardFence(ctx context.Context, shard int32, expected int64) (context.Context, *shardFence) {
	f := &shardFence{shard: shard, expected: expected}
	return context.WithValue(ctx, shardFenceKey{}, f), f
}

// WithShardFence returns ctx marked for one fenced write of shard with the expected range_id,
// as FencedExecutionStore marks each fenced store call: a pipelined transaction of the plugin
// begun under it checks the fence in its batch (tx.ReadLockShards). For tests that drive the
// plugin's transactions directly; the server marks only through FencedExecutionStore.
func WithShardFence(ctx context.Context, shard int32, expected int64) context.Context {
	ctx, _ = withShardFence(ctx, shard, expected)
	return ctx
}

func fenceOf(ctx context.Context) *shardFence {
	f, _ := ctx.Value(shardFenceKey{}).(*shardFence)
	return f
}

// deferredCheck is a check queued in the pipelined batch (a *shardFence, an
// *executionExpectation): the connection hands it the error of each of its statements.
type deferredCheck interface{ observe(err error) }

type checkStatementKey struct{}

// withCheckStatement marks ctx for the statements of one deferred check only (not the call's
// other statements, which carry the call's mark too): the connection records their failure
// in c.
func withCheckStatement(ctx context.Context, c deferredCheck) context.Context {
	return context.WithValue(ctx, checkStatementKey{}, c)
}

// checkStatement returns the check whose statement ctx marks, or nil.
func checkStatement(ctx context.Context) deferredCheck {
	c, _ := ctx.Value(checkStatementKey{}).(deferredCheck)
	return c
}

// claim reports whether this mark may defer the fence of shard: it names that shard and has
// not been used yet (one fence per call).
func (f *shardFence) claim(shard int32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.claimed || f.shard != shard {
		return false
	}
	f.claimed = true
	return true
}

// parseFenceFailure returns the rows and actual range_id from a failed fenceCheckQry's error.
func parseFenceFailure(err error) (rows, actual int64, ok bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "22P02" {
		return 0, 0, false
	}
	m := fenceFailure.FindStringSubmatch(pe.Message)
	if m == nil {
		return 0, 0, false
	}
	rows, _ = strconv.ParseInt(m[1], 10, 64)
	if m[2] != "none" {
		actual, _ = strconv.ParseInt(m[2], 10, 64)
	}
	return rows, actual, true
}

// observe records a deferred fence statement's failure when it is the check's (called by the
// connection, pipeline.go). Other failures (a conflict at the lock, a lost connection) are
// left to upstream's handling, as today.
func (f *shardFence) observe(err error) {
	rows, actual, ok := parseFenceFailure(err)
	if !ok {
		return
	}
	f.mu.Lock()
	f.failed, f.rows, f.actual = true, rows, actual
	f.mu.Unlock()
}

// err is the error upstream's readLockShard returns for the recorded failure, or nil.
func (f *shardFence) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !f.failed:
		return nil
	case f.rows == 0:
		return serviceerror.NewUnavailablef(ShardFenceMissingMsg, f.shard)
	default:
		return &persistence.ShardOwnershipLostError{ShardID: f.shard, Msg: fmt.Sprintf(ShardFenceLostMsg, f.expected, f.actual)}
	}
}

// ReadLockShards is the fencing read (ops.ReadLockShards), or, in a pipelined transaction of a
// fenced store call (FencedExecutionStore) with deferFence on, the deferred fence: the lock
// and the check are queued and the expected range_id is returned at once (see the file
// comment). If the statements ran at once after all (the connection did not pipeline), their
// outcome is returned as the read's: the actual range_id for a failed check (upstream then
// builds its own ShardOwnershipLostError), sql.ErrNoRows for a missing row.
func (t *tx) ReadLockShards(ctx context.Context, filter sqlplugin.ShardsFilter) (int64, error) {
	f := fenceOf(ctx)
	if !t.deferFence || f == nil || !f.claim(filter.ShardID) {
		return t.ops.ReadLockShards(ctx, filter)
	}
	dctx := withCheckStatement(withDeferral(ctx, unknownRows), f)
	for _, stmt := range []struct {
		qry  string
		args []any
	}{
		{lockShardForUpdateQry, []any{filter.ShardID}},
		{fenceCheckQry, []any{filter.ShardID, f.expected}},
	} {
		if _, err := t.ops.q.ExecContext(dctx, stmt.qry, stmt.args...); err != nil {
			if rows, actual, ok := parseFenceFailure(err); ok {
				if rows == 0 {
					return 0, sql.ErrNoRows
				}
				return actual, nil
			}
			return 0, err
		}
	}
	return f.expected, nil
}

// FencedExecutionStore marks each fenced write (the five requests that carry ShardID and
// RangeID and run in upstream's txExecuteShardLocked) with its expected range_id, so that the
// plugin's transaction may check the fence inside the pipelined batch, and maps a failed check
// back to upstream's own error (see the file comment). Every other method is the wrapped
// store's. WrapExecutionStore wires it directly over upstream's store.
type FencedExecutionStore struct {
	persistence.ExecutionStore
}

// NewFencedExecutionStore wraps s.
func NewFencedExecutionStore(s persistence.ExecutionStore) *FencedExecutionStore {
	return &FencedExecutionStore{ExecutionStore: s}
}

// fenced runs call with a fence mark for (shard, rangeID) and the execution-check marks of runs
// (rowcheck.go), and returns upstream's error for a failed deferred check (the fence's first:
// it is queued first, and its failure aborts the transaction before any later check runs),
// else call's own error.
func fenced(ctx context.Context, shard int32, rangeID int64, runs []runCondition, cur *currentExpectation, call func(context.Context) error) error {
	ctx, f := withShardFence(ctx, shard, rangeID)
	var checks executionChecks
	if len(runs) > 0 {
		ctx, checks = withExecutionChecks(ctx, shard, runs)
	}
	if cur != nil {
		ctx = context.WithValue(ctx, currentCheckKey{}, cur)
	}
	err := call(ctx)
	if err != nil {
		if ferr := f.err(); ferr != nil {
			return ferr
		}
		// The current row is locked before any execution row (upstream's order), so its check
		// is queued first; a failure aborts the rest.
		if cerr := cur.err(ctx); cerr != nil {
			return cerr
		}
		if cerr := checks.err(); cerr != nil {
			return cerr
		}
	}
	return err
}

// CreateWorkflowExecution is the wrapped store's, fenced in the batch.
func (s *FencedExecutionStore) CreateWorkflowExecution(ctx context.Context, r *persistence.InternalCreateWorkflowExecutionRequest) (*persistence.InternalCreateWorkflowExecutionResponse, error) {
	var resp *persistence.InternalCreateWorkflowExecutionResponse
	err := fenced(ctx, r.ShardID, r.RangeID, nil, nil, func(ctx context.Context) error {
		var err error
		resp, err = s.ExecutionStore.CreateWorkflowExecution(ctx, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// UpdateWorkflowExecution is the wrapped store's, fenced in the batch, with the condition of
// the updated run (UpdateWorkflowMutation) checked in the batch too (rowcheck.go).
func (s *FencedExecutionStore) UpdateWorkflowExecution(ctx context.Context, r *persistence.InternalUpdateWorkflowExecutionRequest) error {
	runs := []runCondition{mutationCondition(&r.UpdateWorkflowMutation)}
	var cur *currentExpectation
	if r.Mode == persistence.UpdateWorkflowModeUpdateCurrent {
		m := &r.UpdateWorkflowMutation
		cur = newCurrentExpectation(r.ShardID, m.NamespaceID, m.WorkflowID, r.ArchetypeID, m.ExecutionState.GetRunId())
	}
	return fenced(ctx, r.ShardID, r.RangeID, runs, cur, func(ctx context.Context) error {
		return s.ExecutionStore.UpdateWorkflowExecution(ctx, r)
	})
}

// ConflictResolveWorkflowExecution is the wrapped store's, fenced in the batch, with the
// conditions of the reset run and of the current run (if any) checked in the batch too.
func (s *FencedExecutionStore) ConflictResolveWorkflowExecution(ctx context.Context, r *persistence.InternalConflictResolveWorkflowExecutionRequest) error {
	runs := []runCondition{snapshotCondition(&r.ResetWorkflowSnapshot)}
	if r.CurrentWorkflowMutation != nil {
		runs = append(runs, mutationCondition(r.CurrentWorkflowMutation))
	}
	var cur *currentExpectation
	if r.Mode == persistence.ConflictResolveWorkflowModeUpdateCurrent {
		reset := &r.ResetWorkflowSnapshot
		prev := reset.ExecutionState.GetRunId()
		if r.CurrentWorkflowMutation != nil {
			prev = r.CurrentWorkflowMutation.ExecutionState.GetRunId()
		}
		cur = newCurrentExpectation(r.ShardID, reset.NamespaceID, reset.WorkflowID, r.ArchetypeID, prev)
	}
	return fenced(ctx, r.ShardID, r.RangeID, runs, cur, func(ctx context.Context) error {
		return s.ExecutionStore.ConflictResolveWorkflowExecution(ctx, r)
	})
}

// SetWorkflowExecution is the wrapped store's, fenced in the batch, with the condition of the
// set run (SetWorkflowSnapshot) checked in the batch too.
func (s *FencedExecutionStore) SetWorkflowExecution(ctx context.Context, r *persistence.InternalSetWorkflowExecutionRequest) error {
	runs := []runCondition{snapshotCondition(&r.SetWorkflowSnapshot)}
	return fenced(ctx, r.ShardID, r.RangeID, runs, nil, func(ctx context.Context) error {
		return s.ExecutionStore.SetWorkflowExecution(ctx, r)
	})
}

// AddHistoryTasks is the wrapped store's, fenced in the batch.
func (s *FencedExecutionStore) AddHistoryTasks(ctx context.Context, r *persistence.InternalAddHistoryTasksRequest) error {
	return fenced(ctx, r.ShardID, r.RangeID, nil, nil, func(ctx context.Context) error {
		return s.ExecutionStore.AddHistoryTasks(ctx, r)
	})
}
