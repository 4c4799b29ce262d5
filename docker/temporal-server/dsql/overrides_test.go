package dsql

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.temporal.io/server/common/persistence/sql/sqlplugin"
)

// pluginOwnMethods are the exported methods of db, tx and ops that override nothing upstream:
// the plugin's own API.
var pluginOwnMethods = map[string]bool{
	"Counters":        true, // db: the plugin's counters (tests, logs)
	"ExpectedVersion": true, // db: the DSQL schema version this build needs
}

// TestEveryOverrideNamesAnUpstreamMethod (issue 22, item 4). A method declared on db or tx (or
// on ops and forwarded, overrides.go) takes the place of upstream's promoted method of the same
// name, silently. If upstream renames or drops that
// method, ours would stop being called and nothing else would fail. This test parses the
// package and requires every exported method declared on db, tx or ops to be a method of
// sqlplugin.DB, sqlplugin.AdminDB or sqlplugin.Tx (or listed in pluginOwnMethods), naming any
// that is not.
func TestEveryOverrideNamesAnUpstreamMethod(t *testing.T) {
	upstream := map[string]bool{}
	for _, it := range []reflect.Type{
		reflect.TypeOf((*sqlplugin.DB)(nil)).Elem(),
		reflect.TypeOf((*sqlplugin.AdminDB)(nil)).Elem(),
		reflect.TypeOf((*sqlplugin.Tx)(nil)).Elem(),
	} {
		for i := 0; i < it.NumMethod(); i++ {
			upstream[it.Method(i).Name] = true
		}
	}
	declared := declaredMethods(t, "db", "tx", "ops")
	if len(declared) < 40 {
		t.Fatalf("found only %d methods on db, tx and ops: the parser missed the package", len(declared))
	}
	var stray []string
	for _, m := range declared {
		name := m[strings.Index(m, ".")+1:]
		if !upstream[name] && !pluginOwnMethods[name] {
			stray = append(stray, m)
		}
	}
	sort.Strings(stray)
	if len(stray) > 0 {
		t.Fatalf("methods that override no method of upstream's sqlplugin.DB/AdminDB/Tx (renamed or dropped upstream? re-wire them, or list them in pluginOwnMethods): %s", strings.Join(stray, ", "))
	}
}

// TestOverridesAreDeclaredOnDBAndTx (issue 22, item 4): ops is a named field of db and tx, not
// embedded, so an exported ops method overrides upstream's only through a method declared on
// db and on tx themselves (overrides.go forwards). A new ops method without its forwarders would
// never be called (upstream's promoted method would answer instead, silently); this test names it.
func TestOverridesAreDeclaredOnDBAndTx(t *testing.T) {
	onType := map[string]bool{}
	for _, m := range declaredMethods(t, "db", "tx") {
		onType[m] = true
	}
	opsMethods := declaredMethods(t, "ops")
	if len(opsMethods) < 20 {
		t.Fatalf("found only %d exported methods on ops: the parser missed the package", len(opsMethods))
	}
	var missing []string
	for _, m := range opsMethods {
		name := m[strings.Index(m, ".")+1:]
		for _, recv := range []string{"db", "tx"} {
			if !onType[recv+"."+name] {
				missing = append(missing, recv+"."+name)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("ops methods not declared on db/tx (upstream's method would be called instead): %s; add a forwarder in overrides.go", strings.Join(missing, ", "))
	}
}

// declaredMethods returns "Recv.Name" for each exported method of the given receiver types
// declared in the package's non-test files.
func declaredMethods(t *testing.T, recvs ...string) []string {
	t.Helper()
	want := map[string]bool{}
	for _, r := range recvs {
		want[r] = true
	}
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Recv == nil || !fd.Name.IsExported() {
					continue
				}
				rt := fd.Recv.List[0].Type
				if s, ok := rt.(*ast.StarExpr); ok {
					rt = s.X
				}
				if id, ok := rt.(*ast.Ident); ok && want[id.Name] {
					out = append(out, id.Name+"."+fd.Name.Name)
				}
			}
		}
	}
	return out
}
