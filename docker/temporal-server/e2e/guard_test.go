package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/common"
	"google.golang.org/protobuf/types/known/durationpb"

	"temporal-dsql/server/internal/testenv"
)

// Issue 22, item 1: a workflow whose next task would exceed a DSQL limit ends, cleanly, with a
// named cause, and nothing else moves.
//
//   - 1,100 timers in one workflow task: the plugin's guard (dsql/guard.go) refuses the write
//     before the SQL store (over 990 timers per task);
//   - two 600 KiB activity inputs in one workflow task: one history batch of ~1.2 MiB, over
//     DSQL's 1 MiB per value; upstream's system.transactionSizeLimit (1 MiB in default.yaml)
//     refuses it.
//
// Each is terminated by the history service with reason "Transaction size exceeds limit."
// within 60 s; no shard's range_id changes (a write of unknown outcome would make the shard
// re-acquire itself and bump it); a neighbour workflow on the same shard completes meanwhile.
// dsql-local only; DSQL_LIMITS_E2E=0 skips it.

// manyTimers starts n one-hour timers in its first workflow task and waits for them.
func manyTimers(ctx workflow.Context, n int) error {
	var fs []workflow.Future
	for i := 0; i < n; i++ {
		fs = append(fs, workflow.NewTimer(ctx, time.Hour))
	}
	for _, f := range fs {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func echoBytes(ctx context.Context, b []byte) (int, error) { return len(b), nil }

// bigInputs schedules two activities with a 600 KiB input each in one workflow task.
func bigInputs(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	a := workflow.ExecuteActivity(ctx, echoBytes, make([]byte, 600<<10))
	b := workflow.ExecuteActivity(ctx, echoBytes, make([]byte, 600<<10))
	if err := a.Get(ctx, nil); err != nil {
		return err
	}
	return b.Get(ctx, nil)
}

func TestServerRefusesWritesOverDSQLLimits(t *testing.T) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	index := "temporal_visibility_v1_guard"
	put(t, osURL+"/"+index, "{}")
	s := startLimitsServer(ctx, t, bin, "dsql-local", osURL, index)

	var c client.Client
	deadline := time.Now().Add(3 * time.Minute)
	for {
		c, err = client.Dial(client.Options{HostPort: s.hostPort, Namespace: "guard", Logger: quietSDKLogger})
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
	if err := nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: "guard", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	d, err := nc.Describe(ctx, "guard")
	if err != nil {
		t.Fatal(err)
	}
	nsID := d.GetNamespaceInfo().GetId()
	w := worker.New(c, "guard-tq", worker.Options{})
	w.RegisterWorkflow(manyTimers)
	w.RegisterWorkflow(bigInputs)
	w.RegisterWorkflow(sequentialActivities)
	w.RegisterActivity(noop)
	w.RegisterActivity(echoBytes)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	start := func(id string, wf any, args ...any) client.WorkflowRun {
		t.Helper()
		for attempt := 0; ; attempt++ {
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "guard-tq"}, wf, args...)
			if err == nil {
				return run
			}
			if attempt > 30 {
				t.Fatalf("starting %s: %v", id, err)
			}
			time.Sleep(time.Second)
		}
	}
	// A warm-up workflow, so that every shard is acquired before range_id is read.
	if err := start("warm-up", sequentialActivities, 1).Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rangeIDs := func() string {
		rows, err := s.db.Query(ctx, `SELECT shard_id, range_id FROM shards ORDER BY shard_id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var shard int32
			var rid int64
			if err := rows.Scan(&shard, &rid); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%d:%d", shard, rid))
		}
		return strings.Join(out, " ")
	}
	// neighbourOf finds a workflow id on the same shard as id (4 shards, NUM_HISTORY_SHARDS).
	neighbourOf := func(id string) string {
		want := common.WorkflowIDToHistoryShard(nsID, id, 4)
		for i := 0; ; i++ {
			n := fmt.Sprintf("neighbour-%s-%d", id, i)
			if common.WorkflowIDToHistoryShard(nsID, n, 4) == want {
				return n
			}
		}
	}

	for _, tc := range []struct {
		id, detail string
		wf         any
		args       []any
	}{
		{"timers-1100", "1100 timers created or changed in one task, at most 990", manyTimers, []any{1100}},
		{"inputs-2x600KiB", "exceeds limit of 1048576 bytes", bigInputs, nil},
	} {
		t.Run(tc.id, func(t *testing.T) {
			before := rangeIDs()
			began := time.Now()
			run := start(tc.id, tc.wf, tc.args...)
			neighbour := start(neighbourOf(tc.id), sequentialActivities, 5)
			if err := neighbour.Get(ctx, nil); err != nil {
				t.Fatalf("neighbour %s on the same shard: %v", neighbour.GetID(), err)
			}
			t.Logf("neighbour %s (same shard) completed 5 activities in %v", neighbour.GetID(), time.Since(began).Round(time.Millisecond))
			wctx, wcancel := context.WithTimeout(ctx, 60*time.Second-time.Since(began))
			defer wcancel()
			err := run.Get(wctx, nil)
			if err == nil || wctx.Err() != nil {
				t.Fatalf("%s: %v after %v; want it terminated over a DSQL limit within 60 s", tc.id, err, time.Since(began).Round(time.Millisecond))
			}
			it := c.GetWorkflowHistory(ctx, tc.id, run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
			var last *historypb.HistoryEvent
			for it.HasNext() {
				if last, err = it.Next(); err != nil {
					t.Fatal(err)
				}
			}
			attrs := last.GetWorkflowExecutionTerminatedEventAttributes()
			if attrs == nil {
				t.Fatalf("%s closed with %v (%v), want terminated", tc.id, last.GetEventType(), err)
			}
			details := ""
			for _, p := range attrs.GetDetails().GetPayloads() {
				details += string(p.GetData())
			}
			if attrs.GetReason() != common.FailureReasonTransactionSizeExceedsLimit || !strings.Contains(details, tc.detail) {
				t.Fatalf("%s terminated with reason %q details %s; want %q naming %q", tc.id, attrs.GetReason(), details, common.FailureReasonTransactionSizeExceedsLimit, tc.detail)
			}
			t.Logf("%s terminated after %v: %s: %s", tc.id, time.Since(began).Round(time.Millisecond), attrs.GetReason(), details)
			if after := rangeIDs(); after != before {
				t.Fatalf("shard range_ids moved: before %s, after %s", before, after)
			}
		})
	}
	// The refusal is counted by operation and limit (the metric is flushed every few seconds).
	want := `dsql_limit_refusals{limit="timers",operation="UpdateWorkflowExecution",service_name="history"} 1`
	for waited := time.Duration(0); !strings.Contains(pluginCounters(s.metrics), want); waited += time.Second {
		if waited > 20*time.Second {
			t.Errorf("no %s in the server's metrics: %s", want, pluginCounters(s.metrics))
			break
		}
		time.Sleep(time.Second)
	}
	if b, err := os.ReadFile(s.logPath); err == nil {
		named := false
		for _, line := range strings.Split(string(b), "\n") {
			named = named || (strings.Contains(line, "DSQL limit: workflow write refused") && strings.Contains(line, `"wf-id":"timers-1100"`) &&
				strings.Contains(line, `"operation":"UpdateWorkflowExecution"`) && strings.Contains(line, `"timers":1100`))
		}
		if !named {
			t.Errorf("the server log has no refusal line naming the operation, the workflow timers-1100 and its 1100 timers")
		}
	}
	if b, err := os.ReadFile(s.logPath); err == nil && strings.Contains(string(b), "54000") {
		t.Errorf("the server log shows SQLSTATE 54000")
	}
	t.Logf("plugin counters: %s", pluginCounters(s.metrics))
}
