package persistencetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/server/chasm"
	"go.temporal.io/server/common"
	"go.temporal.io/server/common/persistence"

	"temporal-dsql/server/dsql"
)

// Upstream's SQL store hands some statement errors back as they are (for example
// DeleteCurrentWorkflowExecution, a single statement outside a transaction). A conflict that
// outlasts the plugin's retries must still reach Temporal as serviceerror.Unavailable, the
// type its persistence retry layer retries (dsql-local fault injection, OC000 on every try).
func TestConflictOutsideTransactionReachesTemporalAsUnavailable(t *testing.T) {
	b := dsqlLocalBackend()
	cfg := b.fresh(t)
	cfg.ConnectAttributes["retryAttempts"] = "3"
	d := startDSQLLocal(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Cleanup(func() { _ = d.Control(context.Background(), "DELETE", "/faults", nil) })
	store, err := newFactory(t, cfg).NewExecutionStore()
	if err != nil {
		t.Fatal(err)
	}
	req := &persistence.DeleteCurrentWorkflowExecutionRequest{
		ShardID: 1, NamespaceID: uuid.NewString(), WorkflowID: "wf", RunID: uuid.NewString(), ArchetypeID: chasm.WorkflowArchetypeID,
	}
	// Premise: without faults the call succeeds (nothing to delete is not an error).
	if err := store.DeleteCurrentWorkflowExecution(ctx, req); err != nil {
		t.Fatalf("without faults: %v", err)
	}
	if err := d.Control(ctx, "POST", "/faults/statements", map[string]any{"pattern": "^DELETE FROM current_executions", "code": "OC000", "times": 10}); err != nil {
		t.Fatal(err)
	}
	err = store.DeleteCurrentWorkflowExecution(ctx, req)
	var u *serviceerror.Unavailable
	if !errors.As(err, &u) || !common.IsPersistenceTransientError(err) {
		t.Fatalf("got %T %v, want *serviceerror.Unavailable (retried by Temporal)", err, err)
	}
	if !dsql.IsConflict(err) {
		t.Fatalf("the Unavailable does not say it is a conflict: %v", err)
	}
}
