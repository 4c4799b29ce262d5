package persistencetest

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/chasm"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics/metricstest"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/resolver"

	"temporal-dsql/server/dsql"
)

// TestBulkDeleteNeverWaitsOnASecondPoolConnection (issue 22, item 3): with one pool
// connection (MaxConns=1) and a burst of concurrent DeleteWorkflowExecution calls larger than
// the pool, every call finishes well within its deadline and a probe read between them is
// answered. Upstream's DeleteWorkflowExecution runs the whole-run map deletes inside a
// transaction; the plugin runs them as chunks outside it. If the chunks took a second
// connection of the same pool while the transaction held the first, one call would already
// wait for itself until its deadline.
func TestBulkDeleteNeverWaitsOnASecondPoolConnection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		cfg := b.fresh(t)
		one := *cfg
		one.MaxConns = 1
		c := rawConn(t, b, cfg.DatabaseName)
		upstreamStore, err := newFactory(t, &one).NewExecutionStore()
		if err != nil {
			t.Fatal(err)
		}
		store := dsql.WrapExecutionStore(upstreamStore, nil, nil) // as the server wires it: deletes in chunks
		const shard, burst = int32(3), 6
		ns := uuid.New()
		runs := make([]uuid.UUID, burst)
		for i := range runs {
			runs[i] = uuid.New()
			if _, err := c.Exec(context.Background(), `INSERT INTO executions (shard_id, namespace_id, workflow_id, run_id, next_event_id, last_write_version, data, data_encoding, state, state_encoding, db_record_version)
 VALUES ($1, $2, $3, $4, 10, 0, '\x00', 'Proto3', '\x00', 'Proto3', 1)`, shard, ns, fmt.Sprint("wf-", i), runs[i]); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Exec(context.Background(), runTables[0].ins, 0, 49, shard, ns, fmt.Sprint("wf-", i), runs[i]); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, burst)
		took := make([]time.Duration, burst)
		for i := range runs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				began := time.Now()
				errs[i] = store.DeleteWorkflowExecution(ctx, &persistence.DeleteWorkflowExecutionRequest{
					ShardID: shard, NamespaceID: ns.String(), WorkflowID: fmt.Sprint("wf-", i), RunID: runs[i].String(),
				})
				took[i] = time.Since(began)
			}(i)
		}
		// The probe: a read on the same pool while the deletes run; "not found" is its answer.
		pctx, pcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, perr := store.GetCurrentExecution(pctx, &persistence.GetCurrentExecutionRequest{ShardID: shard, NamespaceID: ns.String(), WorkflowID: "probe", ArchetypeID: chasm.WorkflowArchetypeID})
		probeTimedOut := pctx.Err() != nil
		pcancel()
		wg.Wait()
		if _, ok := perr.(*serviceerror.NotFound); !ok || probeTimedOut {
			t.Errorf("the probe read answered %T %v (deadline passed: %v), want NotFound in time", perr, perr, probeTimedOut)
		}
		for i, err := range errs {
			if err != nil {
				t.Errorf("DeleteWorkflowExecution %d of %d (pool of 1) after %v: %v", i+1, burst, took[i].Round(time.Millisecond), err)
			}
		}
		for i := range runs {
			for table, n := range runRows(t, c, shard, ns, fmt.Sprint("wf-", i), runs[i]) {
				if n != 0 {
					t.Errorf("run %d: %d rows of %s remain", i, n, table)
				}
			}
		}
		t.Logf("%s: %d concurrent deletes on a pool of 1: slowest %v", b.name, burst, maxDur(took).Round(time.Millisecond))
	})
}

func maxDur(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// TestPoolWaitsAreExported (issue 22, item 6): a call that waits for a pool connection is
// counted in dsql_pool_waits{pool="main"} and its wait in dsql_pool_wait_ms, as the plugin's
// pool sampler reads database/sql's statistics (dsql/poolstats.go). With MaxConns=1 a
// transaction holds the only connection for 300 ms while a read waits for it.
func TestPoolWaitsAreExported(t *testing.T) {
	const hold = 300 * time.Millisecond
	forEachBackend(t, func(t *testing.T, b backend) {
		cfg := *b.fresh(t)
		cfg.MaxConns = 1
		h := metricstest.NewCaptureHandler()
		capture := h.StartCapture()
		defer h.StopCapture(capture)
		db, err := sql.NewSQLDB(sqlplugin.DbKindMain, &cfg, resolver.NewNoopResolver(), log.NewTestLogger(), h)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = db.Close() }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		tx, err := db.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := db.SelectFromShards(ctx, sqlplugin.ShardsFilter{ShardID: 1})
			done <- err
		}()
		time.Sleep(hold)
		_ = tx.Rollback()
		if err := <-done; err != nil && !errors.Is(err, stdsql.ErrNoRows) {
			t.Fatalf("the waiting read: %v", err)
		}
		counters := db.(interface{ Counters() *dsql.Counters }).Counters()
		sum := func(name string) (total int64) {
			for _, r := range capture.Snapshot()[name] {
				if r.Tags["pool"] == "main" {
					total += r.Value.(int64)
				}
			}
			return total
		}
		deadline := time.Now().Add(3 * dsql.PoolStatsInterval)
		for time.Now().Before(deadline) && sum("dsql_pool_waits") < 1 {
			time.Sleep(100 * time.Millisecond)
		}
		if n := counters.PoolWaits.Load(); n != 1 {
			t.Errorf("PoolWaits = %d, want 1 (one read waited)", n)
		}
		if w := time.Duration(counters.PoolWaitNanos.Load()); w < hold-50*time.Millisecond {
			t.Errorf("PoolWaitNanos = %v, want about %v", w, hold)
		}
		if n := sum("dsql_pool_waits"); n != 1 {
			t.Errorf("dsql_pool_waits{pool=main} recorded %d in total, want 1", n)
		}
		if ms := sum("dsql_pool_wait_ms"); ms < (hold - 50*time.Millisecond).Milliseconds() {
			t.Errorf("dsql_pool_wait_ms{pool=main} recorded %d in total, want about %d", ms, hold.Milliseconds())
		}
		if len(capture.Snapshot()["dsql_pool_connections_max"]) == 0 {
			t.Errorf("no dsql_pool_connections_max gauge recorded")
		}
	})
}
