// Package e2e starts the built temporal-dsql-server binary against dsql-local and a real
// OpenSearch node, and drives it with the Temporal Go SDK: GetSystemInfo, namespace
// registration, and a one-activity workflow run to completion; and the container health
// checks: the binary's `healthcheck` subcommand for every role and the frontend HTTP path the
// NLB checks.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/types/known/durationpb"

	"temporal-dsql/server/dsql"
	"temporal-dsql/server/internal/testenv"
)

func buildServer(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "temporal-dsql-server")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/temporal-dsql-server")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startOpenSearch runs opensearch-local's embedded node (built by scripts/setup.d/30-opensearch.sh).
func startOpenSearch(t *testing.T) string {
	dir := filepath.Join(testenv.RepoRoot(), "opensearch-local", "target")
	cp, err := os.ReadFile(filepath.Join(dir, "classpath.txt"))
	if err != nil {
		t.Fatalf("opensearch-local is not built (%v): run bash scripts/setup.d/30-opensearch.sh", err)
	}
	home := t.TempDir()
	cmd := exec.Command("java", "-Xms512m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dopensearch.local.log.level=WARN", "-cp", filepath.Join(dir, "classes")+":"+strings.TrimSpace(string(cp)),
		"org.opensearch.node.LocalOpenSearchNode", home, "0")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	portRE := regexp.MustCompile(`OPENSEARCH_HTTP_PORT=(\d+)`)
	ports := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := portRE.FindStringSubmatch(sc.Text()); m != nil {
				p, _ := strconv.Atoi(m[1])
				ports <- p
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case p := <-ports:
		return fmt.Sprintf("http://127.0.0.1:%d", p)
	case <-time.After(120 * time.Second):
		t.Fatalf("OpenSearch did not start: %s", stderr.String())
	}
	return ""
}

func put(t *testing.T, url, body string) {
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT %s: %d %s", url, resp.StatusCode, b)
	}
}

func greet(ctx context.Context, name string) (string, error) { return "hello " + name, nil }

func greetWorkflow(ctx workflow.Context, name string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	var out string
	err := workflow.ExecuteActivity(ctx, greet, name).Get(ctx, &out)
	return out, err
}

func TestServerEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bin := buildServer(t)

	d, err := testenv.StartDSQLLocal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	admin, err := d.ConnectAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testenv.ApplySchema(ctx, admin, testenv.DialectDSQL, "postgres"); err != nil {
		t.Fatal(err)
	}
	_, _, arn, _ := d.Credential("temporal-server")
	for _, s := range []string{
		"CREATE ROLE temporal_server WITH LOGIN",
		"AWS IAM GRANT temporal_server TO '" + arn + "'",
		"GRANT USAGE ON SCHEMA public TO temporal_server",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO temporal_server",
	} {
		if _, err := admin.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	admin.Close(ctx)

	osURL := startOpenSearch(t)
	tmpl, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "schema", "visibility", "v14", "index_template.json"))
	if err != nil {
		t.Fatal(err)
	}
	put(t, osURL+"/_template/temporal_visibility_v1_template", string(tmpl))
	put(t, osURL+"/temporal_visibility_v1_e2e", "{}")

	ak, sk, _, _ := d.Credential("temporal-server")
	ports := map[string]int{}
	for _, k := range []string{"FRONTEND_GRPC_PORT", "FRONTEND_HTTP_PORT", "FRONTEND_MEMBERSHIP_PORT", "HISTORY_GRPC_PORT", "HISTORY_MEMBERSHIP_PORT",
		"MATCHING_GRPC_PORT", "MATCHING_MEMBERSHIP_PORT", "WORKER_GRPC_PORT", "WORKER_MEMBERSHIP_PORT", "METRICS_PORT",
		"INTERNAL_FRONTEND_GRPC_PORT", "INTERNAL_FRONTEND_MEMBERSHIP_PORT", "INTERNAL_FRONTEND_HTTP_PORT"} {
		p, err := testenv.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[k] = p
	}
	dir := t.TempDir()
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"DSQL_ENDPOINT=" + d.Hostname, "DSQL_PORT=" + strconv.Itoa(d.Port), "DSQL_REGION=" + d.Region,
		"DSQL_TLS_CA_FILE=" + d.CAFile, "DSQL_DATABASE_ROLE=temporal_server",
		"AWS_ACCESS_KEY_ID=" + ak, "AWS_SECRET_ACCESS_KEY=" + sk, "AWS_REGION=" + d.Region,
		"OPENSEARCH_ENDPOINT=" + osURL, "OPENSEARCH_VISIBILITY_INDEX=temporal_visibility_v1_e2e", "OPENSEARCH_AWS_SIGNING=false",
		"NUM_HISTORY_SHARDS=4", "LOG_LEVEL=warn", "METRICS_BIND_ON_IP=127.0.0.1", "TEMPORAL_ALLOW_PLAINTEXT=true",
		"TEMPORAL_DYNAMIC_CONFIG_FILE=" + filepath.Join(dir, "dc.yaml"),
		"TEMPORAL_DEFAULT_DYNAMIC_CONFIG_FILE=" + filepath.Join("..", "config", "dynamicconfig", "default.yaml"),
	}
	for k, v := range ports {
		env = append(env, k+"="+strconv.Itoa(v))
	}
	startServer := func(logPath string) (*exec.Cmd, chan error) {
		logf, _ := os.Create(logPath)
		srv := exec.Command(bin, "--config-file", filepath.Join("..", "config", "config_template.yaml"), "start", "--allow-no-auth")
		srv.Env = env
		srv.Stdout, srv.Stderr = logf, logf
		srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- srv.Wait(); logf.Close() }()
		return srv, exited
	}

	// Start-up version check: with an older schema installed the server must refuse to
	// start and say which version is installed and which one it needs.
	setVersion := func(v string) {
		conn, err := d.ConnectAdmin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "UPDATE schema_version SET curr_version = $1", v); err != nil {
			t.Fatal(err)
		}
	}
	setVersion("0.9")
	oldLog := filepath.Join(dir, "server-old-schema.log")
	old, oldExited := startServer(oldLog)
	select {
	case err := <-oldExited:
		if err == nil {
			t.Fatal("server exited 0 on an old schema")
		}
	case <-time.After(90 * time.Second):
		_ = old.Process.Kill()
		t.Fatal("server kept running on schema v0.9")
	}
	if b, _ := os.ReadFile(oldLog); !strings.Contains(string(b), "installed schema version is v0.9, this server needs v"+dsql.SchemaVersion) {
		t.Fatalf("old-schema refusal does not name the versions:\n%s", b)
	}
	setVersion(dsql.SchemaVersion)

	logPath := filepath.Join(dir, "server.log")
	srv, exited := startServer(logPath)
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = srv.Process.Kill()
		}
		b, _ := os.ReadFile(logPath)
		var errs []string
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, `"level":"error"`) || strings.Contains(line, `"level":"fatal"`) {
				errs = append(errs, line)
			}
		}
		t.Logf("server log: %d error-level lines", len(errs))
		for i, l := range errs {
			if i == 40 {
				break
			}
			if len(l) > 400 {
				l = l[:400]
			}
			t.Logf("  %s", l)
		}
		if t.Failed() {
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("server log (tail):\n%s", b)
		}
	}()

	// The container health check (`healthcheck`, all four roles as $SERVICES is unset) fails
	// while the roles start and passes once every role reports SERVING.
	healthcheck := func() (string, error) {
		hc := exec.Command(bin, "healthcheck", "--timeout", "3s")
		hc.Env = env
		out, err := hc.CombinedOutput()
		return string(out), err
	}
	started := time.Now()
	firstOut, firstErr := healthcheck()
	for out, err := firstOut, firstErr; err != nil; out, err = healthcheck() {
		select {
		case err := <-exited:
			t.Fatalf("server exited: %v", err)
		default:
		}
		if time.Since(started) > 3*time.Minute {
			t.Fatalf("healthcheck still failing after 3 minutes: %v\n%s", err, out)
		}
		time.Sleep(time.Second)
	}
	t.Logf("healthcheck: all four roles SERVING %.1f s after the process started (first check: %v)", time.Since(started).Seconds(), firstErr)
	// What the NLB target group checks: the frontend HTTP API answers GetSystemInfo with 200
	// only once the frontend is healthy (same interceptors as gRPC).
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/system-info", ports["FRONTEND_HTTP_PORT"])); err != nil {
		t.Fatalf("NLB health check path: %v", err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "serverVersion") {
			t.Fatalf("NLB health check path: %d %s", resp.StatusCode, body)
		}
	}

	hostPort := fmt.Sprintf("127.0.0.1:%d", ports["FRONTEND_GRPC_PORT"])
	var c client.Client
	deadline := time.Now().Add(3 * time.Minute)
	for {
		select {
		case err := <-exited:
			t.Fatalf("server exited: %v", err)
		default:
		}
		c, err = client.Dial(client.Options{HostPort: hostPort, Namespace: "e2e"})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("frontend not reachable: %v", err)
		}
		time.Sleep(time.Second)
	}
	defer c.Close()
	info, err := c.WorkflowService().GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{})
	if err != nil {
		t.Fatalf("GetSystemInfo: %v", err)
	}
	t.Logf("GetSystemInfo: server version %s", info.GetServerVersion())

	nc, err := client.NewNamespaceClient(client.Options{HostPort: hostPort})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: "e2e", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)}); err != nil {
		t.Fatalf("RegisterNamespace: %v", err)
	}

	w := worker.New(c, "e2e-tq", worker.Options{})
	w.RegisterWorkflow(greetWorkflow)
	w.RegisterActivity(greet)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	var result string
	for attempt := 0; ; attempt++ {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "e2e-greet", TaskQueue: "e2e-tq", WorkflowExecutionTimeout: 2 * time.Minute}, greetWorkflow, "dsql")
		if err == nil {
			if err = run.Get(ctx, &result); err == nil {
				break
			}
		}
		// A freshly registered namespace reaches every role's cache within seconds.
		if attempt > 30 {
			t.Fatalf("workflow: %v", err)
		}
		time.Sleep(time.Second)
	}
	if result != "hello dsql" {
		t.Fatalf("workflow result %q", result)
	}
	t.Logf("workflow completed: %q", result)

	if out, err := healthcheck(); err != nil {
		t.Fatalf("healthcheck after the workflow: %v\n%s", err, out)
	}
	// A role that is not there fails the check (exit status 1).
	stopped := exec.Command(bin, "healthcheck", "--service", "matching", "--timeout", "2s")
	stopped.Env = append(append([]string{}, env...), "MATCHING_GRPC_PORT="+strconv.Itoa(ports["METRICS_PORT"]))
	if out, err := stopped.CombinedOutput(); err == nil || stopped.ProcessState.ExitCode() != 1 {
		t.Fatalf("healthcheck against a port without a gRPC server: %v (exit %d)\n%s", err, stopped.ProcessState.ExitCode(), out)
	}
}
