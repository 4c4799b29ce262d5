package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/types/known/durationpb"

	"temporal-dsql/server/internal/testenv"
)

// The server at DSQL's limits (issue 10): big workflows live, reset and get deleted on
// dsql-local with its 3,000-rows-per-transaction limit on, and on plain PostgreSQL.
//
//   - a workflow of 1,100 sequential activities (3 history batches each, > 3,300
//     history_node rows) completes; it is reset to its first workflow task, the new run
//     completes; both runs are deleted with DeleteWorkflowExecution and no row of either
//     run remains after at most 2 minutes;
//   - a second workflow of the same size is deleted by retention on its own: the
//     namespace's retention is 3 s, allowed by upstream's dynamic config
//     system.namespaceMinRetentionLocal (default 1 h), and history.retentionTimerJitterDuration
//     is 1 s (default 30 min);
//   - a workflow at the pending caps of the default dynamic config (500 activities and 300
//     timers scheduled in one workflow task) completes, is reset and deleted; one activity
//     beyond the cap fails the workflow task with PENDING_ACTIVITIES_LIMIT_EXCEEDED;
//   - the server log never shows SQLSTATE 54000.
//
// It runs on dsql-local by default (about 3.5 minutes here); DSQL_LIMITS_E2E_BACKENDS=dsql-local,postgres
// adds plain PostgreSQL (about 4 more minutes, kept out of npm test for its time budget; the
// persistence-level tests in ../persistencetest run every bulk delete on both backends).
// DSQL_LIMITS_E2E=0 skips it.

// bigActivities is the size of the big workflows: 1,100 activities, each one batch for
// its scheduling, one for its completion and one for the next workflow task's start.
const bigActivities = 1100

// quietSDKLogger keeps the SDK's per-task debug lines (thousands here) out of the test output.
var quietSDKLogger = sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))

func noop(ctx context.Context, i int) (int, error) { return i, nil }

// sequentialActivities runs n activities one after the other, stopping early when it
// receives the "stop" signal.
func sequentialActivities(ctx workflow.Context, n int) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	stop := workflow.GetSignalChannel(ctx, "stop")
	done := 0
	for i := 0; i < n; i++ {
		if stop.ReceiveAsync(nil) {
			break
		}
		if err := workflow.ExecuteActivity(ctx, noop, i).Get(ctx, nil); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

// pendingAtOnce schedules activities and timers in its first workflow task and waits for
// all of them.
func pendingAtOnce(ctx workflow.Context, activities, timers int) (int, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 2 * time.Minute})
	var fs []workflow.Future
	for i := 0; i < activities; i++ {
		fs = append(fs, workflow.ExecuteActivity(ctx, noop, i))
	}
	for i := 0; i < timers; i++ {
		fs = append(fs, workflow.NewTimer(ctx, 2*time.Second))
	}
	for _, f := range fs {
		if err := f.Get(ctx, nil); err != nil {
			return 0, err
		}
	}
	return len(fs), nil
}

// limitsServer is the built server running on one backend.
type limitsServer struct {
	hostPort string
	metrics  string // Prometheus endpoint
	logPath  string
	db       *pgx.Conn // counts rows
}

// runTablesE2E are the tables holding rows of one run (keyed by namespace, workflow, run).
var runTablesE2E = []string{"executions", "activity_info_maps", "timer_info_maps", "child_execution_info_maps",
	"request_cancel_info_maps", "signal_info_maps", "signals_requested_sets", "buffered_events", "chasm_node_maps"}

// rowsOf returns the tables that still hold rows of the runs (history by tree: the first
// run's id, shared by runs reset from it), "" for none.
func (s *limitsServer) rowsOf(ctx context.Context, nsID, wf, tree string, runs ...string) (string, error) {
	var left []string
	for _, run := range runs {
		for _, table := range runTablesE2E {
			var n int
			if err := s.db.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE namespace_id = $1 AND workflow_id = $2 AND run_id = $3`, table), nsID, wf, run).Scan(&n); err != nil {
				return "", fmt.Errorf("counting %s: %w", table, err)
			}
			if n > 0 {
				left = append(left, fmt.Sprintf("%s=%d", table, n))
			}
		}
	}
	for _, q := range []struct {
		table, sql string
		args       []any
	}{
		{"current_executions", `SELECT count(*) FROM current_executions WHERE namespace_id = $1 AND workflow_id = $2`, []any{nsID, wf}},
		{"history_node", `SELECT count(*) FROM history_node WHERE tree_id = $1`, []any{tree}},
		{"history_tree", `SELECT count(*) FROM history_tree WHERE tree_id = $1`, []any{tree}},
	} {
		var n int
		if err := s.db.QueryRow(ctx, q.sql, q.args...).Scan(&n); err != nil {
			return "", fmt.Errorf("counting %s: %w", q.table, err)
		}
		if n > 0 {
			left = append(left, fmt.Sprintf("%s=%d", q.table, n))
		}
	}
	return strings.Join(left, " "), nil
}

func TestServerAtDSQLLimits(t *testing.T) {
	if os.Getenv("DSQL_LIMITS_E2E") == "0" {
		t.Skip("DSQL_LIMITS_E2E=0")
	}
	bin := buildServer(t)
	osURL := startOpenSearch(t)
	tmpl, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "schema", "visibility", "v14", "index_template.json"))
	if err != nil {
		t.Fatal(err)
	}
	put(t, osURL+"/_template/temporal_visibility_v1_template", string(tmpl))

	backends := os.Getenv("DSQL_LIMITS_E2E_BACKENDS")
	if backends == "" {
		backends = "dsql-local"
	}
	for _, backend := range []string{"dsql-local", "postgres"} {
		if !strings.Contains(backends, backend) {
			continue
		}
		t.Run(backend, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
			defer cancel()
			index := "temporal_visibility_v1_limits_" + strings.ReplaceAll(backend, "-", "_")
			put(t, osURL+"/"+index, "{}")
			s := startLimitsServer(ctx, t, bin, backend, osURL, index)
			runLimitCases(ctx, t, s)
		})
	}
}

// startLimitsServer prepares the backend's database and starts the server binary on it
// with the project's config template (dsql-local) or the same config rendered and pointed
// at plain PostgreSQL (password, no TLS: the plugin's test-only settings).
func startLimitsServer(ctx context.Context, t *testing.T, bin, backend, osURL, index string) *limitsServer {
	dir := t.TempDir()
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
	defaults, err := os.ReadFile(filepath.Join("..", "config", "dynamicconfig", "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Upstream's dynamic config for a short retention (see the file comment); a fast
	// connection rate because the four roles share one process here.
	dc := string(defaults) + `
system.namespaceMinRetentionLocal:
  - value: 1s
history.retentionTimerJitterDuration:
  - value: 1s
`
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"OPENSEARCH_ENDPOINT=" + osURL, "OPENSEARCH_VISIBILITY_INDEX=" + index, "OPENSEARCH_AWS_SIGNING=false",
		"NUM_HISTORY_SHARDS=4", "LOG_LEVEL=warn", "METRICS_BIND_ON_IP=127.0.0.1", "TEMPORAL_ALLOW_PLAINTEXT=true", "DSQL_CONNECT_RATE=50",
		"TEMPORAL_DYNAMIC_CONFIG=" + dc,
		"TEMPORAL_DYNAMIC_CONFIG_FILE=" + filepath.Join(dir, "dc.yaml"),
	}
	for k, v := range ports {
		env = append(env, k+"="+strconv.Itoa(v))
	}
	configFile := filepath.Join("..", "config", "config_template.yaml")
	s := &limitsServer{hostPort: fmt.Sprintf("127.0.0.1:%d", ports["FRONTEND_GRPC_PORT"]), logPath: filepath.Join(dir, "server.log"),
		metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports["METRICS_PORT"])}

	switch backend {
	case "dsql-local":
		d, err := testenv.StartDSQLLocal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Stop)
		admin, err := d.ConnectAdmin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := testenv.ApplySchema(ctx, admin, testenv.DialectDSQL, "postgres"); err != nil {
			t.Fatal(err)
		}
		_, _, arn, _ := d.Credential("temporal-server")
		for _, q := range []string{
			"CREATE ROLE temporal_server WITH LOGIN",
			"AWS IAM GRANT temporal_server TO '" + arn + "'",
			"GRANT USAGE ON SCHEMA public TO temporal_server",
			"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO temporal_server",
		} {
			if _, err := admin.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		s.db = admin
		ak, sk, _, _ := d.Credential("temporal-server")
		env = append(env, "DSQL_ENDPOINT="+d.Hostname, "DSQL_PORT="+strconv.Itoa(d.Port), "DSQL_REGION="+d.Region,
			"DSQL_TLS_CA_FILE="+d.CAFile, "DSQL_DATABASE_ROLE=temporal_server",
			"AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk, "AWS_REGION="+d.Region)
	case "postgres":
		p, err := testenv.StartPostgres(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
		admin, err := p.Connect(ctx, "postgres")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(ctx, "CREATE DATABASE limits"); err != nil {
			t.Fatal(err)
		}
		admin.Close(ctx)
		conn, err := p.Connect(ctx, "limits")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := testenv.ApplySchema(ctx, conn, testenv.DialectPostgres, "limits"); err != nil {
			t.Fatal(err)
		}
		s.db = conn
		env = append(env, "DSQL_ENDPOINT=127.0.0.1", "DSQL_PORT="+strconv.Itoa(p.Port), "DSQL_REGION=us-east-1", "DSQL_DATABASE_ROLE=postgres")
		configFile = templateForPostgres(t, configFile, filepath.Join(dir, "config_template.yaml"))
	}
	t.Cleanup(func() { _ = s.db.Close(context.Background()) })

	logf, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(bin, "--config-file", configFile, "start", "--allow-no-auth")
	srv.Env = env
	srv.Stdout, srv.Stderr = logf, logf
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = srv.Process.Kill()
		}
		if t.Failed() {
			b, _ := os.ReadFile(s.logPath)
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("server log (tail):\n%s", b)
		}
	})
	return s
}

// templateForPostgres writes a copy of the config template whose dsql datastore points at
// plain PostgreSQL: database "limits", a password login and TLS off (connectAttributes.sslmode,
// which the plugin accepts only together with a password). Everything else, and the
// rendering, is the project's template.
func templateForPostgres(t *testing.T, template, out string) string {
	b, err := os.ReadFile(template)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, r := range []struct{ old, new string }{
		{"databaseName: postgres\n", "databaseName: limits\n        password: unused-trust-auth\n"},
		{"region: \"{{ $region }}\"\n", "region: \"{{ $region }}\"\n          sslmode: disable\n"},
	} {
		if strings.Count(text, r.old) != 1 {
			t.Fatalf("config template: %q is not there exactly once; update this test", r.old)
		}
		text = strings.Replace(text, r.old, r.new, 1)
	}
	if err := os.WriteFile(out, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// pluginCounters returns the plugin's counters (connections, OCC conflicts and retries; a
// conflict series appears once one was recorded) from the server's Prometheus endpoint.
func pluginCounters(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "dsql_") {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		return "no dsql_* series"
	}
	return strings.Join(out, "; ")
}

func runLimitCases(ctx context.Context, t *testing.T, s *limitsServer) {
	var c client.Client
	var err error
	deadline := time.Now().Add(3 * time.Minute)
	for {
		c, err = client.Dial(client.Options{HostPort: s.hostPort, Namespace: "limits", Logger: quietSDKLogger})
		if err == nil {
			_, err = c.WorkflowService().GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{})
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("frontend not reachable: %v", err)
		}
		time.Sleep(time.Second)
	}
	defer c.Close()
	nc, err := client.NewNamespaceClient(client.Options{HostPort: s.hostPort, Logger: quietSDKLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for name, retention := range map[string]time.Duration{"limits": 24 * time.Hour, "retention": 3 * time.Second} {
		if err := nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: name, WorkflowExecutionRetentionPeriod: durationpb.New(retention)}); err != nil {
			t.Fatalf("RegisterNamespace %s: %v", name, err)
		}
	}
	nsIDs := map[string]string{}
	for _, name := range []string{"limits", "retention"} {
		d, err := nc.Describe(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		nsIDs[name] = d.GetNamespaceInfo().GetId()
	}
	rc, err := client.Dial(client.Options{HostPort: s.hostPort, Namespace: "retention", Logger: quietSDKLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	for _, cl := range []client.Client{c, rc} {
		w := worker.New(cl, "limits-tq", worker.Options{})
		w.RegisterWorkflow(sequentialActivities)
		w.RegisterWorkflow(pendingAtOnce)
		w.RegisterActivity(noop)
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
	}

	// start runs a workflow, retrying while a freshly registered namespace reaches the
	// roles' caches.
	start := func(cl client.Client, id string, wf any, args ...any) client.WorkflowRun {
		t.Helper()
		for attempt := 0; ; attempt++ {
			run, err := cl.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "limits-tq"}, wf, args...)
			if err == nil {
				return run
			}
			if attempt > 30 {
				t.Fatalf("starting %s: %v", id, err)
			}
			time.Sleep(time.Second)
		}
	}
	historyNodes := func(tree string) int {
		var n int
		if err := s.db.QueryRow(ctx, `SELECT count(*) FROM history_node WHERE tree_id = $1`, tree).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// waitGone polls until no row of the runs remains; it returns how long that took.
	waitGone := func(ns, wf, tree string, limit time.Duration, runs ...string) time.Duration {
		t.Helper()
		began := time.Now()
		for {
			left, err := s.rowsOf(ctx, nsIDs[ns], wf, tree, runs...)
			if err != nil {
				t.Fatal(err)
			}
			if left == "" {
				return time.Since(began)
			}
			if time.Since(began) > limit {
				t.Fatalf("%s: rows of %v remain after %v: %s", wf, runs, limit, left)
			}
			time.Sleep(time.Second)
		}
	}
	deleteRun := func(wf, run string) {
		t.Helper()
		_, err := c.WorkflowService().DeleteWorkflowExecution(ctx, &workflowservice.DeleteWorkflowExecutionRequest{
			Namespace: "limits", WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: wf, RunId: run},
		})
		if err != nil {
			t.Fatalf("DeleteWorkflowExecution %s/%s: %v", wf, run, err)
		}
	}

	// Both big workflows run at the same time (the retention one in its own namespace).
	began := time.Now()
	big := start(c, "big", sequentialActivities, bigActivities)
	aged := start(rc, "big-retention", sequentialActivities, bigActivities)
	var done int
	if err := big.Get(ctx, &done); err != nil || done != bigActivities {
		t.Fatalf("big workflow: %d activities, %v", done, err)
	}
	if err := aged.Get(ctx, &done); err != nil || done != bigActivities {
		t.Fatalf("retention workflow: %d activities, %v", done, err)
	}
	t.Logf("two workflows of %d activities completed in %v", bigActivities, time.Since(began).Round(time.Second))
	if n := historyNodes(big.GetRunID()); n < 3300 {
		t.Fatalf("the big workflow has %d history nodes, want >= 3,300", n)
	} else {
		t.Logf("big workflow: %d history_node rows", n)
	}

	t.Run("retention deletes a closed workflow of 1,100 activities", func(t *testing.T) {
		took := waitGone("retention", "big-retention", aged.GetRunID(), 3*time.Minute, aged.GetRunID())
		t.Logf("retention removed every row of the run %v after the waiting started", took.Round(time.Second))
	})

	t.Run("reset to the first workflow task, complete, delete both runs", func(t *testing.T) {
		resp, err := c.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
			Namespace: "limits", WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: "big", RunId: big.GetRunID()},
			WorkflowTaskFinishEventId: 4, RequestId: "reset-big", Reason: "issue 10",
		})
		if err != nil {
			t.Fatalf("reset: %v", err)
		}
		if err := c.SignalWorkflow(ctx, "big", resp.GetRunId(), "stop", nil); err != nil {
			t.Fatalf("signal the reset run: %v", err)
		}
		var n int
		if err := c.GetWorkflow(ctx, "big", resp.GetRunId()).Get(ctx, &n); err != nil {
			t.Fatalf("reset run: %v", err)
		}
		t.Logf("reset run completed after %d activities", n)
		startDelete := time.Now()
		// One run after the other: two DeleteHistoryBranch calls of one tree running at once each
		// keep the nodes the other branch shares (upstream decides what to delete from tree rows it
		// reads outside its transaction, a write skew on any snapshot-isolated store), which left 2
		// history_node rows behind in one CI run. docs/temporal-server.md, "Not done / limits".
		deleteRun("big", big.GetRunID())
		waitBaseBranchGone := time.Now()
		for {
			var trees, execs int
			if err := s.db.QueryRow(ctx, `SELECT count(*) FROM history_tree WHERE tree_id = $1`, big.GetRunID()).Scan(&trees); err != nil {
				t.Fatal(err)
			}
			if err := s.db.QueryRow(ctx, `SELECT count(*) FROM executions WHERE namespace_id = $1 AND workflow_id = 'big' AND run_id = $2`, nsIDs["limits"], big.GetRunID()).Scan(&execs); err != nil {
				t.Fatal(err)
			}
			if trees == 1 && execs == 0 {
				break
			}
			if time.Since(waitBaseBranchGone) > 2*time.Minute {
				t.Fatalf("the base run's execution and branch were not deleted within 2m: executions=%d history_tree=%d", execs, trees)
			}
			time.Sleep(time.Second)
		}
		deleteRun("big", resp.GetRunId())
		waitGone("limits", "big", big.GetRunID(), 2*time.Minute, big.GetRunID(), resp.GetRunId())
		t.Logf("DeleteWorkflowExecution of the %d-activity workflow and its reset run: no row left after %v", bigActivities, time.Since(startDelete).Round(100*time.Millisecond))
	})

	t.Run("at the pending caps: runs, resets, is deleted", func(t *testing.T) {
		const activities, timers = 500, 300 // limit.numPendingActivities.error in default.yaml; timers have no cap
		run := start(c, "at-caps", pendingAtOnce, activities, timers)
		var n int
		if err := run.Get(ctx, &n); err != nil || n != activities+timers {
			t.Fatalf("at-caps workflow: %d, %v", n, err)
		}
		resp, err := c.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
			Namespace: "limits", WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: "at-caps", RunId: run.GetRunID()},
			WorkflowTaskFinishEventId: 4, RequestId: "reset-at-caps", Reason: "issue 10",
		})
		if err != nil {
			t.Fatalf("reset: %v", err)
		}
		if err := c.GetWorkflow(ctx, "at-caps", resp.GetRunId()).Get(ctx, &n); err != nil || n != activities+timers {
			t.Fatalf("reset at-caps run: %d, %v", n, err)
		}
		deleteRun("at-caps", run.GetRunID())
		deleteRun("at-caps", resp.GetRunId())
		waitGone("limits", "at-caps", run.GetRunID(), 2*time.Minute, run.GetRunID(), resp.GetRunId())
	})

	t.Run("one activity beyond the cap fails the workflow task with the limit error", func(t *testing.T) {
		run := start(c, "beyond-caps", pendingAtOnce, 501, 0)
		cause := enumspb.WORKFLOW_TASK_FAILED_CAUSE_UNSPECIFIED
		waitUntil := time.Now().Add(2 * time.Minute)
		for cause == enumspb.WORKFLOW_TASK_FAILED_CAUSE_UNSPECIFIED && time.Now().Before(waitUntil) {
			it := c.GetWorkflowHistory(ctx, "beyond-caps", run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					t.Fatal(err)
				}
				if a := ev.GetWorkflowTaskFailedEventAttributes(); a != nil {
					cause = a.GetCause()
				}
			}
			time.Sleep(time.Second)
		}
		if cause != enumspb.WORKFLOW_TASK_FAILED_CAUSE_PENDING_ACTIVITIES_LIMIT_EXCEEDED {
			t.Fatalf("workflow task failure cause %v, want PENDING_ACTIVITIES_LIMIT_EXCEEDED", cause)
		}
		if err := c.TerminateWorkflow(ctx, "beyond-caps", run.GetRunID(), "issue 10: beyond the caps"); err != nil {
			t.Fatal(err)
		}
		deleteRun("beyond-caps", run.GetRunID())
		waitGone("limits", "beyond-caps", run.GetRunID(), 2*time.Minute, run.GetRunID())
	})

	b, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	conflicts := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "54000") || strings.Contains(line, "row limit exceeded") {
			t.Errorf("server log shows a transaction limit error: %.400s", line)
		}
		if strings.Contains(line, "40001") {
			conflicts++
		}
	}
	// Conflicts are DSQL's normal behaviour (retried); reported, not asserted.
	t.Logf("server log: %d lines mention SQLSTATE 40001; plugin metrics: %s", conflicts, pluginCounters(s.metrics))
	if t.Failed() {
		return
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("ran out of time")
	}
}
