package persistencetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"temporal-dsql/server/internal/testenv"
)

// TestCommitObservesDeadline (issue 22, item 2): a transaction whose write waits on a row held
// by another session returns at its caller's deadline, pipelined (the write goes with COMMIT in
// one batch, which used to be sent with context.Background) or not (the write is a statement
// of its own). dsql-local runs here with --concurrency=postgres: in its default (DSQL) mode it
// never lets a statement wait, it wounds the holder instead, so nothing would wait on anything.
// The holder inserts the transfer task the transaction inserts and keeps its own
// transaction open for 10 s; PostgreSQL behind dsql-local makes the second insert of that key
// wait for it. The check that the wait ended by the deadline and not by the holder: the call
// took at least 0.9 s (it did wait) and under 2 s (the holder still had 8 s to go), and its
// error is the context's, not a conflict.
func TestCommitObservesDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d, err := testenv.StartDSQLLocal(ctx, "--concurrency=postgres", "--stale-schema-oc001=false")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	admin, err := d.ConnectAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testenv.ApplySchema(ctx, admin, testenv.DialectDSQL, "postgres"); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	if err := grantServerRole(ctx, d); err != nil {
		t.Fatal(err)
	}
	ak, sk, _, err := d.Credential("temporal-server")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", ak)
	t.Setenv("AWS_SECRET_ACCESS_KEY", sk)
	base := dsqlLocalConfig(d)
	for _, tc := range []struct {
		pipeline bool
		shard    int32
	}{{false, 31}, {true, 32}} {
		db := newDB(t, withPipeline(base, tc.pipeline))
		f := newPipelineFixture(t, ctx, db, tc.shard)
		holder, err := d.ConnectAdmin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		htx, err := holder.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := htx.Exec(ctx, `INSERT INTO transfer_tasks (shard_id, task_id, data, data_encoding) VALUES ($1, 500, 'x', 'Proto3')`, tc.shard); err != nil {
			t.Fatal(err)
		}
		released := time.AfterFunc(10*time.Second, func() { _ = htx.Rollback(context.Background()) })
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		began := time.Now()
		err = f.mutate(cctx, db, 2, 500)
		took := time.Since(began)
		ccancel()
		released.Stop()
		_ = htx.Rollback(ctx)
		holder.Close(ctx)
		t.Logf("pipeline=%v: returned after %v: %v", tc.pipeline, took.Round(time.Millisecond), err)
		if err == nil {
			t.Fatalf("pipeline=%v: the transaction committed although its row was held", tc.pipeline)
		}
		if took < 900*time.Millisecond || took > 2*time.Second {
			t.Fatalf("pipeline=%v: returned after %v, want between 0.9 s (it waited on the held row) and 2 s (its 1 s deadline): %v", tc.pipeline, took, err)
		}
		if !errors.Is(err, context.DeadlineExceeded) && cctx.Err() == nil {
			t.Fatalf("pipeline=%v: error %v is not the deadline's", tc.pipeline, err)
		}
		// The connection is usable afterwards.
		if err := f.mutate(ctx, db, 2, 600); err != nil {
			t.Fatalf("pipeline=%v: the next transaction on the pool: %v", tc.pipeline, err)
		}
	}
}

// TestDeferredConflictCountedOnce (issue 22, item 6): a deferred write of a pipelined
// transaction that fails with 40001 in the COMMIT batch counts one conflict in
// dsql_occ_conflicts (it used to count once as the statement and again as COMMIT).
func TestDeferredConflictCountedOnce(t *testing.T) {
	b := dsqlLocalBackend()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := b.fresh(t)
	d := startDSQLLocal(t)
	db := newDB(t, withPipeline(base, true))
	f := newPipelineFixture(t, ctx, db, 33)
	before := counters(t, db).Conflicts.Load()
	if err := d.Control(ctx, "POST", "/faults/statements", map[string]any{"pattern": `^UPDATE executions SET`, "code": "OC000", "times": 1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Control(context.Background(), "DELETE", "/faults", nil) })
	err := f.mutate(ctx, db, 2, 700)
	if err == nil {
		t.Fatal("the transaction committed although its deferred UPDATE was failed with OC000")
	}
	if got := counters(t, db).Conflicts.Load() - before; got != 1 {
		t.Fatalf("one deferred conflict counted %d times (%v)", got, err)
	}
}
