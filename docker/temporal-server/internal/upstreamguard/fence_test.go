package upstreamguard

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"temporal-dsql/server/dsql"
)

// sqlStoreFiles parses the non-test files of upstream's common/persistence/sql package.
func sqlStoreFiles(t *testing.T, dir string) []*ast.File {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "common/persistence/sql/*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// callsOf returns, per enclosing function ("Recv.Name" or "Name"), the calls to a function or
// method named name, each as the source-like text of its arguments.
func callsOf(files []*ast.File, name string) map[string][][]string {
	out := map[string][][]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				var callee string
				switch fn := call.Fun.(type) {
				case *ast.Ident:
					callee = fn.Name
				case *ast.SelectorExpr:
					callee = fn.Sel.Name
				}
				if callee != name {
					return true
				}
				var args []string
				for _, a := range call.Args {
					args = append(args, exprText(a))
				}
				out[funcName(fd)] = append(out[funcName(fd)], args)
				return true
			})
		}
	}
	return out
}

func exprText(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprText(x.X) + "." + x.Sel.Name
	case *ast.BasicLit:
		return x.Value
	}
	return "<expr>"
}

// TestFencedCallsAreTheWrappedOnes pins what dsql/fence.go assumes of upstream's SQL store:
// the fenced operations (callers of txExecuteShardLocked) are exactly the five that
// FencedExecutionStore marks, each passing the call's ctx and its request's ShardID and
// RangeID; txExecuteShardLocked is the only caller of readLockShard, and readLockShard the
// only caller of ReadLockShards, so the mark in a call's context is used by that call's fence
// only. A new fenced operation would keep the fence read (safe, not batched) and fails here,
// so that FencedExecutionStore is extended.
func TestFencedCallsAreTheWrappedOnes(t *testing.T) {
	files := sqlStoreFiles(t, moduleDir(t))
	var fenced []string
	for caller, calls := range callsOf(files, "txExecuteShardLocked") {
		fenced = append(fenced, caller)
		for _, args := range calls {
			if len(args) != 5 || args[0] != "ctx" || args[2] != "request.ShardID" || args[3] != "request.RangeID" {
				t.Errorf("upstream %s calls txExecuteShardLocked(%s); dsql/fence.go assumes (ctx, op, request.ShardID, request.RangeID, fn)", caller, strings.Join(args, ", "))
			}
		}
	}
	sort.Strings(fenced)
	want := []string{
		"sqlExecutionStore.AddHistoryTasks",
		"sqlExecutionStore.ConflictResolveWorkflowExecution",
		"sqlExecutionStore.CreateWorkflowExecution",
		"sqlExecutionStore.SetWorkflowExecution",
		"sqlExecutionStore.UpdateWorkflowExecution",
	}
	if strings.Join(fenced, ",") != strings.Join(want, ",") {
		t.Errorf("upstream's fenced operations are %v; dsql/fence.go FencedExecutionStore marks %v", fenced, want)
	}
	for name, wantCaller := range map[string]string{"readLockShard": "sqlExecutionStore.txExecuteShardLocked", "ReadLockShards": "readLockShard"} {
		callers := callsOf(files, name)
		if len(callers) != 1 || len(callers[wantCaller]) != 1 {
			t.Errorf("upstream calls %s from %v; dsql/fence.go assumes one call, from %s", name, callers, wantCaller)
		}
	}
}

// TestFenceMirrorsReadLockShard: the texts dsql/fence.go builds its errors from are the ones in
// upstream's readLockShard (the Msg of its ShardOwnershipLostError, the Unavailable for a missing
// shard row).
func TestFenceMirrorsReadLockShard(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(moduleDir(t), "common/persistence/sql/shard.go"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "shard.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var lits []string
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == "readLockShard" {
			ast.Inspect(fd, func(n ast.Node) bool {
				if bl, ok := n.(*ast.BasicLit); ok && bl.Kind == token.STRING {
					if s, err := strconv.Unquote(bl.Value); err == nil {
						lits = append(lits, s)
					}
				}
				return true
			})
		}
	}
	for _, want := range []string{dsql.ShardFenceLostMsg, dsql.ShardFenceMissingMsg} {
		found := false
		for _, l := range lits {
			found = found || l == want
		}
		if !found {
			t.Errorf("upstream readLockShard no longer uses %q (its strings: %q): update dsql/fence.go", want, lits)
		}
	}
}

// TestExecutionCheckedCallsAreTheMarkedOnes pins what dsql/rowcheck.go assumes of upstream's SQL
// store: tx.WriteLockExecutions is called only by lockExecution, lockExecution only by
// lockAndCheckExecution, and lockAndCheckExecution only by applyWorkflowMutationTx and
// applyWorkflowSnapshotTxAsReset, each with the call's ctx and its mutation's / snapshot's
// Condition and DBRecordVersion; those two are called only from the three operations that
// FencedExecutionStore marks (with the request's UpdateWorkflowMutation, ResetWorkflowSnapshot,
// CurrentWorkflowMutation, SetWorkflowSnapshot). A new caller keeps the lock read (safe, not
// batched) and fails here, so that the marks are extended.
func TestExecutionCheckedCallsAreTheMarkedOnes(t *testing.T) {
	files := sqlStoreFiles(t, moduleDir(t))
	for name, want := range map[string]string{
		"WriteLockExecutions":            "lockExecution",
		"lockExecution":                  "lockAndCheckExecution",
		"applyWorkflowMutationTx":        "sqlExecutionStore.conflictResolveWorkflowExecutionTx,sqlExecutionStore.updateWorkflowExecutionTx",
		"applyWorkflowSnapshotTxAsReset": "sqlExecutionStore.conflictResolveWorkflowExecutionTx,sqlExecutionStore.setWorkflowExecutionTx",
	} {
		var callers []string
		for c := range callsOf(files, name) {
			callers = append(callers, c)
		}
		sort.Strings(callers)
		if strings.Join(callers, ",") != want {
			t.Errorf("upstream calls %s from %v; dsql/rowcheck.go assumes %s", name, callers, want)
		}
	}
	calls := callsOf(files, "lockAndCheckExecution")
	for caller, arg := range map[string]string{"sqlExecutionStore.applyWorkflowMutationTx": "workflowMutation", "sqlExecutionStore.applyWorkflowSnapshotTxAsReset": "workflowSnapshot"} {
		got := calls[caller]
		if len(got) != 1 || len(got[0]) != 8 || got[0][0] != "ctx" || got[0][6] != arg+".Condition" || got[0][7] != arg+".DBRecordVersion" {
			t.Errorf("upstream %s calls lockAndCheckExecution(%v); dsql/rowcheck.go assumes (ctx, tx, shardID, ns, wf, run, %s.Condition, %s.DBRecordVersion)", caller, got, arg, arg)
		}
	}
	if len(calls) != 2 {
		t.Errorf("upstream calls lockAndCheckExecution from %d functions; dsql/rowcheck.go assumes applyWorkflowMutationTx and applyWorkflowSnapshotTxAsReset", len(calls))
	}
}

// TestExecutionCheckMirrorsLockAndCheckExecution: the texts dsql/rowcheck.go builds its errors
// from are the ones in upstream's lockAndCheckExecution (both WorkflowConditionFailedError
// messages) and lockExecution (the ConditionFailedError for a missing row).
func TestExecutionCheckMirrorsLockAndCheckExecution(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(moduleDir(t), "common/persistence/sql/execution_util.go"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "execution_util.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	lits := map[string][]string{}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && (fd.Name.Name == "lockAndCheckExecution" || fd.Name.Name == "lockExecution") {
			ast.Inspect(fd, func(n ast.Node) bool {
				if bl, ok := n.(*ast.BasicLit); ok && bl.Kind == token.STRING {
					if s, err := strconv.Unquote(bl.Value); err == nil {
						lits[fd.Name.Name] = append(lits[fd.Name.Name], s)
					}
				}
				return true
			})
		}
	}
	for fn, wants := range map[string][]string{
		"lockAndCheckExecution": {dsql.ExecutionNextEventMismatchMsg, dsql.ExecutionVersionMismatchMsg},
		"lockExecution":         {dsql.ExecutionMissingMsg},
	} {
		for _, want := range wants {
			found := false
			for _, l := range lits[fn] {
				found = found || l == want
			}
			if !found {
				t.Errorf("upstream %s no longer uses %q (its strings: %q): update dsql/rowcheck.go", fn, want, lits[fn])
			}
		}
	}
}
