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

// TestCurrentCheckedCallsAreTheMarkedOnes pins what dsql/currentcheck.go assumes of upstream's
// SQL store: tx.LockCurrentExecutions is called only by assertNotCurrentExecution (never marked:
// FencedExecutionStore marks mode UpdateCurrent only) and assertCurrentExecution;
// assertCurrentExecution only by assertRunIDAndUpdateCurrentExecution, which is called only from
// updateWorkflowExecutionTx (expecting runID, the mutation's run) and
// conflictResolveWorkflowExecutionTx (expecting prevRunID), each with the call's ctx. A new
// caller keeps the lock read (safe, not batched) and fails here, so that the marks are reviewed.
func TestCurrentCheckedCallsAreTheMarkedOnes(t *testing.T) {
	files := sqlStoreFiles(t, moduleDir(t))
	for name, want := range map[string]string{
		"LockCurrentExecutions":                "assertCurrentExecution,assertNotCurrentExecution",
		"assertCurrentExecution":               "assertRunIDAndUpdateCurrentExecution",
		"assertRunIDAndUpdateCurrentExecution": "sqlExecutionStore.conflictResolveWorkflowExecutionTx,sqlExecutionStore.updateWorkflowExecutionTx",
	} {
		var callers []string
		for c := range callsOf(files, name) {
			callers = append(callers, c)
		}
		sort.Strings(callers)
		if strings.Join(callers, ",") != want {
			t.Errorf("upstream calls %s from %v; dsql/currentcheck.go assumes %s", name, callers, want)
		}
	}
	calls := callsOf(files, "assertRunIDAndUpdateCurrentExecution")
	for caller, prev := range map[string]string{"sqlExecutionStore.updateWorkflowExecutionTx": "runID", "sqlExecutionStore.conflictResolveWorkflowExecutionTx": "prevRunID"} {
		got := calls[caller]
		if len(got) != 1 || len(got[0]) != 5 || got[0][0] != "ctx" || got[0][2] != "row" || got[0][3] != prev {
			t.Errorf("upstream %s calls assertRunIDAndUpdateCurrentExecution(%v); dsql/currentcheck.go assumes (ctx, tx, row, %s, serializer)", caller, got, prev)
		}
	}
}

// TestCurrentCheckMirrorsAssertRunID: the texts dsql/currentcheck.go builds its errors from are
// the ones in upstream's assertRunIDAndUpdateCurrentExecution (the CurrentWorkflowConditionFailedError
// Msg) and assertCurrentExecution (the Unavailable for a failed read, e.g. no row).
func TestCurrentCheckMirrorsAssertRunID(t *testing.T) {
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
		if fd, ok := d.(*ast.FuncDecl); ok && (fd.Name.Name == "assertRunIDAndUpdateCurrentExecution" || fd.Name.Name == "assertCurrentExecution") {
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
	for fn, want := range map[string]string{
		"assertRunIDAndUpdateCurrentExecution": dsql.CurrentRunMismatchMsg,
		"assertCurrentExecution":               dsql.CurrentLoadFailedMsg,
	} {
		found := false
		for _, l := range lits[fn] {
			found = found || l == want
		}
		if !found {
			t.Errorf("upstream %s no longer uses %q (its strings: %q): update dsql/currentcheck.go", fn, want, lits[fn])
		}
	}
}
