package persistencetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/serialization"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/primitives"
	"google.golang.org/protobuf/testing/protocmp"
)

// TestMutableStateLoadInOneRoundTrip: upstream's GetWorkflowExecution reads the execution row
// and seven maps and sets one read each; with pipelining on, our plugin sends those eight reads
// as one batch (the CHASM node read stays separate): 2 round trips instead of 9, counted by
// dsql-local, and the loaded state is the same.
func TestMutableStateLoadInOneRoundTrip(t *testing.T) {
	b := dsqlLocalBackend()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := b.fresh(t)
	d := startDSQLLocal(t)
	var states []*persistence.InternalWorkflowMutableState
	for _, tc := range []struct {
		pipeline   bool
		shard      int32
		roundTrips int64
	}{{false, 51, 9}, {true, 52, 2}} {
		db := newDB(t, withPipeline(base, tc.pipeline))
		f := newPipelineFixture(t, ctx, db, tc.shard)
		key := func() (int32, primitives.UUID, string, primitives.UUID) {
			return f.shardID, f.exec.NamespaceID, f.exec.WorkflowID, f.exec.RunID
		}
		shard, ns, wf, run := key()
		if _, err := db.ReplaceIntoActivityInfoMaps(ctx, []sqlplugin.ActivityInfoMapsRow{{ShardID: shard, NamespaceID: ns, WorkflowID: wf, RunID: run, ScheduleID: 5, Data: []byte("a5"), DataEncoding: "Proto3"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ReplaceIntoTimerInfoMaps(ctx, []sqlplugin.TimerInfoMapsRow{{ShardID: shard, NamespaceID: ns, WorkflowID: wf, RunID: run, TimerID: "t1", Data: []byte("t"), DataEncoding: "Proto3"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ReplaceIntoSignalsRequestedSets(ctx, []sqlplugin.SignalsRequestedSetsRow{{ShardID: shard, NamespaceID: ns, WorkflowID: wf, RunID: run, SignalID: "s1"}}); err != nil {
			t.Fatal(err)
		}
		store, err := sql.NewSQLExecutionStore(db, log.NewTestLogger(), serialization.NewSerializer())
		if err != nil {
			t.Fatal(err)
		}
		req := &persistence.GetWorkflowExecutionRequest{ShardID: shard, NamespaceID: primitives.UUIDString(ns), WorkflowID: wf, RunID: primitives.UUIDString(run)}
		if _, err := store.GetWorkflowExecution(ctx, req); err != nil { // warm the statement cache
			t.Fatalf("pipeline=%v: %v", tc.pipeline, err)
		}
		var resp *persistence.InternalGetWorkflowExecutionResponse
		delta, err := statsDelta(t, ctx, d, func() (err error) {
			resp, err = store.GetWorkflowExecution(ctx, req)
			return err
		})
		if err != nil {
			t.Fatalf("pipeline=%v: %v", tc.pipeline, err)
		}
		if got := delta.RoundTrips; got != tc.roundTrips {
			t.Errorf("pipeline=%v: loading the mutable state took %d round trips, want %d", tc.pipeline, got, tc.roundTrips)
		}
		st := resp.State
		if len(st.ActivityInfos) != 1 || string(st.ActivityInfos[5].Data) != "a5" || len(st.TimerInfos) != 1 || len(st.SignalRequestedIDs) != 1 || st.NextEventID != 1 {
			t.Errorf("pipeline=%v: loaded state %+v", tc.pipeline, st)
		}
		states = append(states, st)
		// A missing run is still upstream's NotFound.
		missing := *req
		missing.RunID = primitives.NewUUID().String()
		if _, err := store.GetWorkflowExecution(ctx, &missing); err == nil {
			t.Errorf("pipeline=%v: a missing run loaded without error", tc.pipeline)
		}
	}
	if diff := cmp.Diff(states[0], states[1], protocmp.Transform()); diff != "" {
		t.Errorf("the state loaded with pipelining differs (-off +on):\n%s", diff)
	}
}

// TestPrefetchRetryAfterFailedBatchReadsFreshMaps (issue 22, item 4): a load keeps its map
// results for the reads that follow with the same context. If a later load of the run with the
// same context (a retry) finds its batch failing, it reads upstream's way, and its map reads
// must see the rows as they are now, not the earlier load's kept results.
func TestPrefetchRetryAfterFailedBatchReadsFreshMaps(t *testing.T) {
	b := dsqlLocalBackend()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := b.fresh(t)
	d := startDSQLLocal(t)
	cfg := withPipeline(base, true)
	cfg.ConnectAttributes["retryAttempts"] = "1"
	db := newDB(t, cfg)
	f := newPipelineFixture(t, ctx, db, 53)
	row := func(id int64) []sqlplugin.ActivityInfoMapsRow {
		return []sqlplugin.ActivityInfoMapsRow{{ShardID: f.shardID, NamespaceID: f.exec.NamespaceID, WorkflowID: f.exec.WorkflowID, RunID: f.exec.RunID, ScheduleID: id, Data: []byte("a"), DataEncoding: "Proto3"}}
	}
	if _, err := db.ReplaceIntoActivityInfoMaps(ctx, row(5)); err != nil {
		t.Fatal(err)
	}
	load := context.WithValue(ctx, struct{ name string }{"load"}, 1)
	filter := sqlplugin.ExecutionsFilter{ShardID: f.shardID, NamespaceID: f.exec.NamespaceID, WorkflowID: f.exec.WorkflowID, RunID: f.exec.RunID}
	if _, err := db.SelectFromExecutions(load, filter); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ReplaceIntoActivityInfoMaps(ctx, row(6)); err != nil {
		t.Fatal(err)
	}
	// The next batch fails (its execution read gets OC000; one attempt), upstream's read runs.
	if err := d.Control(ctx, "POST", "/faults/statements", map[string]any{"pattern": `next_event_id, last_write_version, data, data_encoding, state, state_encoding, db_record_version\s+FROM executions`, "code": "OC000", "times": 1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Control(context.Background(), "DELETE", "/faults", nil) })
	if _, err := db.SelectFromExecutions(load, filter); err != nil {
		t.Fatalf("the retried load: %v", err)
	}
	got, err := db.SelectAllFromActivityInfoMaps(load, sqlplugin.ActivityInfoMapsAllFilter{ShardID: f.shardID, NamespaceID: f.exec.NamespaceID, WorkflowID: f.exec.WorkflowID, RunID: f.exec.RunID})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("the retry after a failed batch read %d activity rows, want the 2 in the table (1 = the earlier load's kept result)", len(got))
	}
}
