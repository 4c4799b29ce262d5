package upstreamguard

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// moduleDir is the pinned upstream module's directory in the module cache.
func moduleDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/server").Output()
	if err != nil {
		t.Fatalf("go list -m go.temporal.io/server: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("go.temporal.io/server is not in the module cache (go mod download)")
	}
	return dir
}

// TestUpstreamPinsHold fails, naming the declaration and what depends on it, when the pinned
// upstream source differs from what the plugin was written against.
func TestUpstreamPinsHold(t *testing.T) {
	for _, p := range Check(moduleDir(t), Pins) {
		t.Error(p)
	}
}

// TestGuardNamesAChangedStatement: a copy of upstream's postgresql/execution.go with one
// statement changed (getBufferedEventsQuery orders by something else) is reported, naming that
// declaration, and only it.
func TestGuardNamesAChangedStatement(t *testing.T) {
	const file = "common/persistence/sql/sqlplugin/postgresql/execution.go"
	src, err := os.ReadFile(filepath.Join(moduleDir(t), file))
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(src), "run_id = $4 ORDER BY id`", "run_id = $4 ORDER BY id DESC`", 1)
	if changed == string(src) {
		t.Fatal("test set-up: getBufferedEventsQuery's text not found")
	}
	tmp := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tmp, filepath.Dir(file)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, file), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	var pins []Pin
	for _, p := range Pins {
		if p.File == file {
			pins = append(pins, p)
		}
	}
	problems := Check(tmp, pins)
	if len(problems) != 1 || !strings.Contains(problems[0], "getBufferedEventsQuery changed") || !strings.Contains(problems[0], "pfBufferedQry") {
		t.Fatalf("want exactly getBufferedEventsQuery reported, got %q", problems)
	}
	t.Log(problems[0])
}

// TestPrintFingerprints prints the current fingerprints (UPSTREAM_GUARD_PRINT=1), for updating
// Pins after an upstream bump has been reviewed.
func TestPrintFingerprints(t *testing.T) {
	if os.Getenv("UPSTREAM_GUARD_PRINT") == "" {
		t.Skip("UPSTREAM_GUARD_PRINT not set")
	}
	dir := moduleDir(t)
	for _, p := range Pins {
		fp, err := Fingerprint(filepath.Join(dir, p.File), p.Decl)
		t.Logf("%s %s %s %v", p.File, p.Decl, fp, err)
	}
}
