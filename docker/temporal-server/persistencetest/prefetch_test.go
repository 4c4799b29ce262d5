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

	"temporal-dsql/server/dsql"
)

// TestMutableStateLoadInOneRoundTrip: upstream's GetWorkflowExecution reads the execution row
// and seven maps and sets one read each; through the plugin's LoadBatchingExecutionStore with
// pipelining on, those eight reads go as one batch (the CHASM node read stays separate): 2 round
// trips instead of 9, counted by dsql-local, and the loaded state is the same. The batch is only
// ever taken on that named path: upstream's store used directly, pipelining on, takes 9.
func TestMutableStateLoadInOneRoundTrip(t *testing.T) {
	b := dsqlLocalBackend()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := b.fresh(t)
	d := startDSQLLocal(t)
	var states []*persistence.InternalWorkflowMutableState
	for _, tc := range []struct {
		pipeline, batching bool
		shard              int32
		roundTrips         int64
	}{{false, true, 51, 9}, {true, true, 52, 2}, {true, false, 54, 9}} {
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
		var store persistence.ExecutionStore
		store, err := sql.NewSQLExecutionStore(db, log.NewTestLogger(), serialization.NewSerializer())
		if err != nil {
			t.Fatal(err)
		}
		if tc.batching {
			store = dsql.NewLoadBatchingExecutionStore(store)
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
			t.Errorf("pipeline=%v batching store=%v: loading the mutable state took %d round trips, want %d", tc.pipeline, tc.batching, got, tc.roundTrips)
		}
		// The same nine statements either way: the batch replaces upstream's reads, never adds to them.
		if got := delta.Statements; got != 9 {
			t.Errorf("pipeline=%v batching store=%v: loading the mutable state sent %d statements, want 9", tc.pipeline, tc.batching, got)
		}
		st := resp.State
		if len(st.ActivityInfos) != 1 || string(st.ActivityInfos[5].Data) != "a5" || len(st.TimerInfos) != 1 || len(st.SignalRequestedIDs) != 1 || st.NextEventID != 1 {
			t.Errorf("pipeline=%v: loaded state %+v", tc.pipeline, st)
		}
		states = append(states, st)
		// Two loads (warm-up and measured) of seven map reads each; counted only when batched.
		counters := db.(interface{ Counters() *dsql.Counters }).Counters()
		wantHits := map[bool]int64{true: 14, false: 0}[tc.pipeline && tc.batching]
		if h, m := counters.PrefetchHits.Load(), counters.PrefetchMisses.Load(); h != wantHits || m != 0 {
			t.Errorf("pipeline=%v batching store=%v: %d prefetch hits, %d misses; want %d and 0", tc.pipeline, tc.batching, h, m, wantHits)
		}
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
	if diff := cmp.Diff(states[2], states[1], protocmp.Transform()); diff != "" {
		t.Errorf("the state loaded in one batch differs from upstream's reads (-upstream +batch):\n%s", diff)
	}
}

// TestPrefetchRetryAfterFailedBatchReadsFreshMaps (issue 22, item 4): a load keeps its map
// results in itself, for its own reads only. A later load of the run (a retry is a new call)
// whose batch fails reads upstream's way and must see the rows as they are now, never an
// earlier load's results; its seven map reads count as misses.
func TestPrefetchRetryAfterFailedBatchReadsFreshMaps(t *testing.T) {
	b := dsqlLocalBackend()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := b.fresh(t)
	d := startDSQLLocal(t)
	cfg := withPipeline(base, true)
	cfg.ConnectAttributes["retryAttempts"] = "1"
	db := newDB(t, cfg)
	counters := db.(interface{ Counters() *dsql.Counters }).Counters()
	f := newPipelineFixture(t, ctx, db, 53)
	row := func(id int64) []sqlplugin.ActivityInfoMapsRow {
		return []sqlplugin.ActivityInfoMapsRow{{ShardID: f.shardID, NamespaceID: f.exec.NamespaceID, WorkflowID: f.exec.WorkflowID, RunID: f.exec.RunID, ScheduleID: id, Data: []byte("a"), DataEncoding: "Proto3"}}
	}
	if _, err := db.ReplaceIntoActivityInfoMaps(ctx, row(5)); err != nil {
		t.Fatal(err)
	}
	upstream, err := sql.NewSQLExecutionStore(db, log.NewTestLogger(), serialization.NewSerializer())
	if err != nil {
		t.Fatal(err)
	}
	store := dsql.NewLoadBatchingExecutionStore(upstream)
	req := &persistence.GetWorkflowExecutionRequest{ShardID: f.shardID, NamespaceID: primitives.UUIDString(f.exec.NamespaceID), WorkflowID: f.exec.WorkflowID, RunID: primitives.UUIDString(f.exec.RunID)}
	first, err := store.GetWorkflowExecution(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(first.State.ActivityInfos); n != 1 {
		t.Fatalf("first load: %d activities, want 1", n)
	}
	hits, misses := counters.PrefetchHits.Load(), counters.PrefetchMisses.Load()
	if hits != 7 || misses != 0 {
		t.Fatalf("first load: %d hits, %d misses; want 7 and 0", hits, misses)
	}
	if _, err := db.ReplaceIntoActivityInfoMaps(ctx, row(6)); err != nil {
		t.Fatal(err)
	}
	// The next batch fails (its execution read gets OC000; one attempt), upstream's read runs.
	if err := d.Control(ctx, "POST", "/faults/statements", map[string]any{"pattern": `next_event_id, last_write_version, data, data_encoding, state, state_encoding, db_record_version\s+FROM executions`, "code": "OC000", "times": 1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Control(context.Background(), "DELETE", "/faults", nil) })
	second, err := store.GetWorkflowExecution(ctx, req)
	if err != nil {
		t.Fatalf("the load after a failed batch: %v", err)
	}
	if n := len(second.State.ActivityInfos); n != 2 {
		t.Fatalf("the load after a failed batch read %d activity rows, want the 2 in the table (1 = the earlier load's result)", n)
	}
	if h, m := counters.PrefetchHits.Load()-hits, counters.PrefetchMisses.Load()-misses; h != 0 || m != 7 {
		t.Fatalf("the load after a failed batch: %d hits, %d misses; want 0 and 7", h, m)
	}
}
