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
	enumspb "go.temporal.io/api/enums/v1"
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

// withChecks copies cfg with pipeline, deferFence and deferExecutionCheck set.
func withChecks(cfg *config.SQL, pipeline, deferFence, deferExec bool) *config.SQL {
	c := *withFence(cfg, pipeline, deferFence)
	c.ConnectAttributes = maps.Clone(c.ConnectAttributes)
	c.ConnectAttributes["deferExecutionCheck"] = map[bool]string{true: "on", false: "off"}[deferExec]
	return &c
}

const (
	rcNamespace = "0b6a3c1e-5d2f-4e8a-9c71-3f2e1d0c9b8a"
	// Every run is created with these (CreateWorkflowExecution).
	rcNextEventID     = int64(2)
	rcDBRecordVersion = int64(1)
	rcRangeID         = int64(3)
)

func rcState(runID string) *persistencespb.WorkflowExecutionState {
	return &persistencespb.WorkflowExecutionState{
		CreateRequestId: uuid.NewString(), RunId: runID,
		State: enumsspb.WORKFLOW_EXECUTION_STATE_RUNNING, Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
	}
}

// rcCreate stores a run of workflow wf (brand new, current) with next_event_id 2 and
// db_record_version 1.
func rcCreate(ctx context.Context, t *testing.T, s persistence.ExecutionStore, shard int32, wf, runID string) {
	t.Helper()
	_, err := s.CreateWorkflowExecution(ctx, &persistence.InternalCreateWorkflowExecutionRequest{
		ShardID: shard, RangeID: rcRangeID, Mode: persistence.CreateWorkflowModeBrandNew, ArchetypeID: chasm.WorkflowArchetypeID,
		NewWorkflowSnapshot: persistence.InternalWorkflowSnapshot{
			NamespaceID: rcNamespace, WorkflowID: wf, RunID: runID,
			ExecutionInfoBlob: fenceBlob("info"), ExecutionState: rcState(runID), ExecutionStateBlob: fenceBlob("state"),
			NextEventID: rcNextEventID, DBRecordVersion: rcDBRecordVersion,
		},
	})
	if err != nil {
		t.Fatalf("creating run %s/%s: %v", wf, runID, err)
	}
}

// checkedOp is one of upstream's operations that lock a run with lockAndCheckExecution, run with
// the given Condition and DBRecordVersion; it writes next_event_id 10 (and, for the mutation,
// transfer task taskID).
type checkedOp struct {
	name string
	run  func(ctx context.Context, s persistence.ExecutionStore, shard int32, wf, runID string, condition, dbRecordVersion, taskID int64) error
}

func rcMutation(wf, runID string, condition, dbRecordVersion, taskID int64) persistence.InternalWorkflowMutation {
	return persistence.InternalWorkflowMutation{
		NamespaceID: rcNamespace, WorkflowID: wf, RunID: runID,
		ExecutionInfoBlob: fenceBlob("info2"), ExecutionState: rcState(runID), ExecutionStateBlob: fenceBlob("state2"),
		NextEventID: 10, DBRecordVersion: dbRecordVersion, Condition: condition,
		Tasks: map[tasks.Category][]persistence.InternalHistoryTask{
			tasks.CategoryTransfer: {{Key: tasks.NewImmediateKey(taskID), Blob: fenceBlob("t")}},
		},
	}
}

func rcSnapshot(wf, runID string, condition, dbRecordVersion, taskID int64) persistence.InternalWorkflowSnapshot {
	return persistence.InternalWorkflowSnapshot{
		NamespaceID: rcNamespace, WorkflowID: wf, RunID: runID,
		ExecutionInfoBlob: fenceBlob("info2"), ExecutionState: rcState(runID), ExecutionStateBlob: fenceBlob("state2"),
		NextEventID: 10, DBRecordVersion: dbRecordVersion, Condition: condition,
		Tasks: map[tasks.Category][]persistence.InternalHistoryTask{
			tasks.CategoryTransfer: {{Key: tasks.NewImmediateKey(taskID), Blob: fenceBlob("t")}},
		},
	}
}

var checkedOps = []checkedOp{
	{
		name: "UpdateWorkflowExecution",
		run: func(ctx context.Context, s persistence.ExecutionStore, shard int32, wf, runID string, condition, dbRecordVersion, taskID int64) error {
			return s.UpdateWorkflowExecution(ctx, &persistence.InternalUpdateWorkflowExecutionRequest{
				ShardID: shard, RangeID: rcRangeID, Mode: persistence.UpdateWorkflowModeIgnoreCurrent, ArchetypeID: chasm.WorkflowArchetypeID,
				UpdateWorkflowMutation: rcMutation(wf, runID, condition, dbRecordVersion, taskID),
			})
		},
	},
	{
		name: "SetWorkflowExecution",
		run: func(ctx context.Context, s persistence.ExecutionStore, shard int32, wf, runID string, condition, dbRecordVersion, taskID int64) error {
			return s.SetWorkflowExecution(ctx, &persistence.InternalSetWorkflowExecutionRequest{
				ShardID: shard, RangeID: rcRangeID,
				SetWorkflowSnapshot: rcSnapshot(wf, runID, condition, dbRecordVersion, taskID),
			})
		},
	},
	{
		// The reset run is the current one (UpdateCurrent, no current mutation).
		name: "ConflictResolveWorkflowExecution",
		run: func(ctx context.Context, s persistence.ExecutionStore, shard int32, wf, runID string, condition, dbRecordVersion, taskID int64) error {
			return s.ConflictResolveWorkflowExecution(ctx, &persistence.InternalConflictResolveWorkflowExecutionRequest{
				ShardID: shard, RangeID: rcRangeID, Mode: persistence.ConflictResolveWorkflowModeUpdateCurrent, ArchetypeID: chasm.WorkflowArchetypeID,
				ResetWorkflowSnapshot: rcSnapshot(wf, runID, condition, dbRecordVersion, taskID),
			})
		},
	},
}

// rcStored returns the run's (db_record_version, next_event_id), found, and whether transfer
// task taskID is stored.
func rcStored(ctx context.Context, t *testing.T, db sqlplugin.DB, shard int32, wf, runID string, taskID int64) (int64, int64, bool, bool) {
	t.Helper()
	row, err := db.SelectFromExecutions(ctx, sqlplugin.ExecutionsFilter{ShardID: shard, NamespaceID: primitives.MustParseUUID(rcNamespace), WorkflowID: wf, RunID: primitives.MustParseUUID(runID)})
	found := true
	if errors.Is(err, stdsql.ErrNoRows) {
		found, err = false, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := db.RangeSelectFromTransferTasks(ctx, sqlplugin.TransferTasksRangeFilter{ShardID: shard, InclusiveMinTaskID: taskID, ExclusiveMaxTaskID: taskID + 1, PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		return 0, 0, false, len(tasks) == 1
	}
	return row.DBRecordVersion, row.NextEventID, true, len(tasks) == 1
}

// rcCase is one condition of the table: the request's Condition and DBRecordVersion, and
// whether the run exists.
type rcCase struct {
	what                       string
	condition, dbRecordVersion int64
	missing                    bool
	ok                         bool
}

var rcCases = []rcCase{
	{what: "stale db_record_version", condition: rcNextEventID, dbRecordVersion: 5},
	{what: "stale next_event_id (db_record_version 0)", condition: 7, dbRecordVersion: 0},
	{what: "missing row", condition: rcNextEventID, dbRecordVersion: rcDBRecordVersion + 1, missing: true},
	{what: "right db_record_version", condition: 99, dbRecordVersion: rcDBRecordVersion + 1, ok: true},
	{what: "right next_event_id (db_record_version 0)", condition: rcNextEventID, dbRecordVersion: 0, ok: true},
}

// sameUpstreamError fails unless got is want's type with the same text and fields.
func sameUpstreamError(t *testing.T, what string, got, want error) {
	t.Helper()
	if fmt.Sprintf("%T", got) != fmt.Sprintf("%T", want) || got.Error() != want.Error() {
		t.Fatalf("%s: got %T %q, want upstream's %T %q", what, got, got, want, want)
	}
	if w, ok := want.(*persistence.WorkflowConditionFailedError); ok {
		g := got.(*persistence.WorkflowConditionFailedError)
		if g.NextEventID != w.NextEventID || g.DBRecordVersion != w.DBRecordVersion {
			t.Fatalf("%s: NextEventID %d DBRecordVersion %d, want upstream's %d %d", what, g.NextEventID, g.DBRecordVersion, w.NextEventID, w.DBRecordVersion)
		}
	}
}

// TestDeferredExecutionCheckMapsToUpstreamError is the table test of the execution row's
// condition checked in the batch: for UpdateWorkflowExecution, SetWorkflowExecution and
// ConflictResolveWorkflowExecution, a stale db_record_version, a stale next_event_id (request
// DBRecordVersion 0), a missing row and the right values, through the wired store
// (WrapExecutionStore), with pipelining on and off and deferExecutionCheck on and off, on
// PostgreSQL and dsql-local. A failure must be exactly what upstream's store returns by itself
// (the oracle: upstream's store on the plugin without the wrapper and without pipelining, which
// reads and compares in Go; same type, text and fields), and leave the row and the request's
// task unstored; the right values write.
func TestDeferredExecutionCheckMapsToUpstreamError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	forEachBackend(t, func(t *testing.T, b backend) {
		base := b.fresh(t)
		const shard = int32(81)
		setup := newDB(t, withPipeline(base, false))
		if _, err := setup.InsertIntoShards(ctx, &sqlplugin.ShardsRow{ShardID: shard, RangeID: rcRangeID, Data: []byte("s"), DataEncoding: "Proto3"}); err != nil {
			t.Fatal(err)
		}
		oracle, err := sql.NewSQLExecutionStore(setup, log.NewTestLogger(), serialization.NewSerializer())
		if err != nil {
			t.Fatal(err)
		}
		n := int64(0)
		next := func() (string, string, int64) {
			n++
			return fmt.Sprintf("rc-%d-%s", n, uuid.NewString()), uuid.NewString(), 5000 + n
		}
		for _, op := range checkedOps {
			// What upstream returns today, for each failing case (the missing row's text names
			// the run: the same workflow and run are used below).
			want := map[string]error{}
			missingWF, missingRun, _ := next()
			for _, c := range rcCases {
				if c.ok {
					continue
				}
				wf, runID, taskID := next()
				if c.missing {
					wf, runID = missingWF, missingRun
				} else {
					rcCreate(ctx, t, oracle, shard, wf, runID)
				}
				want[c.what] = op.run(ctx, oracle, shard, wf, runID, c.condition, c.dbRecordVersion, taskID)
				// A missing run: ConditionFailedError from the lock, except where upstream checks the
				// current row first (ConflictResolve's UpdateCurrent): compared all the same.
				var wcf *persistence.WorkflowConditionFailedError
				if want[c.what] == nil || (!c.missing && !errors.As(want[c.what], &wcf)) {
					t.Fatalf("%s oracle (upstream alone), %s: %T %v; the premise of this test changed", op.name, c.what, want[c.what], want[c.what])
				}
			}
			for _, mode := range []struct{ pipeline, deferExec bool }{{true, true}, {true, false}, {false, true}} {
				t.Run(fmt.Sprintf("%s/pipeline=%v/deferExecutionCheck=%v", op.name, mode.pipeline, mode.deferExec), func(t *testing.T) {
					db := newDB(t, withChecks(base, mode.pipeline, true, mode.deferExec))
					upstream, err := sql.NewSQLExecutionStore(db, log.NewTestLogger(), serialization.NewSerializer())
					if err != nil {
						t.Fatal(err)
					}
					store := dsql.WrapExecutionStore(upstream, nil, nil)
					for _, c := range rcCases {
						wf, runID, taskID := next()
						if c.missing {
							wf, runID = missingWF, missingRun
						} else {
							rcCreate(ctx, t, store, shard, wf, runID)
						}
						err := op.run(ctx, store, shard, wf, runID, c.condition, c.dbRecordVersion, taskID)
						version, nextEvent, found, task := rcStored(ctx, t, db, shard, wf, runID, taskID)
						if c.ok {
							if err != nil {
								t.Fatalf("%s: %v", c.what, err)
							}
							if !found || nextEvent != 10 || version != c.dbRecordVersion || !task {
								t.Fatalf("%s: stored (version %d, next_event_id %d, found %v, task %v); want the write", c.what, version, nextEvent, found, task)
							}
							continue
						}
						sameUpstreamError(t, c.what, err, want[c.what])
						if task || found != !c.missing || (found && (version != rcDBRecordVersion || nextEvent != rcNextEventID)) {
							t.Fatalf("%s: stored (version %d, next_event_id %d, found %v, task %v); want nothing of the failed write", c.what, version, nextEvent, found, task)
						}
					}
				})
			}
		}
	})
}

// TestDeferredExecutionCheckSavesARoundTrip counts, with dsql-local's accounting, the round
// trips of one UpdateWorkflowExecution / SetWorkflowExecution / ConflictResolveWorkflowExecution
// through the wired store (fence deferred in both): deferExecutionCheck on takes exactly one
// fewer than off (the lock read's own round trip).
func TestDeferredExecutionCheckSavesARoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := dsqlLocalBackend().fresh(t)
	d := startDSQLLocal(t)
	const shard = int32(82)
	setup := newDB(t, withPipeline(base, false))
	if _, err := setup.InsertIntoShards(ctx, &sqlplugin.ShardsRow{ShardID: shard, RangeID: rcRangeID, Data: []byte("s"), DataEncoding: "Proto3"}); err != nil {
		t.Fatal(err)
	}
	n := int64(0)
	for _, op := range checkedOps {
		trips := map[bool]int64{}
		for _, on := range []bool{false, true} {
			db := newDB(t, withChecks(base, true, true, on))
			upstream, err := sql.NewSQLExecutionStore(db, log.NewTestLogger(), serialization.NewSerializer())
			if err != nil {
				t.Fatal(err)
			}
			store := dsql.WrapExecutionStore(upstream, nil, nil)
			var delta int64
			for _, warm := range []bool{true, false} { // the first call warms the statement cache
				n++
				wf, runID := fmt.Sprintf("rt-%d-%s", n, uuid.NewString()), uuid.NewString()
				rcCreate(ctx, t, store, shard, wf, runID)
				s, err := statsDelta(t, ctx, d, func() error {
					return op.run(ctx, store, shard, wf, runID, 0, rcDBRecordVersion+1, 7000+n)
				})
				if err != nil {
					t.Fatalf("%s deferExecutionCheck=%v: %v", op.name, on, err)
				}
				if !warm && s.Commits != 1 {
					t.Fatalf("%s deferExecutionCheck=%v: %d commits, want 1", op.name, on, s.Commits)
				}
				delta = s.RoundTrips
				if !warm {
					t.Logf("%s deferExecutionCheck=%v: %d round trips, %d statements", op.name, on, s.RoundTrips, s.Statements)
				}
			}
			trips[on] = delta
		}
		if trips[true] != trips[false]-1 {
			t.Errorf("%s: %d round trips with the execution check in the batch, %d with the lock read; want exactly one fewer", op.name, trips[true], trips[false])
		}
	}
}

// TestDeferredExecutionCheckConcurrentWriters: two real transactions update the same run with
// the same expected db_record_version (1 -> 2). A checks in its batch (plugin level, so that
// the order can be chosen); B is a whole UpdateWorkflowExecution through the wired store. If B
// commits before A's batch is sent, A's check sees B's db_record_version 2 in its snapshot and
// fails; if A's batch locked the row first (DSQL: the row is in A's write set, first committer
// wins; dsql-local fails A, the holder, and B does not wait), A's COMMIT fails with 40001.
// Either way A never commits and the row holds B's write only. PostgreSQL runs the first order
// only (there B would wait for A's row lock, which is not DSQL's behaviour).
func TestDeferredExecutionCheckConcurrentWriters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	forEachBackend(t, func(t *testing.T, b backend) {
		base := b.fresh(t)
		const shard = int32(83)
		db := newDB(t, withChecks(base, true, true, true))
		upstream, err := sql.NewSQLExecutionStore(db, log.NewTestLogger(), serialization.NewSerializer())
		if err != nil {
			t.Fatal(err)
		}
		store := dsql.WrapExecutionStore(upstream, nil, nil)
		// B's own pool: the test configuration has one connection per pool, which A's
		// transaction holds.
		upstreamB, err := sql.NewSQLExecutionStore(newDB(t, withChecks(base, true, true, true)), log.NewTestLogger(), serialization.NewSerializer())
		if err != nil {
			t.Fatal(err)
		}
		storeB := dsql.WrapExecutionStore(upstreamB, nil, nil)
		if _, err := db.InsertIntoShards(ctx, &sqlplugin.ShardsRow{ShardID: shard, RangeID: rcRangeID, Data: []byte("s"), DataEncoding: "Proto3"}); err != nil {
			t.Fatal(err)
		}
		for i, order := range []string{"B commits before A's batch", "B commits after A's batch locked the row"} {
			if b.name == "postgres" && i == 1 {
				continue
			}
			t.Run(order, func(t *testing.T) {
				wf, runID := fmt.Sprintf("cc-%d-%s", i, uuid.NewString()), uuid.NewString()
				rcCreate(ctx, t, store, shard, wf, runID)
				filter := sqlplugin.ExecutionsFilter{ShardID: shard, NamespaceID: primitives.MustParseUUID(rcNamespace), WorkflowID: wf, RunID: primitives.MustParseUUID(runID)}
				before, err := db.SelectFromExecutions(ctx, filter)
				if err != nil {
					t.Fatal(err)
				}
				actx := dsql.WithExecutionCheck(ctx, shard, rcNamespace, wf, runID, 0, rcDBRecordVersion+1)
				tx, err := db.BeginTx(actx)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = tx.Rollback() }()
				writeB := func() {
					done := make(chan error, 1)
					go func() {
						done <- (checkedOps[0]).run(ctx, storeB, shard, wf, runID, 0, rcDBRecordVersion+1, 9100+int64(i))
					}()
					select {
					case err := <-done:
						if err != nil {
							t.Fatalf("B's update: %v", err)
						}
					case <-time.After(20 * time.Second):
						t.Fatal("B's update waited for A")
					}
				}
				if i == 0 {
					writeB()
				}
				v, next, err := tx.WriteLockExecutions(actx, filter)
				if err != nil || v != rcDBRecordVersion || next != 0 {
					t.Fatalf("A's deferred check returned (%d, %d, %v); want the expected (%d, 0) at once", v, next, err, rcDBRecordVersion)
				}
				upd := *before
				upd.NextEventID, upd.DBRecordVersion, upd.Data = 77, rcDBRecordVersion+1, []byte("A")
				if _, err := tx.UpdateExecutions(actx, &upd); err != nil {
					t.Fatal(err)
				}
				if _, err := tx.InsertIntoTransferTasks(actx, []sqlplugin.TransferTasksRow{{ShardID: shard, TaskID: 9000 + int64(i), Data: []byte("a"), DataEncoding: "Proto3"}}); err != nil {
					t.Fatal(err)
				}
				if i == 1 {
					// A's batch (BEGIN, lock, check, update, insert, this read) goes out; then B.
					if _, err := tx.RangeSelectFromTransferTasks(actx, sqlplugin.TransferTasksRangeFilter{ShardID: shard, InclusiveMinTaskID: 0, ExclusiveMaxTaskID: 1, PageSize: 1}); err != nil {
						t.Fatalf("A's batch before B: %v", err)
					}
					writeB()
				}
				commitErr := tx.Commit()
				if commitErr == nil {
					t.Fatal("A committed over B's write")
				}
				t.Logf("A's COMMIT: %v", commitErr)
				if i == 1 && !dsql.IsConflict(commitErr) {
					t.Fatalf("A's COMMIT = %v, want SQLSTATE 40001 (first committer wins)", commitErr)
				}
				if i == 0 && dsql.IsConflict(commitErr) {
					t.Fatalf("A's COMMIT = %v, want the check's failure, not a conflict", commitErr)
				}
				version, nextEvent, found, task := rcStored(ctx, t, db, shard, wf, runID, 9000+int64(i))
				if !found || task || nextEvent != 10 || version != rcDBRecordVersion+1 {
					t.Fatalf("after both: version %d, next_event_id %d, found %v, A's task %v; want B's write only (2, 10) and no task of A", version, nextEvent, found, task)
				}
			})
		}
	})
}

// TestDeferredCheckBeforeUpstreamsOwnError: upstream compares before it goes on, so a failed
// condition wins over an error upstream's own code returns later in the same call. Here the
// request's new run has a run id that does not parse, which UpdateWorkflowExecution reports
// (applyWorkflowSnapshotTxAsNew) after locking the updated run and before anything is sent:
// the deferred check is still queued when upstream gives up, and Rollback sends it first
// (pipeline.go), so the error is still upstream's WorkflowConditionFailedError (stale
// db_record_version) and ShardOwnershipLostError (stale range_id), not the parse error.
func TestDeferredCheckBeforeUpstreamsOwnError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	forEachBackend(t, func(t *testing.T, b backend) {
		base := b.fresh(t)
		const shard = int32(84)
		setup := newDB(t, withPipeline(base, false))
		if _, err := setup.InsertIntoShards(ctx, &sqlplugin.ShardsRow{ShardID: shard, RangeID: rcRangeID, Data: []byte("s"), DataEncoding: "Proto3"}); err != nil {
			t.Fatal(err)
		}
		oracle, err := sql.NewSQLExecutionStore(setup, log.NewTestLogger(), serialization.NewSerializer())
		if err != nil {
			t.Fatal(err)
		}
		update := func(s persistence.ExecutionStore, rangeID, dbRecordVersion int64) (error, string, string) {
			wf, runID := "own-"+uuid.NewString(), uuid.NewString()
			rcCreate(ctx, t, s, shard, wf, runID)
			bad := rcSnapshot(wf, "not-a-uuid", 0, 1, 9900)
			return s.UpdateWorkflowExecution(ctx, &persistence.InternalUpdateWorkflowExecutionRequest{
				ShardID: shard, RangeID: rangeID, Mode: persistence.UpdateWorkflowModeIgnoreCurrent, ArchetypeID: chasm.WorkflowArchetypeID,
				UpdateWorkflowMutation: rcMutation(wf, runID, 0, dbRecordVersion, 9901),
				NewWorkflowSnapshot:    &bad,
			}), wf, runID
		}
		cases := []struct {
			what                     string
			rangeID, dbRecordVersion int64
		}{{"stale db_record_version", rcRangeID, 5}, {"stale range_id", rcRangeID - 1, rcDBRecordVersion + 1}}
		for _, c := range cases {
			want, _, _ := update(oracle, c.rangeID, c.dbRecordVersion)
			var wcf *persistence.WorkflowConditionFailedError
			var lost *persistence.ShardOwnershipLostError
			if !errors.As(want, &wcf) && !errors.As(want, &lost) {
				t.Fatalf("oracle (upstream alone), %s: %T %v; the premise of this test changed", c.what, want, want)
			}
			db := newDB(t, withChecks(base, true, true, true))
			upstream, err := sql.NewSQLExecutionStore(db, log.NewTestLogger(), serialization.NewSerializer())
			if err != nil {
				t.Fatal(err)
			}
			got, wf, runID := update(dsql.WrapExecutionStore(upstream, nil, nil), c.rangeID, c.dbRecordVersion)
			sameUpstreamError(t, c.what, got, want)
			if version, next, _, task := rcStored(ctx, t, db, shard, wf, runID, 9901); task || version != rcDBRecordVersion || next != rcNextEventID {
				t.Fatalf("%s: stored (version %d, next_event_id %d, task %v); want nothing of the failed write", c.what, version, next, task)
			}
		}
	})
}

// TestDeferredExecutionCheckTwoRuns: ConflictResolveWorkflowExecution locks two runs in one
// transaction (the reset run R2 and the current run R1, whose mutation it applies), so the
// call's mark maps each run to its own expected values. A stale reset run, a stale current run
// (its check queued after the reset run's, which passes) and both right, through the wired
// store on PostgreSQL and dsql-local with both checks deferred: the error is exactly upstream's
// own store's, and nothing of a failed call is stored.
func TestDeferredExecutionCheckTwoRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	forEachBackend(t, func(t *testing.T, b backend) {
		base := b.fresh(t)
		const shard = int32(85)
		setup := newDB(t, withPipeline(base, false))
		if _, err := setup.InsertIntoShards(ctx, &sqlplugin.ShardsRow{ShardID: shard, RangeID: rcRangeID, Data: []byte("s"), DataEncoding: "Proto3"}); err != nil {
			t.Fatal(err)
		}
		oracle, err := sql.NewSQLExecutionStore(setup, log.NewTestLogger(), serialization.NewSerializer())
		if err != nil {
			t.Fatal(err)
		}
		db := newDB(t, withChecks(base, true, true, true))
		upstream, err := sql.NewSQLExecutionStore(db, log.NewTestLogger(), serialization.NewSerializer())
		if err != nil {
			t.Fatal(err)
		}
		store := dsql.WrapExecutionStore(upstream, nil, nil)
		n := int64(0)
		// resolve creates R1 (current) and R2 (not current) of a new workflow, then resolves:
		// reset R2, mutate R1, R2 becomes current.
		resolve := func(s persistence.ExecutionStore, resetVersion, currentVersion int64) (error, string, string, string, int64) {
			n++
			wf, r1, r2, taskID := fmt.Sprintf("two-%d-%s", n, uuid.NewString()), uuid.NewString(), uuid.NewString(), 8000+10*n
			rcCreate(ctx, t, s, shard, wf, r1)
			if _, err := s.CreateWorkflowExecution(ctx, &persistence.InternalCreateWorkflowExecutionRequest{
				ShardID: shard, RangeID: rcRangeID, Mode: persistence.CreateWorkflowModeBypassCurrent, ArchetypeID: chasm.WorkflowArchetypeID,
				NewWorkflowSnapshot: persistence.InternalWorkflowSnapshot{
					NamespaceID: rcNamespace, WorkflowID: wf, RunID: r2,
					ExecutionInfoBlob: fenceBlob("info"), ExecutionState: rcState(r2), ExecutionStateBlob: fenceBlob("state"),
					NextEventID: rcNextEventID, DBRecordVersion: rcDBRecordVersion,
				},
			}); err != nil {
				t.Fatalf("creating R2: %v", err)
			}
			current := rcMutation(wf, r1, 0, currentVersion, taskID+1)
			current.ExecutionState.State = enumsspb.WORKFLOW_EXECUTION_STATE_COMPLETED
			current.ExecutionState.Status = enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED
			err := s.ConflictResolveWorkflowExecution(ctx, &persistence.InternalConflictResolveWorkflowExecutionRequest{
				ShardID: shard, RangeID: rcRangeID, Mode: persistence.ConflictResolveWorkflowModeUpdateCurrent, ArchetypeID: chasm.WorkflowArchetypeID,
				ResetWorkflowSnapshot:   rcSnapshot(wf, r2, 0, resetVersion, taskID),
				CurrentWorkflowMutation: &current,
			})
			return err, wf, r1, r2, taskID
		}
		right := rcDBRecordVersion + 1
		for _, c := range []struct {
			what                         string
			resetVersion, currentVersion int64
		}{{"stale reset run", 7, right}, {"stale current run", right, 9}, {"both right", right, right}} {
			want, _, _, _, _ := resolve(oracle, c.resetVersion, c.currentVersion)
			got, wf, r1, r2, taskID := resolve(store, c.resetVersion, c.currentVersion)
			v1, e1, _, t1 := rcStored(ctx, t, db, shard, wf, r1, taskID+1)
			v2, e2, _, t2 := rcStored(ctx, t, db, shard, wf, r2, taskID)
			if want == nil {
				if got != nil || v1 != right || e1 != 10 || v2 != right || e2 != 10 || !t1 || !t2 {
					t.Fatalf("%s: %v; stored R1 (%d, %d, task %v), R2 (%d, %d, task %v); want both written", c.what, got, v1, e1, t1, v2, e2, t2)
				}
				continue
			}
			var wcf *persistence.WorkflowConditionFailedError
			if !errors.As(want, &wcf) {
				t.Fatalf("oracle (upstream alone), %s: %T %v; the premise of this test changed", c.what, want, want)
			}
			sameUpstreamError(t, c.what, got, want)
			if v1 != rcDBRecordVersion || e1 != rcNextEventID || v2 != rcDBRecordVersion || e2 != rcNextEventID || t1 || t2 {
				t.Fatalf("%s: stored R1 (%d, %d, task %v), R2 (%d, %d, task %v); want nothing of the failed call", c.what, v1, e1, t1, v2, e2, t2)
			}
		}
	})
}
