package persistencetest

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	enumsspb "go.temporal.io/server/api/enums/v1"
	persistencespb "go.temporal.io/server/api/persistence/v1"
	"go.temporal.io/server/chasm"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/serialization"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/service/history/tasks"

	"temporal-dsql/server/dsql"
)

// withFence copies cfg with pipeline and deferFence set and one connection (round trips are
// counted on one warm connection).
func withFence(cfg *config.SQL, pipeline, deferFence bool) *config.SQL {
	c := *withPipeline(cfg, pipeline)
	c.ConnectAttributes = maps.Clone(c.ConnectAttributes)
	c.ConnectAttributes["deferFence"] = map[bool]string{true: "on", false: "off"}[deferFence]
	return &c
}

func fenceBlob(s string) *commonpb.DataBlob {
	return &commonpb.DataBlob{EncodingType: enumspb.ENCODING_TYPE_PROTO3, Data: []byte(s)}
}

// fencedOp is one of upstream's fenced store operations, run against a store with a given
// expected range_id; stored reports whether its write landed.
type fencedOp struct {
	name   string
	run    func(ctx context.Context, s persistence.ExecutionStore, shard int32, rangeID int64, id string) error
	stored func(ctx context.Context, t *testing.T, db sqlplugin.DB, shard int32, id string) bool
}

var fencedOps = []fencedOp{
	{
		// The fence's failure surfaces at the first read after it (the current-execution lock).
		name: "CreateWorkflowExecution",
		run: func(ctx context.Context, s persistence.ExecutionStore, shard int32, rangeID int64, id string) error {
			runID := uuid.NewString()
			state := &persistencespb.WorkflowExecutionState{
				CreateRequestId: uuid.NewString(), RunId: runID,
				State: enumsspb.WORKFLOW_EXECUTION_STATE_CREATED, Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
			}
			_, err := s.CreateWorkflowExecution(ctx, &persistence.InternalCreateWorkflowExecutionRequest{
				ShardID: shard, RangeID: rangeID, Mode: persistence.CreateWorkflowModeBrandNew, ArchetypeID: chasm.WorkflowArchetypeID,
				NewWorkflowSnapshot: persistence.InternalWorkflowSnapshot{
					NamespaceID: fenceNamespace, WorkflowID: "wf-" + id, RunID: runID,
					ExecutionInfoBlob: fenceBlob("info"), ExecutionState: state, ExecutionStateBlob: fenceBlob("state"),
					NextEventID: 2, DBRecordVersion: 1,
				},
			})
			return err
		},
		stored: func(ctx context.Context, t *testing.T, db sqlplugin.DB, shard int32, id string) bool {
			rows, err := db.SelectFromCurrentExecutions(ctx, sqlplugin.CurrentExecutionsFilter{
				ShardID: shard, NamespaceID: primitives.MustParseUUID(fenceNamespace), WorkflowID: "wf-" + id, ArchetypeID: chasm.WorkflowArchetypeID,
			})
			if errors.Is(err, stdsql.ErrNoRows) {
				return false
			}
			if err != nil {
				t.Fatal(err)
			}
			return rows != nil
		},
	},
	{
		// Only deferred writes follow the fence: its failure surfaces at COMMIT.
		name: "AddHistoryTasks",
		run: func(ctx context.Context, s persistence.ExecutionStore, shard int32, rangeID int64, id string) error {
			return s.AddHistoryTasks(ctx, &persistence.InternalAddHistoryTasksRequest{
				ShardID: shard, RangeID: rangeID, NamespaceID: fenceNamespace, WorkflowID: "wf-" + id,
				Tasks: map[tasks.Category][]persistence.InternalHistoryTask{
					tasks.CategoryTransfer: {{Key: tasks.NewImmediateKey(taskIDOf(id)), Blob: fenceBlob("t")}},
				},
			})
		},
		stored: func(ctx context.Context, t *testing.T, db sqlplugin.DB, shard int32, id string) bool {
			rows, err := db.RangeSelectFromTransferTasks(ctx, sqlplugin.TransferTasksRangeFilter{ShardID: shard, InclusiveMinTaskID: taskIDOf(id), ExclusiveMaxTaskID: taskIDOf(id) + 1, PageSize: 10})
			if err != nil {
				t.Fatal(err)
			}
			return len(rows) == 1
		},
	},
}

const fenceNamespace = "6f1e1c5e-0b7a-4d2e-9d53-2f1a4c3b2a10"

// taskIDOf turns a case id ("<n>-...") into a distinct task id.
func taskIDOf(id string) int64 {
	var n int64
	_, _ = fmt.Sscanf(id, "%d-", &n)
	return 1000 + n
}

// TestDeferredFenceMapsToUpstreamError is the table test of the fence checked in the batch: a
// stale RangeID (the shard's row says 5, the request 4) and a missing shard row fail upstream's
// fenced operations with exactly the error upstream's store returns by itself (the oracle:
// upstream's store on the plugin without the wrapper and without pipelining, i.e. the read
// compared in Go), same type and fields, with pipelining on and off and deferFence on and off,
// on PostgreSQL and dsql-local; nothing of the failed write is stored; the current RangeID
// writes.
func TestDeferredFenceMapsToUpstreamError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	forEachBackend(t, func(t *testing.T, b backend) {
		base := b.fresh(t)
		const shard, missingShard = int32(51), int32(59)
		setup := newDB(t, withPipeline(base, false))
		if _, err := setup.InsertIntoShards(ctx, &sqlplugin.ShardsRow{ShardID: shard, RangeID: 5, Data: []byte("s"), DataEncoding: "Proto3"}); err != nil {
			t.Fatal(err)
		}
		oracleStore, err := sql.NewSQLExecutionStore(setup, log.NewTestLogger(), serialization.NewSerializer())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		next := func() string { n++; return fmt.Sprintf("%d-%s", n, uuid.NewString()) }
		for _, op := range fencedOps {
			// What upstream returns today, for each bad case.
			oracleStale := op.run(ctx, oracleStore, shard, 4, next())
			oracleMissing := op.run(ctx, oracleStore, missingShard, 4, next())
			var lost *persistence.ShardOwnershipLostError
			if !errors.As(oracleStale, &lost) || lost.ShardID != shard || lost.Msg != "Failed to lock shard. Previous range ID: 4; new range ID: 5" {
				t.Fatalf("%s oracle (upstream alone): stale range = %T %v; the premise of this test changed", op.name, oracleStale, oracleStale)
			}
			var unavailable *serviceerror.Unavailable
			if !errors.As(oracleMissing, &unavailable) || unavailable.Message != fmt.Sprintf("Failed to lock shard with ID %d that does not exist.", missingShard) {
				t.Fatalf("%s oracle (upstream alone): missing shard = %T %v; the premise of this test changed", op.name, oracleMissing, oracleMissing)
			}
			for _, mode := range []struct{ pipeline, deferFence bool }{{true, true}, {true, false}, {false, true}} {
				name := fmt.Sprintf("%s/pipeline=%v/deferFence=%v", op.name, mode.pipeline, mode.deferFence)
				t.Run(name, func(t *testing.T) {
					db := newDB(t, withFence(base, mode.pipeline, mode.deferFence))
					upstream, err := sql.NewSQLExecutionStore(db, log.NewTestLogger(), serialization.NewSerializer())
					if err != nil {
						t.Fatal(err)
					}
					store := dsql.WrapExecutionStore(upstream, nil, nil)
					for _, c := range []struct {
						what    string
						shard   int32
						rangeID int64
						want    error
					}{
						{"stale range_id", shard, 4, oracleStale},
						{"missing shard row", missingShard, 4, oracleMissing},
						{"current range_id", shard, 5, nil},
					} {
						id := next()
						err := op.run(ctx, store, c.shard, c.rangeID, id)
						if c.want == nil {
							if err != nil {
								t.Fatalf("%s: %v", c.what, err)
							}
							if !op.stored(ctx, t, db, c.shard, id) {
								t.Fatalf("%s: the write is not stored", c.what)
							}
							continue
						}
						if fmt.Sprintf("%T", err) != fmt.Sprintf("%T", c.want) || err.Error() != c.want.Error() {
							t.Fatalf("%s: got %T %q, want upstream's %T %q", c.what, err, err, c.want, c.want)
						}
						if got, ok := err.(*persistence.ShardOwnershipLostError); ok && got.ShardID != c.want.(*persistence.ShardOwnershipLostError).ShardID {
							t.Fatalf("%s: ShardID %d, want %d", c.what, got.ShardID, c.want.(*persistence.ShardOwnershipLostError).ShardID)
						}
						if op.stored(ctx, t, db, c.shard, id) {
							t.Fatalf("%s: the fenced write was stored", c.what)
						}
					}
				})
			}
		}
	})
}

// TestDeferredFenceSavesARoundTrip counts, with dsql-local's accounting, the round trips of one
// fenced store call through the wired store: deferFence on takes exactly one fewer than off
// (the fence's own round trip), for each fenced operation, with the same statements run
// (plus the check).
func TestDeferredFenceSavesARoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := dsqlLocalBackend()
	base := b.fresh(t)
	d := startDSQLLocal(t)
	const shard = int32(61)
	setup := newDB(t, withPipeline(base, false))
	if _, err := setup.InsertIntoShards(ctx, &sqlplugin.ShardsRow{ShardID: shard, RangeID: 3, Data: []byte("s"), DataEncoding: "Proto3"}); err != nil {
		t.Fatal(err)
	}
	n := 100
	for _, op := range fencedOps {
		trips := map[bool]int64{}
		for _, on := range []bool{false, true} {
			db := newDB(t, withFence(base, true, on))
			upstream, err := sql.NewSQLExecutionStore(db, log.NewTestLogger(), serialization.NewSerializer())
			if err != nil {
				t.Fatal(err)
			}
			store := dsql.WrapExecutionStore(upstream, nil, nil)
			// Warm the connection's statement cache first.
			n++
			if err := op.run(ctx, store, shard, 3, fmt.Sprintf("%d-warm", n)); err != nil {
				t.Fatal(err)
			}
			n++
			id := fmt.Sprintf("%d-%s", n, uuid.NewString())
			delta, err := statsDelta(t, ctx, d, func() error { return op.run(ctx, store, shard, 3, id) })
			if err != nil {
				t.Fatalf("%s deferFence=%v: %v", op.name, on, err)
			}
			if delta.Commits != 1 {
				t.Fatalf("%s deferFence=%v: %d commits, want 1", op.name, on, delta.Commits)
			}
			trips[on] = delta.RoundTrips
			t.Logf("%s deferFence=%v: %d round trips, %d statements", op.name, on, delta.RoundTrips, delta.Statements)
		}
		if trips[true] != trips[false]-1 {
			t.Errorf("%s: %d round trips with the fence in the batch, %d with the fence read; want exactly one fewer", op.name, trips[true], trips[false])
		}
	}
}

// TestDeferredFenceConcurrentTakeover: two real transactions on dsql-local. A, the stale
// owner, runs a fenced write with the fence in its batch (expected range_id 1); B, the new
// owner, bumps range_id to 2 and commits. Whether B commits before A's batch is sent (A's check
// sees 2 in its snapshot and fails) or after A's batch locked the shard row (DSQL: the row is
// in A's write set, first committer wins; dsql-local fails A, the holder, at once and B does
// not wait), A never commits and nothing of A's write is stored. PostgreSQL runs the first
// order only (there B would wait for A's row lock, which is not DSQL's behaviour).
func TestDeferredFenceConcurrentTakeover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	forEachBackend(t, func(t *testing.T, b backend) {
		base := b.fresh(t)
		db := newDB(t, withFence(base, true, true))
		bump := newDB(t, withPipeline(base, false))
		for i, order := range []string{"B commits before A's batch", "B commits after A's batch locked the row"} {
			if b.name == "postgres" && i == 1 {
				continue
			}
			t.Run(order, func(t *testing.T) {
				f := newPipelineFixture(t, ctx, db, int32(71+i))
				actx := dsql.WithShardFence(ctx, f.shardID, 1)
				tx, err := db.BeginTx(actx)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = tx.Rollback() }()
				takeover := func() {
					done := make(chan error, 1)
					go func() {
						_, err := bump.UpdateShards(ctx, &sqlplugin.ShardsRow{ShardID: f.shardID, RangeID: 2, Data: []byte("s"), DataEncoding: "Proto3"})
						done <- err
					}()
					select {
					case err := <-done:
						if err != nil {
							t.Fatalf("B's takeover: %v", err)
						}
					case <-time.After(20 * time.Second):
						t.Fatal("B's takeover waited for the stale owner")
					}
				}
				if i == 0 {
					takeover()
				}
				got, err := tx.ReadLockShards(actx, sqlplugin.ShardsFilter{ShardID: f.shardID})
				if err != nil || got != 1 {
					t.Fatalf("A's deferred fence returned %d, %v; want the expected 1 at once", got, err)
				}
				if _, err := tx.InsertIntoTransferTasks(actx, []sqlplugin.TransferTasksRow{{ShardID: f.shardID, TaskID: 9, Data: []byte("a"), DataEncoding: "Proto3"}}); err != nil {
					t.Fatal(err)
				}
				var flushErr error
				if i == 1 {
					// A's batch (BEGIN, lock, check, insert, this read) goes out; then B.
					if _, flushErr = tx.RangeSelectFromTransferTasks(actx, sqlplugin.TransferTasksRangeFilter{ShardID: f.shardID, InclusiveMinTaskID: 0, ExclusiveMaxTaskID: 100, PageSize: 10}); flushErr != nil {
						t.Fatalf("A's batch before the takeover: %v", flushErr)
					}
					takeover()
				}
				commitErr := tx.Commit()
				if commitErr == nil {
					t.Fatal("the stale owner's write committed")
				}
				t.Logf("A's COMMIT: %v", commitErr)
				if i == 1 && !dsql.IsConflict(commitErr) {
					t.Fatalf("A's COMMIT = %v, want SQLSTATE 40001 (first committer wins)", commitErr)
				}
				rows, err := db.RangeSelectFromTransferTasks(ctx, sqlplugin.TransferTasksRangeFilter{ShardID: f.shardID, InclusiveMinTaskID: 0, ExclusiveMaxTaskID: 100, PageSize: 10})
				if err != nil || len(rows) != 0 {
					t.Fatalf("transfer tasks of the stale owner: %d, %v; want none", len(rows), err)
				}
				s, err := db.SelectFromShards(ctx, sqlplugin.ShardsFilter{ShardID: f.shardID})
				if err != nil || s.RangeID != 2 {
					t.Fatalf("shard after the takeover: %+v, %v; want range_id 2", s, err)
				}
			})
		}
	})
}
