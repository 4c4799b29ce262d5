package persistencetest

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/serialization"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/service/history/tasks"

	"temporal-dsql/server/internal/testenv"
)

// withPipeline copies cfg with connectAttributes pipeline=on|off and one connection, so that
// round trips are counted on one warm connection.
func withPipeline(cfg *config.SQL, on bool) *config.SQL {
	c := *cfg
	c.ConnectAttributes = maps.Clone(cfg.ConnectAttributes)
	if c.ConnectAttributes == nil {
		c.ConnectAttributes = map[string]string{}
	}
	c.ConnectAttributes["pipeline"] = map[bool]string{true: "on", false: "off"}[on]
	c.MaxConns = 1
	return &c
}

// statsDelta runs fn and returns how dsql-local's counters of the server role moved meanwhile.
func statsDelta(t *testing.T, ctx context.Context, d *testenv.DSQLLocal, fn func() error) (testenv.RoleStats, error) {
	t.Helper()
	s0, err := d.Stats(ctx, serverRole)
	if err != nil {
		t.Fatal(err)
	}
	ferr := fn()
	s1, err := d.Stats(ctx, serverRole)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.RoleStats{RoundTrips: s1.RoundTrips - s0.RoundTrips, Statements: s1.Statements - s0.Statements, Commits: s1.Commits - s0.Commits}, ferr
}

type pipelineFixture struct {
	shardID int32
	exec    sqlplugin.ExecutionsRow
}

func newPipelineFixture(t *testing.T, ctx context.Context, db sqlplugin.DB, shardID int32) pipelineFixture {
	t.Helper()
	if _, err := db.InsertIntoShards(ctx, &sqlplugin.ShardsRow{ShardID: shardID, RangeID: 1, Data: []byte("s"), DataEncoding: "Proto3"}); err != nil {
		t.Fatal(err)
	}
	row := sqlplugin.ExecutionsRow{
		ShardID: shardID, NamespaceID: primitives.NewUUID(), WorkflowID: "wf-" + uuid.NewString(), RunID: primitives.NewUUID(),
		NextEventID: 1, Data: []byte("d"), DataEncoding: "Proto3", State: []byte("s"), StateEncoding: "Proto3", DBRecordVersion: 1,
	}
	if _, err := db.InsertIntoExecutions(ctx, &row); err != nil {
		t.Fatal(err)
	}
	return pipelineFixture{shardID: shardID, exec: row}
}

// mutate is the shape of upstream's UpdateWorkflowExecution transaction: the shard fence, the
// execution lock, the execution update, two transfer tasks and an activity map row.
func (f pipelineFixture) mutate(ctx context.Context, db sqlplugin.DB, nextEventID, firstTaskID int64) error {
	tx, err := db.BeginTx(ctx)
	if err != nil {
		return err
	}
	fail := func(err error) error { _ = tx.Rollback(); return err }
	if _, err := tx.ReadLockShards(ctx, sqlplugin.ShardsFilter{ShardID: f.shardID}); err != nil {
		return fail(err)
	}
	filter := sqlplugin.ExecutionsFilter{ShardID: f.shardID, NamespaceID: f.exec.NamespaceID, WorkflowID: f.exec.WorkflowID, RunID: f.exec.RunID}
	if _, _, err := tx.WriteLockExecutions(ctx, filter); err != nil {
		return fail(err)
	}
	upd := f.exec
	upd.NextEventID, upd.DBRecordVersion = nextEventID, nextEventID
	res, err := tx.UpdateExecutions(ctx, &upd)
	if err != nil {
		return fail(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fail(errors.Join(err, errors.New("UpdateExecutions did not change one row")))
	}
	res, err = tx.InsertIntoTransferTasks(ctx, []sqlplugin.TransferTasksRow{
		{ShardID: f.shardID, TaskID: firstTaskID, Data: []byte("t1"), DataEncoding: "Proto3"},
		{ShardID: f.shardID, TaskID: firstTaskID + 1, Data: []byte("t2"), DataEncoding: "Proto3"},
	})
	if err != nil {
		return fail(err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 2 {
		return fail(errors.Join(err, errors.New("InsertIntoTransferTasks did not insert two rows")))
	}
	if _, err := tx.ReplaceIntoActivityInfoMaps(ctx, []sqlplugin.ActivityInfoMapsRow{{
		ShardID: f.shardID, NamespaceID: f.exec.NamespaceID, WorkflowID: f.exec.WorkflowID, RunID: f.exec.RunID,
		ScheduleID: nextEventID, Data: []byte("a"), DataEncoding: "Proto3",
	}}); err != nil {
		return fail(err)
	}
	return tx.Commit()
}

// TestPipelinedTransactionRoundTrips pins the round trips of one UpdateWorkflowExecution-shaped
// transaction, counted by dsql-local: 7 without pipelining (BEGIN, five statements, COMMIT),
// 3 with it (BEGIN + shard fence; execution lock; update + tasks + map row + COMMIT). An empty
// transaction costs nothing. The data written is the same either way.
func TestPipelinedTransactionRoundTrips(t *testing.T) {
	b := dsqlLocalBackend()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := b.fresh(t)
	d := startDSQLLocal(t)
	for _, tc := range []struct {
		pipeline   bool
		shard      int32
		roundTrips int64
	}{{false, 21, 7}, {true, 22, 3}} {
		db := newDB(t, withPipeline(base, tc.pipeline))
		f := newPipelineFixture(t, ctx, db, tc.shard)
		// Warm the connection's statement cache (a first use prepares: one more round trip).
		if err := f.mutate(ctx, db, 2, 100); err != nil {
			t.Fatalf("pipeline=%v: warm-up transaction: %v", tc.pipeline, err)
		}
		delta, err := statsDelta(t, ctx, d, func() error { return f.mutate(ctx, db, 3, 200) })
		if err != nil {
			t.Fatalf("pipeline=%v: %v", tc.pipeline, err)
		}
		if got := delta.RoundTrips; got != tc.roundTrips {
			t.Errorf("pipeline=%v: the transaction took %d round trips, want %d", tc.pipeline, got, tc.roundTrips)
		}
		if got := delta.Commits; got != 1 {
			t.Errorf("pipeline=%v: %d commits, want 1", tc.pipeline, got)
		}
		// Same data either way.
		got, err := db.SelectFromExecutions(ctx, sqlplugin.ExecutionsFilter{ShardID: f.shardID, NamespaceID: f.exec.NamespaceID, WorkflowID: f.exec.WorkflowID, RunID: f.exec.RunID})
		if err != nil || got.NextEventID != 3 {
			t.Errorf("pipeline=%v: execution next_event_id %d, %v; want 3", tc.pipeline, got.NextEventID, err)
		}
		tasksGot, err := db.RangeSelectFromTransferTasks(ctx, sqlplugin.TransferTasksRangeFilter{ShardID: f.shardID, InclusiveMinTaskID: 0, ExclusiveMaxTaskID: 1000, PageSize: 10})
		if err != nil || len(tasksGot) != 4 {
			t.Errorf("pipeline=%v: %d transfer tasks, %v; want 4", tc.pipeline, len(tasksGot), err)
		}
		maps, err := db.SelectAllFromActivityInfoMaps(ctx, sqlplugin.ActivityInfoMapsAllFilter{ShardID: f.shardID, NamespaceID: f.exec.NamespaceID, WorkflowID: f.exec.WorkflowID, RunID: f.exec.RunID})
		if err != nil || len(maps) != 2 {
			t.Errorf("pipeline=%v: %d activity map rows, %v; want 2", tc.pipeline, len(maps), err)
		}
		// A transaction that sends nothing costs no round trip when pipelined.
		delta, err = statsDelta(t, ctx, d, func() error {
			tx, err := db.BeginTx(ctx)
			if err != nil {
				return err
			}
			return tx.Commit()
		})
		if err != nil {
			t.Fatal(err)
		}
		want := int64(2)
		if tc.pipeline {
			want = 0
		}
		if got := delta.RoundTrips; got != want {
			t.Errorf("pipeline=%v: an empty transaction took %d round trips, want %d", tc.pipeline, got, want)
		}
	}
}

// TestPipelinedTransactionSemantics: reads see the transaction's queued writes; an UPDATE of a
// row the transaction did not lock is not predicted (its real RowsAffected, 0 for a missing
// row, reaches upstream's check); a RowsAffected nobody predicted is the real count.
func TestPipelinedTransactionSemantics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	forEachBackend(t, func(t *testing.T, b backend) {
		db := newDB(t, withPipeline(b.fresh(t), true))
		f := newPipelineFixture(t, ctx, db, 31)
		tx, err := db.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		if _, err := tx.ReadLockShards(ctx, sqlplugin.ShardsFilter{ShardID: f.shardID}); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.InsertIntoTransferTasks(ctx, []sqlplugin.TransferTasksRow{{ShardID: f.shardID, TaskID: 7, Data: []byte("t"), DataEncoding: "Proto3"}}); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.RangeSelectFromTransferTasks(ctx, sqlplugin.TransferTasksRangeFilter{ShardID: f.shardID, InclusiveMinTaskID: 0, ExclusiveMaxTaskID: 100, PageSize: 10})
		if err != nil || len(rows) != 1 || rows[0].TaskID != 7 {
			t.Fatalf("read inside the transaction: %+v, %v; want the queued task 7", rows, err)
		}
		missing := f.exec
		missing.RunID = primitives.NewUUID()
		res, err := tx.UpdateExecutions(ctx, &missing)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 0 {
			t.Fatalf("UpdateExecutions of an unlocked, missing row: RowsAffected %d, %v; want the real 0", n, err)
		}
		res, err = tx.ReplaceIntoActivityInfoMaps(ctx, []sqlplugin.ActivityInfoMapsRow{{
			ShardID: f.shardID, NamespaceID: f.exec.NamespaceID, WorkflowID: f.exec.WorkflowID, RunID: f.exec.RunID,
			ScheduleID: 5, Data: []byte("a"), DataEncoding: "Proto3",
		}})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			t.Fatalf("deferred map write: RowsAffected %d, %v; want the real 1 (flushed on demand)", n, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDeferredWriteErrorKeepsTemporalError: a deferred task insert that fails (a duplicate
// task id) fails upstream's AddHistoryTasks with the same Temporal error type as without
// pipelining (serviceerror.Unavailable), and nothing of the transaction is stored.
func TestDeferredWriteErrorKeepsTemporalError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	forEachBackend(t, func(t *testing.T, b backend) {
		base := b.fresh(t)
		for i, on := range []bool{false, true} {
			db := newDB(t, withPipeline(base, on))
			shard := int32(41 + i)
			f := newPipelineFixture(t, ctx, db, shard)
			if _, err := db.InsertIntoTransferTasks(ctx, []sqlplugin.TransferTasksRow{{ShardID: shard, TaskID: 5, Data: []byte("old"), DataEncoding: "Proto3"}}); err != nil {
				t.Fatal(err)
			}
			store, err := sql.NewSQLExecutionStore(db, log.NewTestLogger(), serialization.NewSerializer())
			if err != nil {
				t.Fatal(err)
			}
			blob := func(s string) *commonpb.DataBlob {
				return &commonpb.DataBlob{EncodingType: enumspb.ENCODING_TYPE_PROTO3, Data: []byte(s)}
			}
			err = store.AddHistoryTasks(ctx, &persistence.InternalAddHistoryTasksRequest{
				ShardID: shard, RangeID: 1, NamespaceID: primitives.UUIDString(f.exec.NamespaceID), WorkflowID: f.exec.WorkflowID,
				Tasks: map[tasks.Category][]persistence.InternalHistoryTask{
					tasks.CategoryTransfer: {
						{Key: tasks.NewImmediateKey(6), Blob: blob("new")},
						{Key: tasks.NewImmediateKey(5), Blob: blob("duplicate")},
					},
				},
			})
			var unavailable *serviceerror.Unavailable
			if !errors.As(err, &unavailable) {
				t.Fatalf("pipeline=%v: AddHistoryTasks with a duplicate task = %T %v, want *serviceerror.Unavailable", on, err, err)
			}
			rows, err := db.RangeSelectFromTransferTasks(ctx, sqlplugin.TransferTasksRangeFilter{ShardID: shard, InclusiveMinTaskID: 0, ExclusiveMaxTaskID: 100, PageSize: 10})
			if err != nil || len(rows) != 1 || string(rows[0].Data) != "old" {
				t.Fatalf("pipeline=%v: transfer tasks after the failed transaction: %d rows, %v; want only the old one", on, len(rows), err)
			}
			// The connection is usable afterwards (no transaction left open on it).
			if err := f.mutate(ctx, db, 2, 50); err != nil {
				t.Fatalf("pipeline=%v: next transaction on the connection: %v", on, err)
			}
		}
	})
}
