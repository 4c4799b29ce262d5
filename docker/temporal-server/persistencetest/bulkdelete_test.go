package persistencetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	persistencespb "go.temporal.io/server/api/persistence/v1"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/primitives"

	"temporal-dsql/server/dsql"
)

// The bulk deletes that upstream runs in one transaction, past DSQL's 3,000 rows per
// transaction, through Temporal's own SQL stores on our plugin (dsql/bulkdelete.go). On
// dsql-local (row limit 3,000 on) each case first asserts the premise: the same delete in
// one transaction is refused with 54000.

// rawConn opens a direct connection to the backend's database for seeding and counting
// (PostgreSQL: the test database; dsql-local: the admin role).
func rawConn(t *testing.T, b backend, database string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var c *pgx.Conn
	var err error
	if b.name == "postgres" {
		c, err = pg.Connect(ctx, database)
	} else {
		c, err = dl.ConnectAdmin(ctx)
	}
	if err != nil {
		t.Fatalf("connecting for seeding: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// seed runs an INSERT ... SELECT over generate_series(lo, hi) in transactions of at most
// 1,000 rows (so seeding itself stays under the limit). query has $1 = lo, $2 = hi and may
// use more arguments.
func seed(t *testing.T, c *pgx.Conn, n int, query string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for lo := 0; lo < n; lo += 1000 {
		hi := min(lo+1000, n) - 1
		if _, err := c.Exec(ctx, query, append([]any{lo, hi}, args...)...); err != nil {
			t.Fatalf("seeding rows %d-%d: %v", lo, hi, err)
		}
	}
}

func count(t *testing.T, c *pgx.Conn, query string, args ...any) int {
	t.Helper()
	var n int
	if err := c.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// assertOneTxRefused is the premise on dsql-local: deleting with query in ONE transaction
// changes more than 3,000 rows and is refused with 54000 (rolled back, nothing deleted).
func assertOneTxRefused(t *testing.T, b backend, c *pgx.Conn, query string, args ...any) {
	t.Helper()
	if b.name != "dsql-local" {
		return
	}
	ctx := context.Background()
	tx, err := c.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, query, args...)
	if err == nil {
		err = tx.Commit(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "54000" {
		t.Fatalf("premise: one transaction deleting the rows should fail with 54000 on dsql-local, got %v", err)
	}
}

func TestDeleteHistoryBranchOverRowLimit(t *testing.T) {
	const nodes = 3303 // 1,100 activities, as in issue 10
	forEachBackend(t, func(t *testing.T, b backend) {
		cfg := b.fresh(t)
		c := rawConn(t, b, cfg.DatabaseName)
		f := newFactory(t, cfg)
		store, err := f.NewExecutionStore()
		if err != nil {
			t.Fatal(err)
		}
		const shard = 3
		tree, branch, other := uuid.New(), uuid.New(), uuid.New()
		if _, err := c.Exec(context.Background(), `INSERT INTO history_tree (shard_id, tree_id, branch_id, data, data_encoding) VALUES ($1, $2, $3, 'x', 'Proto3'), ($1, $2, $4, 'x', 'Proto3')`, shard, tree, branch, other); err != nil {
			t.Fatal(err)
		}
		ins := `INSERT INTO history_node (shard_id, tree_id, branch_id, node_id, txn_id, prev_txn_id, data, data_encoding)
 SELECT $3, $4, $5, 1 + g * 2, g + 1, g, '\x00', 'Proto3' FROM generate_series($1::int, $2::int) AS g`
		seed(t, c, nodes, ins, shard, tree, branch)
		seed(t, c, 10, ins, shard, tree, other) // a sibling branch that must stay
		nodeCount := func(br uuid.UUID) int {
			return count(t, c, `SELECT count(*) FROM history_node WHERE shard_id = $1 AND tree_id = $2 AND branch_id = $3`, shard, tree, br)
		}
		if n := nodeCount(branch); n != nodes {
			t.Fatalf("seeded %d nodes, want %d", n, nodes)
		}
		assertOneTxRefused(t, b, c, `DELETE FROM history_node WHERE shard_id = $1 AND tree_id = $2 AND branch_id = $3`, shard, tree, branch)

		req := &persistence.InternalDeleteHistoryBranchRequest{
			ShardID:      shard,
			BranchInfo:   &persistencespb.HistoryBranch{TreeId: tree.String(), BranchId: branch.String()},
			BranchRanges: []persistence.InternalDeleteHistoryBranchRange{{BranchId: branch.String(), BeginNodeId: 1}},
		}
		start := time.Now()
		if err := store.DeleteHistoryBranch(context.Background(), req); err != nil {
			t.Fatalf("DeleteHistoryBranch of %d nodes: %v", nodes, err)
		}
		t.Logf("%s: DeleteHistoryBranch of %d history nodes took %v", b.name, nodes, time.Since(start).Round(time.Millisecond))
		if n := nodeCount(branch); n != 0 {
			t.Fatalf("%d history nodes of the deleted branch remain", n)
		}
		if n := count(t, c, `SELECT count(*) FROM history_tree WHERE shard_id = $1 AND tree_id = $2 AND branch_id = $3`, shard, tree, branch); n != 0 {
			t.Fatal("history_tree row of the deleted branch remains")
		}
		if n := nodeCount(other); n != 10 {
			t.Fatalf("sibling branch has %d nodes, want 10 untouched", n)
		}
		// Idempotent: running it again (a retried task) succeeds and changes nothing.
		if err := store.DeleteHistoryBranch(context.Background(), req); err != nil {
			t.Fatalf("second DeleteHistoryBranch: %v", err)
		}
	})
}

// runTables are the per-run tables that DeleteWorkflowExecution empties, with how many
// rows each gets in the test (3,650 together) and the seeding statement.
var runTables = []struct {
	table string
	rows  int
	ins   string
}{
	{"activity_info_maps", 1500, `INSERT INTO activity_info_maps (shard_id, namespace_id, workflow_id, run_id, schedule_id, data, data_encoding) SELECT $3, $4, $5, $6, g, '\x00', 'Proto3' FROM generate_series($1::int, $2::int) AS g`},
	{"timer_info_maps", 1200, `INSERT INTO timer_info_maps (shard_id, namespace_id, workflow_id, run_id, timer_id, data, data_encoding) SELECT $3, $4, $5, $6, 't' || g, '\x00', 'Proto3' FROM generate_series($1::int, $2::int) AS g`},
	{"signals_requested_sets", 800, `INSERT INTO signals_requested_sets (shard_id, namespace_id, workflow_id, run_id, signal_id) SELECT $3, $4, $5, $6, 's' || g FROM generate_series($1::int, $2::int) AS g`},
	{"child_execution_info_maps", 50, `INSERT INTO child_execution_info_maps (shard_id, namespace_id, workflow_id, run_id, initiated_id, data, data_encoding) SELECT $3, $4, $5, $6, g, '\x00', 'Proto3' FROM generate_series($1::int, $2::int) AS g`},
	{"request_cancel_info_maps", 50, `INSERT INTO request_cancel_info_maps (shard_id, namespace_id, workflow_id, run_id, initiated_id, data, data_encoding) SELECT $3, $4, $5, $6, g, '\x00', 'Proto3' FROM generate_series($1::int, $2::int) AS g`},
	{"signal_info_maps", 50, `INSERT INTO signal_info_maps (shard_id, namespace_id, workflow_id, run_id, initiated_id, data, data_encoding) SELECT $3, $4, $5, $6, g, '\x00', 'Proto3' FROM generate_series($1::int, $2::int) AS g`},
	{"buffered_events", 100, `INSERT INTO buffered_events (shard_id, namespace_id, workflow_id, run_id, id, data, data_encoding) SELECT $3, $4, $5, $6, g, '\x00', 'Proto3' FROM generate_series($1::int, $2::int) AS g`},
}

func seedRun(t *testing.T, c *pgx.Conn, shard int32, ns uuid.UUID, wf string, run uuid.UUID) {
	t.Helper()
	for _, rt := range runTables {
		seed(t, c, rt.rows, rt.ins, shard, ns, wf, run)
	}
}

func runRows(t *testing.T, c *pgx.Conn, shard int32, ns uuid.UUID, wf string, run uuid.UUID) map[string]int {
	out := map[string]int{}
	for _, rt := range append(runTables, struct {
		table string
		rows  int
		ins   string
	}{table: "executions"}) {
		out[rt.table] = count(t, c, fmt.Sprintf(`SELECT count(*) FROM %s WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`, rt.table), shard, ns, wf, run)
	}
	return out
}

func TestDeleteWorkflowExecutionOverRowLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		cfg := b.fresh(t)
		c := rawConn(t, b, cfg.DatabaseName)
		f := newFactory(t, cfg)
		upstreamStore, err := f.NewExecutionStore()
		if err != nil {
			t.Fatal(err)
		}
		store := dsql.WrapExecutionStore(upstreamStore, nil, nil) // as the server wires it
		const shard = int32(2)
		ns, run, keep := uuid.New(), uuid.New(), uuid.New()
		wf := "big-closed-run"
		for _, r := range []uuid.UUID{run, keep} {
			if _, err := c.Exec(context.Background(), `INSERT INTO executions (shard_id, namespace_id, workflow_id, run_id, next_event_id, last_write_version, data, data_encoding, state, state_encoding, db_record_version)
 VALUES ($1, $2, $3, $4, 6606, 0, '\x00', 'Proto3', '\x00', 'Proto3', 1)`, shard, ns, wf, r); err != nil {
				t.Fatal(err)
			}
		}
		seedRun(t, c, shard, ns, wf, run)
		if _, err := c.Exec(context.Background(), runTables[0].ins, 0, 9, shard, ns, wf, keep); err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, rt := range runTables {
			total += rt.rows
		}
		if total <= 3000 {
			t.Fatalf("test set-up: %d rows is not over the limit", total)
		}
		// Premise: the maps and the execution row in one transaction, as upstream does it.
		if b.name == "dsql-local" {
			ctx := context.Background()
			tx, err := c.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var txErr error
			for _, rt := range runTables {
				if _, txErr = tx.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`, rt.table), shard, ns, wf, run); txErr != nil {
					break
				}
			}
			_ = tx.Rollback(ctx)
			var pgErr *pgconn.PgError
			if !errors.As(txErr, &pgErr) || pgErr.Code != "54000" {
				t.Fatalf("premise: deleting %d rows of a run in one transaction should fail with 54000, got %v", total, txErr)
			}
			// Upstream's store without the plugin's paths keeps the deletes in its transaction:
			// the split happens only on the named path (ChunkedRunDeleteExecutionStore).
			err = upstreamStore.DeleteWorkflowExecution(ctx, &persistence.DeleteWorkflowExecutionRequest{ShardID: shard, NamespaceID: ns.String(), WorkflowID: wf, RunID: run.String()})
			if err == nil {
				t.Fatal("upstream's store alone deleted a run of more than 3,000 rows: its deletes were split outside the named path")
			}
			if n := runRows(t, c, shard, ns, wf, run)["activity_info_maps"]; n != runTables[0].rows {
				t.Fatalf("upstream's failed delete left %d activity rows, want all %d (one transaction, rolled back)", n, runTables[0].rows)
			}
		}

		start := time.Now()
		err = store.DeleteWorkflowExecution(context.Background(), &persistence.DeleteWorkflowExecutionRequest{
			ShardID: shard, NamespaceID: ns.String(), WorkflowID: wf, RunID: run.String(),
		})
		if err != nil {
			t.Fatalf("DeleteWorkflowExecution of a run with %d map rows: %v", total, err)
		}
		t.Logf("%s: DeleteWorkflowExecution of %d map rows took %v", b.name, total, time.Since(start).Round(time.Millisecond))
		for table, n := range runRows(t, c, shard, ns, wf, run) {
			if n != 0 {
				t.Errorf("%s: %d rows of the deleted run remain", table, n)
			}
		}
		kept := runRows(t, c, shard, ns, wf, keep)
		if kept["executions"] != 1 || kept["activity_info_maps"] != 10 {
			t.Fatalf("the other run of the workflow was touched: %v", kept)
		}
	})
}

// A whole-run delete in a transaction stays in it, whether the transaction read the shard row
// (create, update, conflict-resolve, reset) or not: a rollback keeps every row, so a reset's
// delete-all-then-insert is never split, nor is a delete of any caller other than
// ChunkedRunDeleteExecutionStore.DeleteWorkflowExecution (TestDeleteWorkflowExecutionOverRowLimit
// covers that named path, and shows upstream's store alone keeping the deletes in one transaction).
func TestWholeRunDeletesStayInTheTransaction(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		cfg := b.fresh(t)
		c := rawConn(t, b, cfg.DatabaseName)
		db := newDB(t, cfg)
		ctx := context.Background()
		const shard = int32(7)
		if _, err := db.InsertIntoShards(ctx, &sqlplugin.ShardsRow{ShardID: shard, RangeID: 1, Data: []byte("x"), DataEncoding: "Proto3"}); err != nil {
			t.Fatal(err)
		}
		for _, fence := range []bool{true, false} {
			t.Run(fmt.Sprintf("fenced=%v", fence), func(t *testing.T) {
				ns, run := uuid.New(), uuid.New()
				wf := "fence-" + run.String()[:8]
				seed(t, c, 40, runTables[0].ins, shard, ns, wf, run)
				tx, err := db.BeginTx(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if fence {
					if _, err := tx.ReadLockShards(ctx, sqlplugin.ShardsFilter{ShardID: shard}); err != nil {
						t.Fatal(err)
					}
				}
				res, err := tx.DeleteAllFromActivityInfoMaps(ctx, sqlplugin.ActivityInfoMapsAllFilter{ShardID: shard, NamespaceID: primitives.UUID(ns[:]), WorkflowID: wf, RunID: primitives.UUID(run[:])})
				if err != nil {
					t.Fatal(err)
				}
				if n, _ := res.RowsAffected(); n != 40 {
					t.Fatalf("deleted %d rows, want 40", n)
				}
				if err := tx.Rollback(); err != nil {
					t.Fatal(err)
				}
				if got := count(t, c, `SELECT count(*) FROM activity_info_maps WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3 AND run_id = $4`, shard, ns, wf, run); got != 40 {
					t.Fatalf("%d rows after rollback, want 40 (the delete ran outside the transaction)", got)
				}
			})
		}
	})
}

func TestQueueV2RangeDeleteOverRowLimit(t *testing.T) {
	const messages = 5001
	forEachBackend(t, func(t *testing.T, b backend) {
		cfg := b.fresh(t)
		c := rawConn(t, b, cfg.DatabaseName)
		f := newFactory(t, cfg)
		q, err := f.NewQueueV2()
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		qt, name := persistence.QueueTypeHistoryDLQ, "1_active_standby_transfer"
		if _, err := q.CreateQueue(ctx, &persistence.InternalCreateQueueRequest{QueueType: qt, QueueName: name}); err != nil {
			t.Fatal(err)
		}
		// 5,001 DLQ messages with ids 0-5000, as EnqueueMessage writes them.
		seed(t, c, messages, `INSERT INTO queue_messages (queue_type, queue_name, queue_partition, message_id, message_payload, message_encoding)
 SELECT $3, $4, 0, g, '\x00', 'Proto3' FROM generate_series($1::int, $2::int) AS g`, int(qt), name)
		msgCount := func() int {
			return count(t, c, `SELECT count(*) FROM queue_messages WHERE queue_type = $1 AND queue_name = $2`, int(qt), name)
		}
		if n := msgCount(); n != messages {
			t.Fatalf("seeded %d messages", n)
		}
		assertOneTxRefused(t, b, c, `DELETE FROM queue_messages WHERE queue_type = $1 AND queue_name = $2 AND message_id <= 4999`, int(qt), name)

		start := time.Now()
		resp, err := q.RangeDeleteMessages(ctx, &persistence.InternalRangeDeleteMessagesRequest{
			QueueType: qt, QueueName: name, InclusiveMaxMessageMetadata: persistence.MessageMetadata{ID: messages - 1},
		})
		if err != nil {
			t.Fatalf("RangeDeleteMessages of %d messages: %v", messages, err)
		}
		t.Logf("%s: RangeDeleteMessages of %d messages took %v", b.name, messages-1, time.Since(start).Round(time.Millisecond))
		if resp.MessagesDeleted != messages {
			t.Fatalf("MessagesDeleted = %d, want %d", resp.MessagesDeleted, messages)
		}
		// Upstream keeps the last message (it carries the next id); every other row is gone,
		// and readers see an empty queue because the metadata moved past it.
		if n := msgCount(); n != 1 {
			t.Fatalf("%d messages remain, want only the last one", n)
		}
		read, err := q.ReadMessages(ctx, &persistence.InternalReadMessagesRequest{QueueType: qt, QueueName: name, PageSize: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(read.Messages) != 0 {
			t.Fatalf("ReadMessages after the purge returned %d messages", len(read.Messages))
		}
		// And the queue keeps working: the next message gets id 5001.
		enq, err := q.EnqueueMessage(ctx, &persistence.InternalEnqueueMessageRequest{QueueType: qt, QueueName: name, Blob: &commonpb.DataBlob{EncodingType: enumspb.ENCODING_TYPE_PROTO3, Data: []byte{0}}})
		if err != nil {
			t.Fatal(err)
		}
		if enq.Metadata.ID != messages {
			t.Fatalf("next message id %d, want %d", enq.Metadata.ID, messages)
		}
	})
}

// Two deletes of one large run at once (a stale shard owner and the new one, or a retry racing
// the first attempt). On dsql-local nobody waits: two chunks deleting the same rows, or two
// transactions deleting the execution row, conflict at COMMIT and the later one fails with 40001.
// Each call must return before its deadline, at least one of the two must commit, a failed one
// may fail only with an error Temporal retries (serviceerror.Unavailable), and once it is retried the run is gone, every chunk
// having changed at most chunkSize (<= 3,000) rows; the other run of the workflow stays.
func TestConcurrentDeletesOfOneRun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		cfg := b.fresh(t)
		c := rawConn(t, b, cfg.DatabaseName)
		f := newFactory(t, cfg)
		upstreamStore, err := f.NewExecutionStore()
		if err != nil {
			t.Fatal(err)
		}
		store := dsql.WrapExecutionStore(upstreamStore, nil, nil)
		const shard = int32(3)
		ns, run, keep := uuid.New(), uuid.New(), uuid.New()
		wf := "raced-run"
		for _, r := range []uuid.UUID{run, keep} {
			if _, err := c.Exec(context.Background(), `INSERT INTO executions (shard_id, namespace_id, workflow_id, run_id, next_event_id, last_write_version, data, data_encoding, state, state_encoding, db_record_version)
 VALUES ($1, $2, $3, $4, 6606, 0, '\x00', 'Proto3', '\x00', 'Proto3', 1)`, shard, ns, wf, r); err != nil {
				t.Fatal(err)
			}
		}
		seedRun(t, c, shard, ns, wf, run)
		if _, err := c.Exec(context.Background(), runTables[0].ins, 0, 9, shard, ns, wf, keep); err != nil {
			t.Fatal(err)
		}
		req := &persistence.DeleteWorkflowExecutionRequest{ShardID: shard, NamespaceID: ns.String(), WorkflowID: wf, RunID: run.String()}
		const deadline = 20 * time.Second
		errs := make([]error, 2)
		took := make([]time.Duration, 2)
		done := make(chan int, 2)
		start := make(chan struct{})
		for i := range errs {
			go func(i int) {
				<-start // both at once, so their chunks overlap
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				start := time.Now()
				errs[i] = store.DeleteWorkflowExecution(ctx, req)
				took[i] = time.Since(start)
				done <- i
			}(i)
		}
		close(start)
		<-done
		<-done
		// First committer wins: of two racing deletes one commits (on PostgreSQL the second waits and
		// finds nothing left); both failing would mean the race itself, not the loser, broke.
		if errs[0] != nil && errs[1] != nil {
			t.Fatalf("both concurrent deletes failed: %v; %v", errs[0], errs[1])
		}
		for i, err := range errs {
			t.Logf("%s: delete %d took %v, err %v", b.name, i, took[i].Round(time.Millisecond), err)
			if took[i] >= deadline {
				t.Errorf("delete %d took %v: it waited past its deadline", i, took[i])
			}
			if err == nil {
				continue
			}
			var u *serviceerror.Unavailable
			if !errors.As(err, &u) {
				t.Fatalf("delete %d failed with %T (%v); only Unavailable, which Temporal retries, is acceptable", i, err, err)
			}
			// Temporal's retry of the failed call.
			if err := store.DeleteWorkflowExecution(context.Background(), req); err != nil {
				t.Fatalf("retry of delete %d: %v", i, err)
			}
		}
		for table, n := range runRows(t, c, shard, ns, wf, run) {
			if n != 0 {
				t.Errorf("%s: %d rows of the deleted run remain", table, n)
			}
		}
		kept := runRows(t, c, shard, ns, wf, keep)
		if kept["executions"] != 1 || kept["activity_info_maps"] != 10 {
			t.Fatalf("the other run of the workflow was touched: %v", kept)
		}
	})
}
