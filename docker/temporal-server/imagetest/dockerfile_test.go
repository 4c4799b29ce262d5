package imagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// contextDir is the image's build context (what the CDK asset and `docker build` send).
const contextDir = ".."

const (
	builderImage = "docker.io/library/golang:1.26.10-bookworm"
	runtimeImage = "gcr.io/distroless/static-debian12:nonroot"
	binaryPath   = "/usr/local/bin/temporal-dsql-server"
	// runtimeDir is the only directory the server writes (lib/services/read-only.ts SERVER_RUNTIME_DIR).
	runtimeDir = "/tmp/temporal"
)

var (
	linuxAMD64 = ocispecs.Platform{OS: "linux", Architecture: "amd64"}
	linuxARM64 = ocispecs.Platform{OS: "linux", Architecture: "arm64"}
)

// registryStub stands in for the registry (no network here): it answers every image metadata
// request with a config for exactly the platform asked for, one layer, and no digest (so the
// graph names images by tag and nothing here pretends to know a real digest). It records the
// requests, so a test can see which image was resolved for which platform.
type registryStub struct {
	mu       sync.Mutex
	resolved map[string]ocispecs.Platform
}

func (r *registryStub) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	if opt.ImageOpt == nil || opt.ImageOpt.Platform == nil {
		return "", "", nil, fmt.Errorf("stub registry: %s requested without a platform", ref)
	}
	p := *opt.ImageOpt.Platform
	r.mu.Lock()
	r.resolved[ref] = p
	r.mu.Unlock()
	img := ocispecs.Image{
		Platform: p,
		RootFS:   ocispecs.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromString("stub layer of " + ref)}},
		Config:   ocispecs.ImageConfig{Env: []string{"PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
	}
	dt, err := json.Marshal(img)
	return ref, "", dt, err
}

// graph is a marshalled LLB definition: every op by digest.
type graph struct {
	ops      map[digest.Digest]*pb.Op
	terminal *pb.Op
}

func (g *graph) input(op *pb.Op, i int64) *pb.Op {
	if i < 0 || int(i) >= len(op.Inputs) {
		return nil
	}
	return g.ops[digest.Digest(op.Inputs[i].Digest)]
}

// compiled is the frontend's result for one build/target platform pair.
type compiled struct {
	graph
	image    ocispecs.Image
	config   ocispecs.ImageConfig
	resolved map[string]ocispecs.Platform
}

// compile runs BuildKit's Dockerfile frontend as `docker buildx build --platform <target>`
// does on a <build> machine and marshals the result to LLB.
func compile(t *testing.T, dockerfile []byte, build, target ocispecs.Platform) *compiled {
	t.Helper()
	ctx := context.Background()
	stub := &registryStub{resolved: map[string]ocispecs.Platform{}}
	res, err := dockerfile2llb.Dockerfile2LLB(ctx, dockerfile, dockerfile2llb.ConvertOpt{
		Config:         dockerui.Config{BuildPlatforms: []ocispecs.Platform{build}},
		TargetPlatform: &target,
		MetaResolver:   stub,
	})
	if err != nil {
		t.Fatalf("dockerfile2llb: %v", err)
	}
	def, err := res.State.Marshal(ctx)
	if err != nil {
		t.Fatalf("marshal LLB: %v", err)
	}
	c := &compiled{graph: graph{ops: map[digest.Digest]*pb.Op{}}, resolved: stub.resolved}
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatal(err)
		}
		c.ops[digest.FromBytes(dt)] = &op
		if op.Op == nil {
			c.terminal = &op // the definition's return value: no op, one input
		}
	}
	if c.terminal == nil || len(c.terminal.Inputs) != 1 {
		t.Fatalf("LLB definition without a terminal op")
	}
	c.image = res.Image.Image
	c.config = res.Image.Config.ImageConfig
	return c
}

func samePlatform(op *pb.Op, p ocispecs.Platform) bool {
	return op.Platform != nil && op.Platform.OS == p.OS && op.Platform.Architecture == p.Architecture && op.Platform.Variant == p.Variant
}

// shellRun is what a `/bin/sh -c` exec would run: the commands with their arguments and the
// environment each would receive. The script is interpreted by mvdan.cc/sh (a POSIX shell in
// Go) with every external command stubbed out, so variable expansion and prefix assignments
// (`GOARCH=$TARGETARCH go build ...`) behave as in the build container, nothing is executed.
type shellRun struct {
	args []string
	env  map[string]string
}

func interpret(t *testing.T, meta *pb.Meta) []shellRun {
	t.Helper()
	if len(meta.Args) != 3 || meta.Args[0] != "/bin/sh" || meta.Args[1] != "-c" {
		t.Fatalf("RUN is not in shell form: %q", meta.Args)
	}
	file, err := syntax.NewParser().Parse(strings.NewReader(meta.Args[2]), "RUN")
	if err != nil {
		t.Fatalf("parse %q: %v", meta.Args[2], err)
	}
	var runs []shellRun
	r, err := interp.New(
		interp.Env(expand.ListEnviron(meta.Env...)),
		interp.StdIO(nil, io.Discard, io.Discard),
		interp.ExecHandlers(func(interp.ExecHandlerFunc) interp.ExecHandlerFunc {
			return func(ctx context.Context, args []string) error {
				env := map[string]string{}
				interp.HandlerCtx(ctx).Env.Each(func(name string, vr expand.Variable) bool {
					if vr.Exported {
						env[name] = vr.String()
					}
					return true
				})
				runs = append(runs, shellRun{args: slices.Clone(args), env: env})
				return nil
			}
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background(), file); err != nil {
		t.Fatalf("interpret %q: %v", meta.Args[2], err)
	}
	return runs
}

// goBuild finds the exec op that runs `go build` and what it runs.
func (c *compiled) goBuild(t *testing.T) (*pb.Op, shellRun) {
	t.Helper()
	var found []*pb.Op
	for _, op := range c.ops {
		if e := op.GetExec(); e != nil && strings.Contains(strings.Join(e.Meta.Args, " "), "go build") {
			found = append(found, op)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d exec ops run go build, want 1", len(found))
	}
	for _, run := range interpret(t, found[0].GetExec().Meta) {
		if len(run.args) > 1 && run.args[0] == "go" && run.args[1] == "build" {
			return found[0], run
		}
	}
	t.Fatalf("the go build RUN never calls go build: %q", found[0].GetExec().Meta.Args)
	return nil, shellRun{}
}

// copied is one COPY into the final image.
type copied struct {
	src, dest string
	from      *pb.Op
	// owner is "uid:gid" of a COPY --chown by id, "" without --chown.
	owner string
}

// finalStage walks the final image's file system back to its base: the image source op and
// the COPYs on top of it (oldest first), and whether any RUN executes in that stage.
func (c *compiled) finalStage(t *testing.T) (base *pb.Op, copies []copied, execs int) {
	t.Helper()
	op := c.ops[digest.Digest(c.terminal.Inputs[0].Digest)]
	for op != nil {
		switch {
		case op.GetSource() != nil:
			slices.Reverse(copies)
			return op, copies, execs
		case op.GetFile() != nil:
			actions := op.GetFile().Actions
			var next *pb.Op
			for i := len(actions) - 1; i >= 0; i-- {
				a := actions[i]
				if cp := a.GetCopy(); cp != nil {
					owner := ""
					if o := cp.GetOwner(); o != nil {
						owner = fmt.Sprintf("%d:%d", o.GetUser().GetByID(), o.GetGroup().GetByID())
					}
					copies = append(copies, copied{src: cp.Src, dest: cp.Dest, from: c.input(op, a.SecondaryInput), owner: owner})
				}
				if in := c.input(op, a.Input); in != nil {
					next = in
				}
			}
			op = next
		case op.GetExec() != nil:
			execs++
			var next *pb.Op
			for _, m := range op.GetExec().Mounts {
				if m.Dest == "/" {
					next = c.input(op, m.Input)
				}
			}
			op = next
		default:
			t.Fatalf("unexpected op in the final stage: %v", op)
		}
	}
	t.Fatalf("final stage does not start from an image")
	return nil, nil, 0
}

func readDockerfile(t *testing.T) []byte {
	t.Helper()
	dt, err := os.ReadFile(filepath.Join(contextDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return dt
}

// TestDockerfileBuildGraph compiles the Dockerfile for both image platforms, from an amd64 and
// from an arm64 builder, and checks the resulting build graph and image config.
func TestDockerfileBuildGraph(t *testing.T) {
	dockerfile := readDockerfile(t)
	for _, tc := range []struct{ build, target ocispecs.Platform }{
		{linuxAMD64, linuxARM64}, // CI or a laptop building the Fargate (ARM64) image
		{linuxAMD64, linuxAMD64},
		{linuxARM64, linuxAMD64}, // an ARM64 machine building cpuArchitecture x86_64
		{linuxARM64, linuxARM64},
	} {
		name := fmt.Sprintf("build-%s/target-%s", tc.build.Architecture, tc.target.Architecture)
		t.Run(name, func(t *testing.T) {
			c := compile(t, dockerfile, tc.build, tc.target)

			// Base images: the Go toolchain for the machine that builds, the runtime for the target.
			if p, ok := c.resolved[builderImage]; !ok || p.Architecture != tc.build.Architecture {
				t.Errorf("%s resolved for %v (found %v), want the build platform %s", builderImage, p, ok, tc.build.Architecture)
			}
			if p, ok := c.resolved[runtimeImage]; !ok || p.Architecture != tc.target.Architecture {
				t.Errorf("%s resolved for %v (found %v), want the target platform %s", runtimeImage, p, ok, tc.target.Architecture)
			}

			// The Go build runs on the build platform and cross-compiles for the target.
			buildOp, run := c.goBuild(t)
			if !samePlatform(buildOp, tc.build) {
				t.Errorf("go build runs on %v, want the build platform %v", buildOp.Platform, tc.build)
			}
			for k, want := range map[string]string{"GOOS": tc.target.OS, "GOARCH": tc.target.Architecture, "CGO_ENABLED": "0"} {
				if got := run.env[k]; got != want {
					t.Errorf("go build gets %s=%q, want %q (args %q)", k, got, want, run.args)
				}
			}
			if i := slices.Index(run.args, "-o"); i < 0 || i+1 >= len(run.args) || run.args[i+1] != "/out/temporal-dsql-server" {
				t.Errorf("go build does not write /out/temporal-dsql-server: %q", run.args)
			}
			if last := run.args[len(run.args)-1]; last != "./cmd/temporal-dsql-server" {
				t.Errorf("go build builds %q, want ./cmd/temporal-dsql-server", last)
			}

			// The final stage: the distroless base for the target, three files and the runtime
			// directory (the one path the server writes, owned by its user), no RUN.
			base, copies, execs := c.finalStage(t)
			if id := base.GetSource().Identifier; id != "docker-image://"+runtimeImage || !samePlatform(base, tc.target) {
				t.Errorf("final stage starts from %s on %v, want %s on %v", id, base.Platform, runtimeImage, tc.target)
			}
			if execs != 0 {
				t.Errorf("final stage runs %d commands; the distroless base has no shell", execs)
			}
			want := []struct{ src, dest, from, owner string }{
				{"/out/temporal-dsql-server", binaryPath, "go build", ""},
				{"/config/config_template.yaml", "/etc/temporal/config.yaml", "local://context", ""},
				{"/config/dynamicconfig/default.yaml", "/etc/temporal/dynamicconfig/default.yaml", "local://context", ""},
				{"/out/runtime", runtimeDir + "/", "go build", "65532:65532"},
			}
			if len(copies) != len(want) {
				t.Fatalf("final stage copies %d files, want %d: %+v", len(copies), len(want), copies)
			}
			for i, w := range want {
				got := copies[i]
				var from string
				switch {
				case got.from == buildOp:
					from = "go build"
				case got.from != nil && got.from.GetSource() != nil:
					from = got.from.GetSource().Identifier
				}
				if got.src != w.src || got.dest != w.dest || from != w.from || got.owner != w.owner {
					t.Errorf("copy %d: %s -> %s from %q owner %q, want %s -> %s from %q owner %q", i, got.src, got.dest, from, got.owner, w.src, w.dest, w.from, w.owner)
				}
			}

			// Image config: what ECS runs (docs/server-container.md).
			if c.image.OS != tc.target.OS || c.image.Architecture != tc.target.Architecture {
				t.Errorf("image platform %s/%s, want %s/%s", c.image.OS, c.image.Architecture, tc.target.OS, tc.target.Architecture)
			}
			if c.config.User != "65532:65532" {
				t.Errorf("user %q, want 65532:65532 (non-root)", c.config.User)
			}
			if !slices.Equal(c.config.Entrypoint, []string{binaryPath}) || !slices.Equal(c.config.Cmd, []string{"start"}) {
				t.Errorf("entrypoint %q cmd %q, want [%s] [start]", c.config.Entrypoint, c.config.Cmd, binaryPath)
			}
			// The runtime directory is a VOLUME: ECS copies it (and its owner) into the task's volume there.
			if _, ok := c.config.Volumes[runtimeDir]; !ok || len(c.config.Volumes) != 1 {
				t.Errorf("image volumes %v, want exactly %s", c.config.Volumes, runtimeDir)
			}
			for _, e := range []string{"TEMPORAL_CONFIG_FILE=/etc/temporal/config.yaml", "TEMPORAL_DYNAMIC_CONFIG_FILE=" + runtimeDir + "/dynamicconfig.yaml"} {
				if !slices.Contains(c.config.Env, e) {
					t.Errorf("image env lacks %s: %q", e, c.config.Env)
				}
			}
			for _, port := range []string{"7233/tcp", "7234/tcp", "7235/tcp", "7239/tcp", "6933/tcp", "6934/tcp", "6935/tcp", "6939/tcp", "7243/tcp", "9090/tcp"} {
				if _, ok := c.config.ExposedPorts[port]; !ok {
					t.Errorf("image does not expose %s", port)
				}
			}
		})
	}
}

// TestDockerfileContextPaths checks that every path the build reads from the context exists
// there (a missing one fails only in `cdk deploy`, where the image is built).
func TestDockerfileContextPaths(t *testing.T) {
	c := compile(t, readDockerfile(t), linuxAMD64, linuxARM64)
	var paths []string
	for _, op := range c.ops {
		if s := op.GetSource(); s != nil && s.Identifier == "local://context" {
			if err := json.Unmarshal([]byte(s.Attrs["local.followpaths"]), &paths); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(paths) == 0 {
		t.Fatal("the build reads nothing from the context")
	}
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(contextDir, p)); err != nil {
			t.Errorf("the Dockerfile reads %s from the context: %v", p, err)
		}
	}
}

// TestDockerfileTargetArgDefaultWins shows the failure this suite guards against: with a
// default on ARG TARGETARCH (as the Dockerfile had), BuildKit keeps the default, and an
// arm64 image gets an amd64 binary. If this stops failing that way, the assertions above
// may no longer be able to see the bug.
func TestDockerfileTargetArgDefaultWins(t *testing.T) {
	dockerfile := readDockerfile(t)
	broken := strings.Replace(string(dockerfile), "ARG TARGETARCH\n", "ARG TARGETARCH=amd64\n", 1)
	if broken == string(dockerfile) {
		t.Fatal("the Dockerfile has no plain `ARG TARGETARCH` line to break")
	}
	_, run := compile(t, []byte(broken), linuxAMD64, linuxARM64).goBuild(t)
	if got := run.env["GOARCH"]; got != "amd64" {
		t.Fatalf("with ARG TARGETARCH=amd64, go build gets GOARCH=%q for an arm64 target; want the default amd64", got)
	}
}
