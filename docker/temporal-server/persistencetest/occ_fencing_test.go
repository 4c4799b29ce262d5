package persistencetest

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/server/common/persistence/sql/sqlplugin"

	"temporal-dsql/server/dsql"
)

// TestShardFencingBothOpen is the case PostgreSQL's row locks used to hide: the stale owner A
// holds the shard row (its fencing read, FOR UPDATE) in an open execution write when the new
// owner B bumps range_id. On Aurora DSQL nobody waits: B's update commits at once and A's
// transaction fails with 40001, so A's write never lands. dsql-local (--concurrency=dsql, its
// default) reproduces that; on plain PostgreSQL B would wait for A, so this runs on dsql-local
// only. A wait would show as B's update not finishing before A's transaction ends, which the
// test never lets happen (A only ends after B's update returned or the deadline passed).
func TestShardFencingBothOpen(t *testing.T) {
	b := dsqlLocalBackend()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := newDB(t, b.fresh(t))
	f := newPipelineFixture(t, ctx, db, 11)
	shardID, row := f.shardID, f.exec

	// A: the fencing read, then its write, transaction left open.
	tx, err := db.BeginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	rangeID, err := tx.ReadLockShards(ctx, sqlplugin.ShardsFilter{ShardID: shardID})
	if err != nil || rangeID != 1 {
		t.Fatalf("A's fencing read = %d, %v; want range_id 1", rangeID, err)
	}
	upd := row
	upd.NextEventID, upd.DBRecordVersion = 99, 2
	if _, err := tx.UpdateExecutions(ctx, &upd); err != nil {
		t.Fatalf("A's write: %v", err)
	}

	// B takes the shard over while A is open: it must not wait for A.
	done := make(chan error, 1)
	go func() {
		_, err := db.UpdateShards(ctx, &sqlplugin.ShardsRow{ShardID: shardID, RangeID: 2, Data: []byte("s"), DataEncoding: "Proto3"})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("B's range_id update failed: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("B's range_id update waited for the stale owner's open transaction")
	}

	// A's commit fails with a conflict; nothing of its write is stored.
	if err := tx.Commit(); !dsql.IsConflict(err) {
		t.Fatalf("stale owner's COMMIT = %v, want SQLSTATE 40001", err)
	}
	shard, err := db.SelectFromShards(ctx, sqlplugin.ShardsFilter{ShardID: shardID})
	if err != nil || shard.RangeID != 2 {
		t.Fatalf("shard after takeover = %+v, %v; want range_id 2", shard, err)
	}
	got, err := db.SelectFromExecutions(ctx, sqlplugin.ExecutionsFilter{ShardID: row.ShardID, NamespaceID: row.NamespaceID, WorkflowID: row.WorkflowID, RunID: row.RunID})
	if err != nil || got.NextEventID != 1 {
		t.Fatalf("execution after the fenced write: next_event_id %d, %v; want 1", got.NextEventID, err)
	}
}
