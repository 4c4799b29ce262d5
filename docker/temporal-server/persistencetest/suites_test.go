// Package persistencetest runs Temporal's own exported persistence test suites
// (go.temporal.io/server/common/persistence/tests, persistence-tests and
// sql/sqlplugin/tests) against the dsql plugin, on a plain PostgreSQL and on dsql-local.
package persistencetest

import (
	"testing"

	"github.com/stretchr/testify/suite"
	"go.temporal.io/server/chasm"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence/serialization"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	sqltests "go.temporal.io/server/common/persistence/sql/sqlplugin/tests"
	ptests "go.temporal.io/server/common/persistence/tests"

	"temporal-dsql/server/dsql"
)

func forEachBackend(t *testing.T, run func(t *testing.T, b backend)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { run(t, b) })
	}
}

func TestStoreSuites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		logger := log.NewTestLogger()
		ser := serialization.NewSerializer()
		t.Run("Shard", func(t *testing.T) {
			f := newFactory(t, b.fresh(t))
			ss, err := f.NewShardStore()
			if err != nil {
				t.Fatal(err)
			}
			suite.Run(t, ptests.NewShardSuite(t, ss, ser, logger))
		})
		t.Run("ExecutionMutableState", func(t *testing.T) {
			f := newFactory(t, b.fresh(t))
			ss, _ := f.NewShardStore()
			es, err := f.NewExecutionStore()
			if err != nil {
				t.Fatal(err)
			}
			// The store as the server wires it (WrapExecutionStore): mutable-state loads through the
			// plugin's one-round-trip path, and the shard fence and the execution row's condition
			// checked inside the pipelined batch (fence.go, rowcheck.go), so that upstream's own
			// condition-failure cases run against the deferred checks.
			suite.Run(t, ptests.NewExecutionMutableStateSuite(t, ss, dsql.WrapExecutionStore(es, nil, nil), ser, logger))
		})
		t.Run("ExecutionMutableStateTask", func(t *testing.T) {
			f := newFactory(t, b.fresh(t))
			ss, _ := f.NewShardStore()
			es, err := f.NewExecutionStore()
			if err != nil {
				t.Fatal(err)
			}
			suite.Run(t, ptests.NewExecutionMutableStateTaskSuite(t, ss, dsql.WrapExecutionStore(es, nil, nil), ser, logger))
		})
		t.Run("HistoryEvents", func(t *testing.T) {
			f := newFactory(t, b.fresh(t))
			es, err := f.NewExecutionStore()
			if err != nil {
				t.Fatal(err)
			}
			suite.Run(t, ptests.NewHistoryEventsSuite(t, es, logger))
		})
		t.Run("TaskQueue", func(t *testing.T) {
			f := newFactory(t, b.fresh(t))
			ts, err := f.NewTaskStore()
			if err != nil {
				t.Fatal(err)
			}
			suite.Run(t, ptests.NewTaskQueueSuite(t, ts, logger))
		})
		t.Run("FairTaskQueue", func(t *testing.T) {
			f := newFactory(t, b.fresh(t))
			ts, err := f.NewFairTaskStore()
			if err != nil {
				t.Fatal(err)
			}
			suite.Run(t, ptests.NewTaskQueueSuite(t, ts, logger))
		})
		t.Run("TaskQueueTask", func(t *testing.T) {
			f := newFactory(t, b.fresh(t))
			ts, err := f.NewTaskStore()
			if err != nil {
				t.Fatal(err)
			}
			suite.Run(t, ptests.NewTaskQueueTaskSuite(t, ts, logger))
		})
		t.Run("TaskQueueFairTask", func(t *testing.T) {
			f := newFactory(t, b.fresh(t))
			ts, err := f.NewFairTaskStore()
			if err != nil {
				t.Fatal(err)
			}
			suite.Run(t, ptests.NewTaskQueueFairTaskSuite(t, ts, logger))
		})
		t.Run("TaskQueueUserData", func(t *testing.T) {
			f := newFactory(t, b.fresh(t))
			ts, err := f.NewTaskStore()
			if err != nil {
				t.Fatal(err)
			}
			suite.Run(t, ptests.NewTaskQueueUserDataSuite(t, ts, logger))
		})
		t.Run("QueueV2", func(t *testing.T) {
			ptests.RunQueueV2TestSuiteForSQL(t, newFactory(t, b.fresh(t)))
		})
		t.Run("NexusEndpoint", func(t *testing.T) {
			ptests.RunNexusEndpointTestSuiteForSQL(t, newFactory(t, b.fresh(t)))
		})
	})
}

func TestPluginSuites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		// One database for all plugin-level suites: they use random keys.
		db := newDB(t, b.fresh(t))
		cases := []struct {
			name string
			s    func(t *testing.T) suite.TestingSuite
		}{
			{"Namespace", func(t *testing.T) suite.TestingSuite { return sqltests.NewNamespaceSuite(t, db) }},
			{"QueueMessage", func(t *testing.T) suite.TestingSuite { return sqltests.NewQueueMessageSuite(t, db) }},
			{"QueueMetadata", func(t *testing.T) suite.TestingSuite { return sqltests.NewQueueMetadataSuite(t, db) }},
			{"MatchingTask", func(t *testing.T) suite.TestingSuite { return sqltests.NewMatchingTaskSuite(t, db) }},
			{"MatchingTaskV2", func(t *testing.T) suite.TestingSuite { return sqltests.NewMatchingTaskV2Suite(t, db) }},
			{"MatchingTaskQueue", func(t *testing.T) suite.TestingSuite {
				return sqltests.NewMatchingTaskQueueSuite(t, db, sqlplugin.MatchingTaskVersion1)
			}},
			{"MatchingFairTaskQueue", func(t *testing.T) suite.TestingSuite {
				return sqltests.NewMatchingTaskQueueSuite(t, db, sqlplugin.MatchingTaskVersion2)
			}},
			{"HistoryShard", func(t *testing.T) suite.TestingSuite { return sqltests.NewHistoryShardSuite(t, db) }},
			{"HistoryNode", func(t *testing.T) suite.TestingSuite { return sqltests.NewHistoryNodeSuite(t, db) }},
			{"HistoryTree", func(t *testing.T) suite.TestingSuite { return sqltests.NewHistoryTreeSuite(t, db) }},
			{"HistoryCurrentExecution", func(t *testing.T) suite.TestingSuite {
				return sqltests.NewHistoryCurrentExecutionSuite(t, db, chasm.WorkflowArchetypeID)
			}},
			{"HistoryCurrentChasmExecution", func(t *testing.T) suite.TestingSuite {
				return sqltests.NewHistoryCurrentExecutionSuite(t, db, chasm.WorkflowArchetypeID+101)
			}},
			{"HistoryExecution", func(t *testing.T) suite.TestingSuite { return sqltests.NewHistoryExecutionSuite(t, db) }},
			{"HistoryTransferTask", func(t *testing.T) suite.TestingSuite { return sqltests.NewHistoryTransferTaskSuite(t, db) }},
			{"HistoryTimerTask", func(t *testing.T) suite.TestingSuite { return sqltests.NewHistoryTimerTaskSuite(t, db) }},
			{"HistoryReplicationTask", func(t *testing.T) suite.TestingSuite { return sqltests.NewHistoryReplicationTaskSuite(t, db) }},
			{"HistoryVisibilityTask", func(t *testing.T) suite.TestingSuite { return sqltests.NewHistoryVisibilityTaskSuite(t, db) }},
			{"HistoryReplicationDLQTask", func(t *testing.T) suite.TestingSuite {
				return sqltests.NewHistoryReplicationDLQTaskSuite(t, db)
			}},
			{"HistoryExecutionBuffer", func(t *testing.T) suite.TestingSuite { return sqltests.NewHistoryExecutionBufferSuite(t, db) }},
			{"HistoryExecutionActivity", func(t *testing.T) suite.TestingSuite {
				return sqltests.NewHistoryExecutionActivitySuite(t, db)
			}},
			{"HistoryExecutionChildWorkflow", func(t *testing.T) suite.TestingSuite {
				return sqltests.NewHistoryExecutionChildWorkflowSuite(t, db)
			}},
			{"HistoryExecutionTimer", func(t *testing.T) suite.TestingSuite { return sqltests.NewHistoryExecutionTimerSuite(t, db) }},
			{"HistoryExecutionChasm", func(t *testing.T) suite.TestingSuite { return sqltests.NewHistoryExecutionChasmSuite(t, db) }},
			{"HistoryExecutionRequestCancel", func(t *testing.T) suite.TestingSuite {
				return sqltests.NewHistoryExecutionRequestCancelSuite(t, db)
			}},
			{"HistoryExecutionSignal", func(t *testing.T) suite.TestingSuite { return sqltests.NewHistoryExecutionSignalSuite(t, db) }},
			{"HistoryExecutionSignalRequest", func(t *testing.T) suite.TestingSuite {
				return sqltests.NewHistoryExecutionSignalRequestSuite(t, db)
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { suite.Run(t, c.s(t)) })
		}
	})
}
