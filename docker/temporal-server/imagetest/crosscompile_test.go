package imagetest

import (
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestServerCrossCompilesForLinuxArm64 runs the Dockerfile's own `go build` step, as the
// frontend compiles it for linux/arm64 on this machine's platform, with this machine's Go
// toolchain (the image pins the same Go release), and checks the ELF header and the Go build
// info of the binary: an AArch64, statically linked, linux/arm64 executable of our server.
// The first run compiles Temporal for arm64 (minutes, see docs/server-container.md); later runs
// reuse the Go build cache.
func TestServerCrossCompilesForLinuxArm64(t *testing.T) {
	host := ocispecs.Platform{OS: "linux", Architecture: runtime.GOARCH}
	_, run := compile(t, readDockerfile(t), host, linuxARM64).goBuild(t)

	out := filepath.Join(t.TempDir(), "temporal-dsql-server")
	args := slices.Clone(run.args[1:])
	i := slices.Index(args, "-o")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("go build without -o: %q", run.args)
	}
	args[i+1] = out
	cmd := exec.Command("go", args...)
	cmd.Dir = contextDir // the build stage's WORKDIR /src holds go.mod, go.sum, cmd/ and dsql/
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+run.env["CGO_ENABLED"], "GOOS="+run.env["GOOS"], "GOARCH="+run.env["GOARCH"])
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
	}
	t.Logf("%s GOOS=%s GOARCH=%s CGO_ENABLED=%s %v: %.0f s", cmd.Dir, run.env["GOOS"], run.env["GOARCH"], run.env["CGO_ENABLED"], cmd.Args, time.Since(start).Seconds())

	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.Class != elf.ELFCLASS64 || f.Type != elf.ET_EXEC {
		t.Errorf("ELF machine %v class %v type %v, want EM_AARCH64 ELFCLASS64 ET_EXEC", f.Machine, f.Class, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("binary has a %v program header: not static, cannot run on distroless/static", p.Type)
		}
	}

	info, err := buildinfo.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for k, want := range map[string]string{"GOOS": "linux", "GOARCH": "arm64", "CGO_ENABLED": "0", "-trimpath": "true"} {
		if settings[k] != want {
			t.Errorf("build setting %s=%q, want %q", k, settings[k], want)
		}
	}
	if info.Path != "temporal-dsql/server/cmd/temporal-dsql-server" {
		t.Errorf("main package %q", info.Path)
	}
	pinned, err := exec.Command("go", "list", "-C", contextDir, "-m", "-f", "{{.Version}}", "go.temporal.io/server").Output()
	if err != nil {
		t.Fatal(err)
	}
	var temporal string
	for _, d := range info.Deps {
		if d.Path == "go.temporal.io/server" {
			temporal = d.Version
		}
	}
	if want := strings.TrimSpace(string(pinned)); temporal != want {
		t.Errorf("go.temporal.io/server %q in the binary, want %q (the server module's go.mod)", temporal, want)
	}
}
