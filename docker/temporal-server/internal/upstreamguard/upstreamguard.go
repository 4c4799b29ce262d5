// Package upstreamguard pins the pieces of upstream Temporal (go.temporal.io/server, the
// version in go.mod) that the dsql plugin predicts, prefetches, overrides or relies on: SQL
// statements, call order and error handling. Check parses the module's source and compares a
// fingerprint (SHA-256 of the declaration's source text, first 12 hex digits) of each pinned
// declaration with the one recorded here; a change names the declaration, what in our code
// depends on it, and what to re-check. Run by upstreamguard_test.go; on an upstream bump, read
// each reported change, adapt the plugin, then update the fingerprints (go test -run
// TestPrintFingerprints -v ./internal/upstreamguard/ with UPSTREAM_GUARD_PRINT=1).
package upstreamguard

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
)

// Pin is one upstream declaration our code depends on. File is relative to the module root;
// Decl is a function ("Name" or "Recv.Name") or a const/var name; Why says what depends on it.
type Pin struct {
	File, Decl, Why, Fingerprint string
}

// Pins are the upstream v1.32.2 declarations the dsql plugin depends on.
var Pins = []Pin{
	// prefetch.go: the one-round-trip load serves these reads' results in their place.
	{"common/persistence/sql/execution.go", "sqlExecutionStore.GetWorkflowExecution", "dsql/prefetch.go LoadBatchingExecutionStore: the load's call order (executions row, then the maps) and its context, which carries the load to the plugin's db; its only caller of SelectFromExecutions", "bcd021edf976"},
	// prefetch.go: each map read of the load passes the load's context on to the db unchanged.
	{"common/persistence/sql/execution_state_map.go", "getActivityInfoMap", "dsql/prefetch.go: the activity map read of a load reaches the db with the load's context", "f9b06c26cc04"},
	{"common/persistence/sql/execution_state_map.go", "getTimerInfoMap", "dsql/prefetch.go: the timer map read of a load reaches the db with the load's context", "1e668dae1ddc"},
	{"common/persistence/sql/execution_state_map.go", "getChildExecutionInfoMap", "dsql/prefetch.go: the child map read of a load reaches the db with the load's context", "b5b2e0869046"},
	{"common/persistence/sql/execution_state_map.go", "getRequestCancelInfoMap", "dsql/prefetch.go: the request-cancel map read of a load reaches the db with the load's context", "b215a7248196"},
	{"common/persistence/sql/execution_state_map.go", "getSignalInfoMap", "dsql/prefetch.go: the signal map read of a load reaches the db with the load's context", "041047462220"},
	{"common/persistence/sql/execution_state_non_map.go", "getSignalsRequested", "dsql/prefetch.go: the signals-requested read of a load reaches the db with the load's context", "e7249a9a00e1"},
	{"common/persistence/sql/execution_state_non_map.go", "getBufferedEvents", "dsql/prefetch.go: the buffered-events read of a load reaches the db with the load's context", "8bad1c5a342d"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "getExecutionQuery", "dsql/prefetch.go pfExecutionQry must read the same row", "b2ede9fe06d1"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "executionsColumns", "dsql/prefetch.go pfExecutionQry column list", "1ab8034a31ef"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "getBufferedEventsQuery", "dsql/prefetch.go pfBufferedQry", "d994bb1be44b"},
	{"common/persistence/sql/sqlplugin/postgresql/execution_maps.go", "getMapQueryTemplate", "dsql/prefetch.go pf*Qry map reads", "feb322761c29"},
	{"common/persistence/sql/sqlplugin/postgresql/execution_maps.go", "getSignalsRequestedSetQuery", "dsql/prefetch.go pfSignalsRequestQry", "89f68091ca93"},
	// pipeline.go: task inserts predicted to change len(rows) rows.
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "createTransferTasksQuery", "dsql/pipeline_tx.go predicts RowsAffected = len(rows) (plain INSERT, no ON CONFLICT)", "bba5f5b886f0"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "createTimerTasksQuery", "dsql/pipeline_tx.go predicts RowsAffected = len(rows)", "029b8c61e922"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "createHistoryImmediateTasksQuery", "dsql/pipeline_tx.go predicts RowsAffected = len(rows)", "54ee6ab17bb1"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "createHistoryScheduledTasksQuery", "dsql/pipeline_tx.go predicts RowsAffected = len(rows)", "951a840fa8ad"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "createVisibilityTasksQuery", "dsql/pipeline_tx.go predicts RowsAffected = len(rows)", "28a898de6942"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "createReplicationTasksQuery", "dsql/pipeline_tx.go predicts RowsAffected = len(rows)", "e70746954e11"},
	{"common/persistence/sql/execution_util.go", "applyTasks", "dsql/pipeline_tx.go: which task inserts a mutation makes and how RowsAffected is compared", "bd832410614b"},
	// pipeline_tx.go: the deferral mark (withDeferral) reaches pipeline.go's connection only through
	// the context these upstream methods hand to their one Exec call; each must build exactly one
	// statement and pass the caller's context on unchanged.
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "db.UpdateExecutions", "dsql/pipeline_tx.go: the deferral mark of tx.UpdateExecutions reaches the connection through this method's one Exec call with the caller's context", "f02144ada502"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "db.UpdateCurrentExecutions", "dsql/pipeline_tx.go: the deferral mark of tx.UpdateCurrentExecutions reaches the connection through this method's one Exec call with the caller's context", "4eb70bfad285"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "db.InsertIntoHistoryImmediateTasks", "dsql/pipeline_tx.go: the deferral mark of tx.InsertIntoHistoryImmediateTasks reaches the connection through this method's one Exec call with the caller's context", "4deed6332c49"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "db.InsertIntoHistoryScheduledTasks", "dsql/pipeline_tx.go: the deferral mark of tx.InsertIntoHistoryScheduledTasks reaches the connection through this method's one Exec call with the caller's context", "ac2b6d8158cc"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "db.InsertIntoTransferTasks", "dsql/pipeline_tx.go: the deferral mark of tx.InsertIntoTransferTasks reaches the connection through this method's one Exec call with the caller's context", "ab3c9ba8e1a7"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "db.InsertIntoTimerTasks", "dsql/pipeline_tx.go: the deferral mark of tx.InsertIntoTimerTasks reaches the connection through this method's one Exec call with the caller's context", "6c8d94bf93a4"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "db.InsertIntoReplicationTasks", "dsql/pipeline_tx.go: the deferral mark of tx.InsertIntoReplicationTasks reaches the connection through this method's one Exec call with the caller's context", "eab791ff2551"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "db.InsertIntoVisibilityTasks", "dsql/pipeline_tx.go: the deferral mark of tx.InsertIntoVisibilityTasks reaches the connection through this method's one Exec call with the caller's context", "cdd7b453ee04"},
	{"common/persistence/sql/sqlplugin/postgresql/execution_maps.go", "db.ReplaceIntoActivityInfoMaps", "dsql/pipeline_tx.go: the deferral mark of tx.ReplaceIntoActivityInfoMaps reaches the connection through this method's one Exec call with the caller's context", "14a6ab195102"},
	{"common/persistence/sql/sqlplugin/postgresql/execution_maps.go", "db.DeleteFromActivityInfoMaps", "dsql/pipeline_tx.go: the deferral mark of tx.DeleteFromActivityInfoMaps reaches the connection through this method's one Exec call with the caller's context", "c4fc28f8456a"},
	{"common/persistence/sql/sqlplugin/postgresql/execution_maps.go", "db.ReplaceIntoTimerInfoMaps", "dsql/pipeline_tx.go: the deferral mark of tx.ReplaceIntoTimerInfoMaps reaches the connection through this method's one Exec call with the caller's context", "842c6bda5075"},
	{"common/persistence/sql/sqlplugin/postgresql/execution_maps.go", "db.DeleteFromTimerInfoMaps", "dsql/pipeline_tx.go: the deferral mark of tx.DeleteFromTimerInfoMaps reaches the connection through this method's one Exec call with the caller's context", "d5c5383e2375"},
	{"common/persistence/sql/sqlplugin/postgresql/execution_maps.go", "db.ReplaceIntoChildExecutionInfoMaps", "dsql/pipeline_tx.go: the deferral mark of tx.ReplaceIntoChildExecutionInfoMaps reaches the connection through this method's one Exec call with the caller's context", "fd4121201536"},
	{"common/persistence/sql/sqlplugin/postgresql/execution_maps.go", "db.DeleteFromChildExecutionInfoMaps", "dsql/pipeline_tx.go: the deferral mark of tx.DeleteFromChildExecutionInfoMaps reaches the connection through this method's one Exec call with the caller's context", "2497a6c435c8"},
	{"common/persistence/sql/sqlplugin/postgresql/execution_maps.go", "db.ReplaceIntoRequestCancelInfoMaps", "dsql/pipeline_tx.go: the deferral mark of tx.ReplaceIntoRequestCancelInfoMaps reaches the connection through this method's one Exec call with the caller's context", "4bd5d886e82f"},
	{"common/persistence/sql/sqlplugin/postgresql/execution_maps.go", "db.DeleteFromRequestCancelInfoMaps", "dsql/pipeline_tx.go: the deferral mark of tx.DeleteFromRequestCancelInfoMaps reaches the connection through this method's one Exec call with the caller's context", "03df7753725c"},
	{"common/persistence/sql/sqlplugin/postgresql/execution_maps.go", "db.ReplaceIntoSignalInfoMaps", "dsql/pipeline_tx.go: the deferral mark of tx.ReplaceIntoSignalInfoMaps reaches the connection through this method's one Exec call with the caller's context", "8eaca807b433"},
	{"common/persistence/sql/sqlplugin/postgresql/execution_maps.go", "db.DeleteFromSignalInfoMaps", "dsql/pipeline_tx.go: the deferral mark of tx.DeleteFromSignalInfoMaps reaches the connection through this method's one Exec call with the caller's context", "9c62e381660d"},
	{"common/persistence/sql/sqlplugin/postgresql/execution_maps.go", "db.ReplaceIntoSignalsRequestedSets", "dsql/pipeline_tx.go: the deferral mark of tx.ReplaceIntoSignalsRequestedSets reaches the connection through this method's one Exec call with the caller's context", "b99abec2f4ec"},
	{"common/persistence/sql/sqlplugin/postgresql/execution_maps.go", "db.DeleteFromSignalsRequestedSets", "dsql/pipeline_tx.go: the deferral mark of tx.DeleteFromSignalsRequestedSets reaches the connection through this method's one Exec call with the caller's context", "bc61ba293903"},
	// bulkdelete.go: DeleteWorkflowExecution and DeleteHistoryBranch are not fenced, so their bulk
	// deletes may run as chunks outside them; fenced transactions keep theirs inside.
	{"common/persistence/sql/execution.go", "sqlExecutionStore.txExecuteShardLocked", "dsql/bulkdelete.go, pipeline_tx.go and fence.go: a fenced transaction calls readLockShard first, with the store call's context (which carries FencedExecutionStore's mark)", "4194f501a2d7"},
	// fence.go: the shard fence checked in the batch returns what readLockShard would.
	{"common/persistence/sql/shard.go", "readLockShard", "dsql/fence.go: tx.ReadLockShards returns the expected range_id, which readLockShard compares with the request's; a failed check maps to its ShardOwnershipLostError (ShardID, Msg) or, for no row, its Unavailable; TestFenceMirrorsReadLockShard checks the texts", "97e78cd44e2f"},
	{"common/persistence/sql/execution.go", "sqlExecutionStore.CreateWorkflowExecution", "dsql/fence.go FencedExecutionStore: fenced with request.ShardID/RangeID and the call's context", "b4299b5b9a58"},
	{"common/persistence/sql/execution.go", "sqlExecutionStore.UpdateWorkflowExecution", "dsql/fence.go FencedExecutionStore: fenced with request.ShardID/RangeID and the call's context", "090ffc4b085f"},
	{"common/persistence/sql/execution.go", "sqlExecutionStore.ConflictResolveWorkflowExecution", "dsql/fence.go FencedExecutionStore: fenced with request.ShardID/RangeID and the call's context", "f595d694fa30"},
	{"common/persistence/sql/execution.go", "sqlExecutionStore.SetWorkflowExecution", "dsql/fence.go FencedExecutionStore: fenced with request.ShardID/RangeID and the call's context", "3196b09325ae"},
	{"common/persistence/sql/execution_tasks.go", "sqlExecutionStore.AddHistoryTasks", "dsql/fence.go FencedExecutionStore: fenced with request.ShardID/RangeID and the call's context", "ace76cead80f"},
	// rowcheck.go: the execution row's condition checked in the batch returns what
	// lockAndCheckExecution compares and maps a failure to what it returns.
	{"common/persistence/sql/execution_util.go", "lockAndCheckExecution", "dsql/rowcheck.go: tx.WriteLockExecutions returns (DBRecordVersion-1, Condition), which this compares (next_event_id with Condition when DBRecordVersion is 0, else db_record_version with DBRecordVersion-1); a failed check maps to its WorkflowConditionFailedError{Msg, NextEventID, DBRecordVersion}; TestExecutionCheckMirrorsLockAndCheckExecution checks the texts", "c9c844acf7ac"},
	{"common/persistence/sql/execution_util.go", "lockExecution", "dsql/rowcheck.go: the only caller of tx.WriteLockExecutions; a missing row (sql.ErrNoRows) is its ConditionFailedError, which rowcheck.go builds for a check that found no row", "48752e0b9c53"},
	{"common/persistence/sql/execution_util.go", "sqlExecutionStore.applyWorkflowMutationTx", "dsql/rowcheck.go: locks the mutation's run with its Condition/DBRecordVersion and passes WorkflowConditionFailedError and ConditionFailedError through unchanged", "f8d0d2c36779"},
	{"common/persistence/sql/execution_util.go", "sqlExecutionStore.applyWorkflowSnapshotTxAsReset", "dsql/rowcheck.go: locks the snapshot's run with its Condition/DBRecordVersion and passes WorkflowConditionFailedError and ConditionFailedError through unchanged", "433490c78373"},
	{"common/persistence/sql/execution.go", "sqlExecutionStore.updateWorkflowExecutionTx", "dsql/rowcheck.go FencedExecutionStore.UpdateWorkflowExecution marks UpdateWorkflowMutation's run (the one run it locks)", "92fd021af4f9"},
	{"common/persistence/sql/execution.go", "sqlExecutionStore.conflictResolveWorkflowExecutionTx", "dsql/rowcheck.go FencedExecutionStore.ConflictResolveWorkflowExecution marks ResetWorkflowSnapshot's and CurrentWorkflowMutation's runs (the runs it locks)", "6449620c4aed"},
	{"common/persistence/sql/execution.go", "sqlExecutionStore.setWorkflowExecutionTx", "dsql/rowcheck.go FencedExecutionStore.SetWorkflowExecution marks SetWorkflowSnapshot's run", "220bdfd63f57"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "lockExecutionQueryBase", "dsql/ops.go lockExecutionForUpdateQry (queued by rowcheck.go in place of upstream's WriteLockExecutions) reads the same row", "5191e9aad924"},
	// currentcheck.go: the current-execution run id checked in the batch returns a row naming the
	// expected run, which assertRunIDAndUpdateCurrentExecution's assertFn compares (RunID only);
	// a failed check maps to the error it builds from the re-read row.
	{"common/persistence/sql/execution_util.go", "assertRunIDAndUpdateCurrentExecution", "dsql/currentcheck.go: its assertFn compares only currentRow.RunID with previousRunID; CurrentRunMismatchError mirrors its CurrentWorkflowConditionFailedError (TestCurrentCheckMirrorsAssertRunID checks the texts); then updateCurrentExecution (RowsAffected 1 predicted behind the check)", "7ea08df36079"},
	{"common/persistence/sql/execution_util.go", "assertCurrentExecution", "dsql/currentcheck.go: tx.LockCurrentExecutions then assertFn; a read error (sql.ErrNoRows for a missing row) is its Unavailable, which currentcheck.go builds from the re-read", "c1488b179faf"},
	{"common/persistence/sql/execution_util.go", "workflowExecutionStateFromCurrentExecutionsRow", "dsql/currentcheck.go executionStateFromCurrentRow mirrors it (data blob, or the columns for old rows)", "5ae8bb674567"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "lockCurrentExecutionQuery", "dsql/ops.go lockCurrentExecutionOnlyQry (queued by currentcheck.go in place of upstream's LockCurrentExecutions) locks the same row", "ce4b708721d5"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "getCurrentExecutionQuery", "dsql/ops.go lockCurrentExecutionOnlyQry is this text plus FOR UPDATE; currentcheck.go re-reads a failed check's row with upstream's SelectFromCurrentExecutions, which runs it", "d3b93b555977"},
	{"common/persistence/sql/sqlplugin/postgresql/execution.go", "writeLockExecutionQuery", "dsql/rowcheck.go queues lockExecutionForUpdateQry, the same FOR UPDATE lock", "321b3a822e34"},
	{"common/persistence/sql/execution.go", "sqlExecutionStore.DeleteWorkflowExecution", "dsql/bulkdelete.go ChunkedRunDeleteExecutionStore: one unfenced transaction whose whole-run deletes of the request's run get the call's context (which names the run) and may run as chunks", "7df587833f56"},
	{"common/persistence/sql/history_store.go", "sqlExecutionStore.DeleteHistoryBranch", "dsql/bulkdelete.go: RangeDeleteFromHistoryNode runs as chunks", "a4be4d44d82b"},
	// guard.go: the refusal must be "definitely not committed" and end the workflow.
	{"common/persistence/sql/common.go", "SqlStore.txExecute", "dsql/guard.go: errors inside the store's transaction become Unavailable, so the guard sits in front of the store", "dcdfe416e45a"},
	{"service/history/shard/context_impl.go", "ContextImpl.handleWriteErrorLocked", "dsql/guard.go: TransactionSizeLimitError must stay 'not committed' (no shard re-acquire)", "938ede289394"},
	{"common/persistence/history_manager.go", "executionManagerImpl.serializeAppendHistoryNodesRequest", "config default.yaml system.transactionSizeLimit: one history batch compared with it (DSQL's 1 MiB per value)", "4ae3ae074c8c"},
	{"common/persistence/client/fx.go", "DataStoreFactoryProvider", "dsql/guard.go DecorateFactoryProvider: the data store factory reaches FactoryProviderFn through NewFactoryParams", "b455d16b6069"},
}

// Check parses dir (the upstream module root) and returns one line per pin whose declaration
// is missing or whose fingerprint differs from the pin's (a pin without a fingerprint is
// reported too, with the current one).
func Check(dir string, pins []Pin) []string {
	var problems []string
	for _, p := range pins {
		got, err := Fingerprint(filepath.Join(dir, p.File), p.Decl)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("upstream %s %s: %v; depends on it: %s", p.File, p.Decl, err, p.Why))
		case got != p.Fingerprint:
			problems = append(problems, fmt.Sprintf("upstream %s %s changed (fingerprint %s, pinned %q); depends on it: %s", p.File, p.Decl, got, p.Fingerprint, p.Why))
		}
	}
	return problems
}

// Fingerprint returns the first 12 hex digits of the SHA-256 of decl's source text in file.
func Fingerprint(file, decl string) (string, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.SkipObjectResolution)
	if err != nil {
		return "", err
	}
	var node ast.Node
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if funcName(d) == decl {
				node = d
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				if vs, ok := s.(*ast.ValueSpec); ok {
					for _, n := range vs.Names {
						if n.Name == decl {
							node = vs
						}
					}
				}
			}
		}
	}
	if node == nil {
		return "", fmt.Errorf("declaration %s not found", decl)
	}
	text := src[fset.Position(node.Pos()).Offset:fset.Position(node.End()).Offset]
	sum := sha256.Sum256(text)
	return hex.EncodeToString(sum[:])[:12], nil
}

func funcName(d *ast.FuncDecl) string {
	if d.Recv == nil || len(d.Recv.List) == 0 {
		return d.Name.Name
	}
	t := d.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + d.Name.Name
	}
	return d.Name.Name
}
