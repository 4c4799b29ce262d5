package persistencetest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/primitives"
)

// The plugin's chunked deletes (boundedDeleteQry) with a chunk of a few rows: each chunk
// stops at the n-th key, composite keys with repeated leading columns included, and a
// Limit is honoured exactly, on both backends.
func TestChunkedDeletesAreExact(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		cfg := b.fresh(t)
		cfg.ConnectAttributes["chunkSize"] = "4"
		c := rawConn(t, b, cfg.DatabaseName)
		db := newDB(t, cfg)
		ctx := context.Background()

		cases := []struct {
			name    string
			seed    func(t *testing.T)
			del     func(t *testing.T) (int64, error)
			left    string
			wantDel int64
			wantLft int
		}{
			{
				name: "history nodes: 3 transactions per node id, delete from node 4 on",
				seed: func(t *testing.T) {
					seed(t, c, 30, `INSERT INTO history_node (shard_id, tree_id, branch_id, node_id, txn_id, prev_txn_id, data, data_encoding)
 SELECT 1, '11111111-1111-1111-1111-111111111111', '22222222-2222-2222-2222-222222222222', 1 + g / 3, 100 - g, 0, '\x00', 'Proto3' FROM generate_series($1::int, $2::int) AS g`)
				},
				del: func(t *testing.T) (int64, error) {
					tree := uuid.MustParse("11111111-1111-1111-1111-111111111111")
					branch := uuid.MustParse("22222222-2222-2222-2222-222222222222")
					res, err := db.RangeDeleteFromHistoryNode(ctx, sqlplugin.HistoryNodeDeleteFilter{ShardID: 1, TreeID: primitives.UUID(tree[:]), BranchID: primitives.UUID(branch[:]), MinNodeID: 4})
					if err != nil {
						return 0, err
					}
					return res.RowsAffected()
				},
				left:    `SELECT count(*) FROM history_node WHERE node_id < 4`,
				wantDel: 21, wantLft: 9,
			},
			{
				name: "fairness tasks: (pass, task_id) key, Limit 7 deletes exactly the 7 lowest",
				seed: func(t *testing.T) {
					rows := make([]sqlplugin.TasksRowV2, 20)
					for i := range rows {
						rows[i] = sqlplugin.TasksRowV2{RangeHash: 9, TaskQueueID: []byte("tq"), FairLevel: sqlplugin.FairLevel{TaskPass: int64(i % 3), TaskID: int64(i)}, Data: []byte{0}, DataEncoding: "Proto3"}
					}
					if _, err := db.InsertIntoTasksV2(ctx, rows); err != nil {
						t.Fatal(err)
					}
				},
				del: func(t *testing.T) (int64, error) {
					limit := 7
					res, err := db.DeleteFromTasksV2(ctx, sqlplugin.TasksFilterV2{RangeHash: 9, TaskQueueID: []byte("tq"), ExclusiveMaxLevel: &sqlplugin.FairLevel{TaskPass: 100, TaskID: 0}, Limit: &limit})
					if err != nil {
						return 0, err
					}
					return res.RowsAffected()
				},
				// pass 0 holds task ids 0,3,...,18 (7 tasks): exactly those go.
				left:    `SELECT count(*) FROM tasks_v2 WHERE pass = 0`,
				wantDel: 7, wantLft: 0,
			},
			{
				name: "queue v2 messages: range [10, 40] of 50",
				seed: func(t *testing.T) {
					seed(t, c, 50, `INSERT INTO queue_messages (queue_type, queue_name, queue_partition, message_id, message_payload, message_encoding)
 SELECT 1, 'q', 0, g, '\x00', 'Proto3' FROM generate_series($1::int, $2::int) AS g`)
				},
				del: func(t *testing.T) (int64, error) {
					res, err := db.RangeDeleteFromQueueV2Messages(ctx, sqlplugin.QueueV2MessagesFilter{QueueType: 1, QueueName: "q", Partition: 0, MinMessageID: 10, MaxMessageID: 40})
					if err != nil {
						return 0, err
					}
					return res.RowsAffected()
				},
				left:    `SELECT count(*) FROM queue_messages WHERE message_id < 10 OR message_id > 40`,
				wantDel: 31, wantLft: 19,
			},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				tc.seed(t)
				n, err := tc.del(t)
				if err != nil {
					t.Fatal(err)
				}
				if n != tc.wantDel {
					t.Fatalf("deleted %d rows, want %d", n, tc.wantDel)
				}
				if got := count(t, c, tc.left); got != tc.wantLft {
					t.Fatalf("%s = %d, want %d", tc.left, got, tc.wantLft)
				}
			})
		}
	})
}
