package persistencetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/common"
	"go.temporal.io/server/common/backoff"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics/metricstest"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/serialization"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/common/resolver"

	"temporal-dsql/server/dsql"
)

type withCounters interface{ Counters() *dsql.Counters }

func counters(t *testing.T, db sqlplugin.DB) *dsql.Counters {
	c, ok := db.(withCounters)
	if !ok {
		t.Fatalf("db %T is not the dsql plugin", db)
	}
	return c.Counters()
}

// TestShardFencingTwoOwners races two shard owners. Owner A has begun an execution write
// (its snapshot is taken) when owner B takes the shard over (range_id 1 -> 2) and commits.
// With the plugin's shard read (FOR UPDATE), A's write must never commit: the read or the
// commit fails with 40001 (PostgreSQL reports it at the locking read, DSQL at COMMIT).
// The control case does the same with a plain read of the shard row, which is what a
// FOR SHARE-less port would do: A sees the stale range_id 1 and its write commits — the
// lost-fencing bug this plugin exists to avoid.
func TestShardFencingTwoOwners(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		db := newDB(t, b.fresh(t))
		const shardID = 7
		if _, err := db.InsertIntoShards(ctx, &sqlplugin.ShardsRow{ShardID: shardID, RangeID: 1, Data: []byte("s"), DataEncoding: "Proto3"}); err != nil {
			t.Fatal(err)
		}
		newExecution := func() sqlplugin.ExecutionsRow {
			row := sqlplugin.ExecutionsRow{
				ShardID: shardID, NamespaceID: primitives.NewUUID(), WorkflowID: "wf-" + uuid.NewString(), RunID: primitives.NewUUID(),
				NextEventID: 1, Data: []byte("d"), DataEncoding: "Proto3", State: []byte("s"), StateEncoding: "Proto3", DBRecordVersion: 1,
			}
			if _, err := db.InsertIntoExecutions(ctx, &row); err != nil {
				t.Fatal(err)
			}
			return row
		}
		race := func(t *testing.T, readShard func(tx sqlplugin.Tx) (int64, error), rangeBefore, rangeAfter int64) (readErr, commitErr error, row sqlplugin.ExecutionsRow) {
			row = newExecution()
			tx, err := db.BeginTx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			filter := sqlplugin.ExecutionsFilter{ShardID: row.ShardID, NamespaceID: row.NamespaceID, WorkflowID: row.WorkflowID, RunID: row.RunID}
			// A's first statement takes its snapshot.
			if _, err := tx.SelectFromExecutions(ctx, filter); err != nil {
				t.Fatal(err)
			}
			// B takes the shard over and commits.
			if _, err := db.UpdateShards(ctx, &sqlplugin.ShardsRow{ShardID: shardID, RangeID: rangeAfter, Data: []byte("s"), DataEncoding: "Proto3"}); err != nil {
				t.Fatal(err)
			}
			rangeID, readErr := readShard(tx)
			if readErr != nil {
				_ = tx.Rollback()
				return readErr, nil, row
			}
			if rangeID != rangeBefore {
				t.Fatalf("A read range_id %d, want the stale %d from its snapshot", rangeID, rangeBefore)
			}
			upd := row
			upd.NextEventID = 99
			upd.DBRecordVersion = 2
			if _, err := tx.UpdateExecutions(ctx, &upd); err != nil {
				_ = tx.Rollback()
				return nil, err, row
			}
			return nil, tx.Commit(), row
		}
		stored := func(row sqlplugin.ExecutionsRow) int64 {
			got, err := db.SelectFromExecutions(ctx, sqlplugin.ExecutionsFilter{ShardID: row.ShardID, NamespaceID: row.NamespaceID, WorkflowID: row.WorkflowID, RunID: row.RunID})
			if err != nil {
				t.Fatal(err)
			}
			return got.NextEventID
		}

		t.Run("plugin read fences the stale owner", func(t *testing.T) {
			readErr, commitErr, row := race(t, func(tx sqlplugin.Tx) (int64, error) {
				return tx.ReadLockShards(ctx, sqlplugin.ShardsFilter{ShardID: shardID})
			}, 1, 2)
			if readErr == nil && commitErr == nil {
				t.Fatal("the stale owner's write committed")
			}
			err := readErr
			if err == nil {
				err = commitErr
			}
			if !dsql.IsConflict(err) {
				t.Fatalf("stale owner failed with %v, want SQLSTATE 40001", err)
			}
			if n := stored(row); n != 1 {
				t.Fatalf("execution next_event_id = %d after the fenced write, want 1", n)
			}
		})
		t.Run("control: a plain read does not fence", func(t *testing.T) {
			readErr, commitErr, row := race(t, func(tx sqlplugin.Tx) (int64, error) {
				rows, err := tx.SelectFromShards(ctx, sqlplugin.ShardsFilter{ShardID: shardID})
				if err != nil {
					return 0, err
				}
				return rows.RangeID, nil
			}, 2, 3)
			if readErr != nil || commitErr != nil {
				t.Fatalf("control transaction failed (read %v, commit %v); the hazard it demonstrates did not occur", readErr, commitErr)
			}
			if n := stored(row); n != 99 {
				t.Fatalf("control: next_event_id = %d, want the stale owner's 99", n)
			}
		})
	})
}

// TestOCCInjection uses dsql-local's fault injection. Statements outside a transaction
// that conflict are retried in the plugin and complete; a statement that keeps conflicting
// gives up with 40001 after the configured attempts; conflicting COMMITs of shard updates
// reach Temporal as serviceerror.Unavailable, which its persistence retry layer retries,
// and every update completes.
func TestOCCInjection(t *testing.T) {
	b := dsqlLocalBackend()
	cfg := b.fresh(t)
	d := startDSQLLocal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Cleanup(func() { _ = d.Control(context.Background(), "DELETE", "/faults", nil) })
	db := newDB(t, cfg)
	c := counters(t, db)

	t.Run("statement retried in the plugin", func(t *testing.T) {
		if err := d.Control(ctx, "POST", "/faults/statements", map[string]any{"pattern": "^INSERT INTO queue_metadata", "code": "OC000", "times": 3}); err != nil {
			t.Fatal(err)
		}
		before := c.Retries.Load()
		_, err := db.InsertIntoQueueMetadata(ctx, &sqlplugin.QueueMetadataRow{QueueType: persistence.NamespaceReplicationQueueType, Data: []byte("x"), DataEncoding: "Proto3"})
		if err != nil {
			t.Fatalf("insert after 3 injected conflicts: %v", err)
		}
		if got := c.Retries.Load() - before; got != 3 {
			t.Fatalf("plugin retried %d times, want 3", got)
		}
	})
	t.Run("retries exhausted", func(t *testing.T) {
		if err := d.Control(ctx, "POST", "/faults/statements", map[string]any{"pattern": "^INSERT INTO queue_metadata", "code": "OC001", "times": 50}); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = d.Control(ctx, "DELETE", "/faults", nil) }()
		before := c.Exhausted.Load()
		_, err := db.InsertIntoQueueMetadata(ctx, &sqlplugin.QueueMetadataRow{QueueType: persistence.NamespaceReplicationQueueType + 1, Data: []byte("x"), DataEncoding: "Proto3"})
		if !dsql.IsConflict(err) {
			t.Fatalf("want 40001 after the last retry, got %v", err)
		}
		if c.Exhausted.Load() != before+1 {
			t.Fatal("exhausted-retries counter did not move")
		}
	})
	t.Run("commit conflicts surface as retryable and complete", func(t *testing.T) {
		mh := metricstest.NewCaptureHandler()
		capture := mh.StartCapture()
		defer mh.StopCapture(capture)
		f := sql.NewFactory(*cfg, resolver.NewNoopResolver(), "active", log.NewTestLogger(), mh, serialization.NewSerializer())
		defer f.Close()
		ss, err := f.NewShardStore()
		if err != nil {
			t.Fatal(err)
		}
		const shardID = 3
		if _, err := ss.GetOrCreateShard(ctx, &persistence.InternalGetOrCreateShardRequest{ShardID: shardID, CreateShardInfo: func() (int64, *commonpb.DataBlob, error) {
			return 1, persistence.NewDataBlob([]byte("info"), enumspb.ENCODING_TYPE_PROTO3.String()), nil
		}}); err != nil {
			t.Fatal(err)
		}
		if err := d.Control(ctx, "POST", "/faults/commits", map[string]any{"fraction": 0.5, "code": "OC000"}); err != nil {
			t.Fatal(err)
		}
		policy := backoff.NewExponentialRetryPolicy(5 * time.Millisecond).WithMaximumInterval(50 * time.Millisecond).WithMaximumAttempts(40)
		unavailable := 0
		for i := int64(1); i <= 20; i++ {
			req := &persistence.InternalUpdateShardRequest{ShardID: shardID, RangeID: i + 1, PreviousRangeID: i, ShardInfo: persistence.NewDataBlob([]byte(fmt.Sprint(i)), enumspb.ENCODING_TYPE_PROTO3.String())}
			err := backoff.ThrottleRetryContext(ctx, func(ctx context.Context) error {
				err := ss.UpdateShard(ctx, req)
				var u *serviceerror.Unavailable
				if errors.As(err, &u) {
					unavailable++
				}
				return err
			}, policy, common.IsPersistenceTransientError)
			if err != nil {
				t.Fatalf("update %d did not complete: %v", i, err)
			}
		}
		if unavailable == 0 {
			t.Fatal("no injected commit conflict reached the store: the test proved nothing")
		}
		var commitConflicts int
		for _, r := range capture.Snapshot()["dsql_occ_conflicts"] {
			if r.Tags["where"] == "commit" {
				commitConflicts++
			}
		}
		if commitConflicts != unavailable {
			t.Fatalf("server metric dsql_occ_conflicts{where=commit} recorded %d, want %d", commitConflicts, unavailable)
		}
		t.Logf("20 shard updates completed; %d commit conflicts surfaced as Unavailable, were retried, and were counted in dsql_occ_conflicts", unavailable)
	})
}
