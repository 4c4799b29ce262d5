package persistencetest

import (
	"context"
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
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"temporal-dsql/server/dsql"
)

// withCurrentCheck copies cfg with pipeline, the fence and the execution check deferred, and
// deferCurrentCheck set.
func withCurrentCheck(cfg *config.SQL, pipeline, deferCurrent bool) *config.SQL {
	c := *withChecks(cfg, pipeline, true, true)
	c.ConnectAttributes = maps.Clone(c.ConnectAttributes)
	c.ConnectAttributes["deferCurrentCheck"] = map[bool]string{true: "on", false: "off"}[deferCurrent]
	return &c
}

// ccState is a run's execution state with everything the current row's error carries
// (request ids, first run, start time), stored as a real blob so that the error decodes it.
func ccState(runID string) *persistencespb.WorkflowExecutionState {
	reqID := uuid.NewString()
	return &persistencespb.WorkflowExecutionState{
		CreateRequestId: reqID, RunId: runID,
		State: enumsspb.WORKFLOW_EXECUTION_STATE_RUNNING, Status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		StartTime:           timestamppb.New(time.Date(2026, 12, 5, 22, 0, 0, 0, time.UTC)),
		FirstExecutionRunId: runID,
		RequestIds: map[string]*persistencespb.RequestIDInfo{
			reqID: {EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, EventId: 1},
		},
	}
}

// ccCreate stores run runID of wf: current (BrandNew) or not (BypassCurrent), next_event_id 2,
// db_record_version 1, last write version 4.
func ccCreate(ctx context.Context, t *testing.T, s persistence.ExecutionStore, shard int32, wf, runID string, current bool) {
	t.Helper()
	state := ccState(runID)
	blob, err := serialization.NewSerializer().WorkflowExecutionStateToBlob(state)
	if err != nil {
		t.Fatal(err)
	}
	mode := persistence.CreateWorkflowModeBypassCurrent
	if current {
		mode = persistence.CreateWorkflowModeBrandNew
	}
	_, err = s.CreateWorkflowExecution(ctx, &persistence.InternalCreateWorkflowExecutionRequest{
		ShardID: shard, RangeID: rcRangeID, Mode: mode, ArchetypeID: chasm.WorkflowArchetypeID,
		NewWorkflowSnapshot: persistence.InternalWorkflowSnapshot{
			NamespaceID: rcNamespace, WorkflowID: wf, RunID: runID,
			ExecutionInfoBlob: fenceBlob("info"), ExecutionState: state, ExecutionStateBlob: blob,
			NextEventID: rcNextEventID, DBRecordVersion: rcDBRecordVersion, LastWriteVersion: 4,
		},
	})
	if err != nil {
		t.Fatalf("creating run %s/%s (current %v): %v", wf, runID, current, err)
	}
}

// currentOps are upstream's operations that call assertRunIDAndUpdateCurrentExecution, run on
// run runID expecting it to be current (mode UpdateCurrent), with the right execution row
// condition; they write next_event_id 10 and transfer task taskID.
var currentOps = []checkedOp{
	{
		name: "UpdateWorkflowExecution",
		run: func(ctx context.Context, s persistence.ExecutionStore, shard int32, wf, runID string, _, _, taskID int64) error {
			return s.UpdateWorkflowExecution(ctx, &persistence.InternalUpdateWorkflowExecutionRequest{
				ShardID: shard, RangeID: rcRangeID, Mode: persistence.UpdateWorkflowModeUpdateCurrent, ArchetypeID: chasm.WorkflowArchetypeID,
				UpdateWorkflowMutation: rcMutation(wf, runID, 0, rcDBRecordVersion+1, taskID),
			})
		},
	},
	{
		name: "ConflictResolveWorkflowExecution",
		run: func(ctx context.Context, s persistence.ExecutionStore, shard int32, wf, runID string, _, _, taskID int64) error {
			return s.ConflictResolveWorkflowExecution(ctx, &persistence.InternalConflictResolveWorkflowExecutionRequest{
				ShardID: shard, RangeID: rcRangeID, Mode: persistence.ConflictResolveWorkflowModeUpdateCurrent, ArchetypeID: chasm.WorkflowArchetypeID,
				ResetWorkflowSnapshot: rcSnapshot(wf, runID, 0, rcDBRecordVersion+1, taskID),
			})
		},
	},
}

// sameCurrentError fails unless got is exactly want: type, text and, for
// CurrentWorkflowConditionFailedError, every field.
func sameCurrentError(t *testing.T, what string, got, want error) {
	t.Helper()
	sameUpstreamError(t, what, got, want)
	w, ok := want.(*persistence.CurrentWorkflowConditionFailedError)
	if !ok {
		return
	}
	g := got.(*persistence.CurrentWorkflowConditionFailedError)
	same := g.Msg == w.Msg && g.RunID == w.RunID && g.FirstExecutionRunID == w.FirstExecutionRunID && g.State == w.State &&
		g.Status == w.Status && g.LastWriteVersion == w.LastWriteVersion && len(g.RequestIDs) == len(w.RequestIDs) &&
		(g.StartTime == nil) == (w.StartTime == nil) && (g.StartTime == nil || g.StartTime.Equal(*w.StartTime))
	for k, v := range w.RequestIDs {
		same = same && proto.Equal(g.RequestIDs[k], v)
	}
	if !same {
		t.Fatalf("%s: got %+v, want upstream's %+v", what, *g, *w)
	}
}

// ccCurrentRun returns the workflow's current run id ("" without a current row).
func ccCurrentRun(ctx context.Context, t *testing.T, db sqlplugin.DB, shard int32, wf string) string {
	t.Helper()
	row, err := db.SelectFromCurrentExecutions(ctx, sqlplugin.CurrentExecutionsFilter{ShardID: shard, NamespaceID: primitives.MustParseUUID(rcNamespace), WorkflowID: wf, ArchetypeID: chasm.WorkflowArchetypeID})
	if err != nil {
		return ""
	}
	return row.RunID.String()
}

// TestDeferredCurrentCheckMapsToUpstreamError is the table test of the current-execution
// condition checked in the batch: UpdateWorkflowExecution and ConflictResolveWorkflowExecution
// in mode UpdateCurrent on a run that is not the current one (another run is), on a workflow
// without a current row, and on the current run, through the wired store, with pipelining on
// and off and deferCurrentCheck on and off, on PostgreSQL and dsql-local. A failure must be
// exactly what upstream's store returns by itself (the oracle: unwrapped, unpipelined; same
// type, text and every field of CurrentWorkflowConditionFailedError, from the current row's
// data blob) and store nothing (the run, its task and the current row unchanged); the right run
// writes.
func TestDeferredCurrentCheckMapsToUpstreamError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	type ccCase struct {
		what string
		// setup stores the workflow's runs and returns the run the call names.
		other, noCurrent, ok bool
	}
	cases := []ccCase{
		{what: "another run is current", other: true},
		{what: "no current row", noCurrent: true},
		{what: "the run is current", ok: true},
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		base := b.fresh(t)
		const shard = int32(86)
		setup := newDB(t, withPipeline(base, false))
		if _, err := setup.InsertIntoShards(ctx, &sqlplugin.ShardsRow{ShardID: shard, RangeID: rcRangeID, Data: []byte("s"), DataEncoding: "Proto3"}); err != nil {
			t.Fatal(err)
		}
		oracle, err := sql.NewSQLExecutionStore(setup, log.NewTestLogger(), serialization.NewSerializer())
		if err != nil {
			t.Fatal(err)
		}
		n := int64(0)
		// prepare stores the case's runs with s and returns (workflow, run named, current run).
		prepare := func(s persistence.ExecutionStore, c ccCase) (string, string, string, int64) {
			n++
			wf, runID, taskID := fmt.Sprintf("cc-%d-%s", n, uuid.NewString()), uuid.NewString(), 6000+n
			switch {
			case c.other:
				cur := uuid.NewString()
				ccCreate(ctx, t, s, shard, wf, cur, true)
				ccCreate(ctx, t, s, shard, wf, runID, false)
				return wf, runID, cur, taskID
			case c.noCurrent:
				ccCreate(ctx, t, s, shard, wf, runID, false)
				return wf, runID, "", taskID
			}
			ccCreate(ctx, t, s, shard, wf, runID, true)
			return wf, runID, runID, taskID
		}
		for _, op := range currentOps {
			for _, mode := range []struct{ pipeline, deferCurrent bool }{{true, true}, {true, false}, {false, true}} {
				t.Run(fmt.Sprintf("%s/pipeline=%v/deferCurrentCheck=%v", op.name, mode.pipeline, mode.deferCurrent), func(t *testing.T) {
					db := newDB(t, withCurrentCheck(base, mode.pipeline, mode.deferCurrent))
					upstream, err := sql.NewSQLExecutionStore(db, log.NewTestLogger(), serialization.NewSerializer())
					if err != nil {
						t.Fatal(err)
					}
					store := dsql.WrapExecutionStore(upstream, nil, nil)
					for _, c := range cases {
						wf, runID, cur, taskID := prepare(store, c)
						err := op.run(ctx, store, shard, wf, runID, 0, 0, taskID)
						version, nextEvent, found, task := rcStored(ctx, t, db, shard, wf, runID, taskID)
						current := ccCurrentRun(ctx, t, db, shard, wf)
						if c.ok {
							if err != nil {
								t.Fatalf("%s: %v", c.what, err)
							}
							if !found || nextEvent != 10 || !task || current != runID {
								t.Fatalf("%s: stored (version %d, next_event_id %d, found %v, task %v, current %q); want the write", c.what, version, nextEvent, found, task, current)
							}
							continue
						}
						if task || !found || version != rcDBRecordVersion || nextEvent != rcNextEventID || current != cur {
							t.Fatalf("%s: stored (version %d, next_event_id %d, task %v, current %q); want nothing of the failed write", c.what, version, nextEvent, task, current)
						}
						// Upstream's own error for the very same rows (left unchanged): the same
						// call on upstream's store alone, which reads and compares in Go.
						w := op.run(ctx, oracle, shard, wf, runID, 0, 0, taskID)
						var cwf *persistence.CurrentWorkflowConditionFailedError
						if w == nil || (c.other && !errors.As(w, &cwf)) {
							t.Fatalf("%s oracle (upstream alone), %s: %T %v; the premise of this test changed", op.name, c.what, w, w)
						}
						sameCurrentError(t, c.what, err, w)
					}
				})
			}
		}
	})
}

// TestDeferredCurrentCheckSavesARoundTrip counts, with dsql-local's accounting, the round trips
// of one UpdateWorkflowExecution / ConflictResolveWorkflowExecution in mode UpdateCurrent
// through the wired store (fence and execution check deferred in both): deferCurrentCheck on
// takes exactly one fewer than off (the current row's lock read).
func TestDeferredCurrentCheckSavesARoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := dsqlLocalBackend().fresh(t)
	d := startDSQLLocal(t)
	const shard = int32(87)
	setup := newDB(t, withPipeline(base, false))
	if _, err := setup.InsertIntoShards(ctx, &sqlplugin.ShardsRow{ShardID: shard, RangeID: rcRangeID, Data: []byte("s"), DataEncoding: "Proto3"}); err != nil {
		t.Fatal(err)
	}
	n := int64(0)
	for _, op := range currentOps {
		trips := map[bool]int64{}
		for _, on := range []bool{false, true} {
			db := newDB(t, withCurrentCheck(base, true, on))
			upstream, err := sql.NewSQLExecutionStore(db, log.NewTestLogger(), serialization.NewSerializer())
			if err != nil {
				t.Fatal(err)
			}
			store := dsql.WrapExecutionStore(upstream, nil, nil)
			for _, warm := range []bool{true, false} { // the first call warms the statement cache
				n++
				wf, runID := fmt.Sprintf("crt-%d-%s", n, uuid.NewString()), uuid.NewString()
				ccCreate(ctx, t, store, shard, wf, runID, true)
				s, err := statsDelta(t, ctx, d, func() error {
					return op.run(ctx, store, shard, wf, runID, 0, 0, 7500+n)
				})
				if err != nil {
					t.Fatalf("%s deferCurrentCheck=%v: %v", op.name, on, err)
				}
				if !warm && s.Commits != 1 {
					t.Fatalf("%s deferCurrentCheck=%v: %d commits, want 1", op.name, on, s.Commits)
				}
				trips[on] = s.RoundTrips
				if !warm {
					t.Logf("%s deferCurrentCheck=%v: %d round trips, %d statements", op.name, on, s.RoundTrips, s.Statements)
				}
			}
		}
		if trips[true] != trips[false]-1 {
			t.Errorf("%s: %d round trips with the current check in the batch, %d with the lock read; want exactly one fewer", op.name, trips[true], trips[false])
		}
	}
}

// TestDeferredCurrentCheckConcurrentWriters: transaction A expects run R1 to be current (its
// check in the batch, plugin level so that the order can be chosen) and updates the current row;
// B makes R2 current (autocommit, its own pool). If B commits before A's batch is sent, A's
// check sees R2 in its snapshot and fails the transaction; if A's batch locked the row first
// (DSQL: the row is in A's write set, first committer wins; dsql-local fails A, the holder, and B
// does not wait), A's COMMIT fails with 40001. Either way A never commits: the current row is
// B's. PostgreSQL runs the first order only (there B would wait for A's row lock).
func TestDeferredCurrentCheckConcurrentWriters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	forEachBackend(t, func(t *testing.T, b backend) {
		base := b.fresh(t)
		const shard = int32(88)
		db := newDB(t, withCurrentCheck(base, true, true))
		dbB := newDB(t, withCurrentCheck(base, true, true))
		upstream, err := sql.NewSQLExecutionStore(db, log.NewTestLogger(), serialization.NewSerializer())
		if err != nil {
			t.Fatal(err)
		}
		store := dsql.WrapExecutionStore(upstream, nil, nil)
		if _, err := db.InsertIntoShards(ctx, &sqlplugin.ShardsRow{ShardID: shard, RangeID: rcRangeID, Data: []byte("s"), DataEncoding: "Proto3"}); err != nil {
			t.Fatal(err)
		}
		for i, order := range []string{"B commits before A's batch", "B commits after A's batch locked the row"} {
			if b.name == "postgres" && i == 1 {
				continue
			}
			t.Run(order, func(t *testing.T) {
				wf, r1, r2 := fmt.Sprintf("ccw-%d-%s", i, uuid.NewString()), uuid.NewString(), uuid.NewString()
				ccCreate(ctx, t, store, shard, wf, r1, true)
				filter := sqlplugin.CurrentExecutionsFilter{ShardID: shard, NamespaceID: primitives.MustParseUUID(rcNamespace), WorkflowID: wf, ArchetypeID: chasm.WorkflowArchetypeID}
				before, err := db.SelectFromCurrentExecutions(ctx, filter)
				if err != nil {
					t.Fatal(err)
				}
				actx := dsql.WithCurrentCheck(ctx, shard, rcNamespace, wf, r1)
				tx, err := db.BeginTx(actx)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = tx.Rollback() }()
				writeB := func() {
					done := make(chan error, 1)
					go func() {
						row := *before
						row.RunID, row.LastWriteVersion = primitives.MustParseUUID(r2), 8
						_, err := dbB.UpdateCurrentExecutions(ctx, &row)
						done <- err
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
				got, err := tx.LockCurrentExecutions(actx, filter)
				if err != nil || got.RunID.String() != r1 {
					t.Fatalf("A's deferred check returned (%v, %v); want run %s at once", got, err, r1)
				}
				upd := *before
				upd.LastWriteVersion = 99
				if _, err := tx.UpdateCurrentExecutions(actx, &upd); err != nil {
					t.Fatal(err)
				}
				if i == 1 {
					// A's batch (BEGIN, lock, check, update, this read) goes out; then B.
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
				after, err := db.SelectFromCurrentExecutions(ctx, filter)
				if err != nil || after.RunID.String() != r2 || after.LastWriteVersion != 8 {
					t.Fatalf("after both: %+v, %v; want B's row only (run %s, last write version 8)", after, err, r2)
				}
			})
		}
	})
}
