package dsql

import (
	"context"
	"testing"

	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/primitives"
)

// deleteSpy records the context of each DeleteWorkflowExecution call.
type deleteSpy struct {
	persistence.ExecutionStore
	ctx context.Context
}

func (s *deleteSpy) DeleteWorkflowExecution(ctx context.Context, _ *persistence.DeleteWorkflowExecutionRequest) error {
	s.ctx = ctx
	return nil
}

// TestChunkedRunDeleteNamesExactlyItsRun: the store's DeleteWorkflowExecution lets the whole-run
// deletes of its own run, and of no other run, leave the transaction; without it nothing does.
func TestChunkedRunDeleteNamesExactlyItsRun(t *testing.T) {
	spy := &deleteSpy{}
	ns, run, other := primitives.NewUUID(), primitives.NewUUID(), primitives.NewUUID()
	err := NewChunkedRunDeleteExecutionStore(spy).DeleteWorkflowExecution(context.Background(), &persistence.DeleteWorkflowExecutionRequest{
		ShardID: 3, NamespaceID: ns.String(), WorkflowID: "wf", RunID: run.String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !chunkRun(spy.ctx, 3, ns, "wf", run) {
		t.Fatal("the run being deleted is not chunked")
	}
	for name, ok := range map[string]bool{
		"another run":      chunkRun(spy.ctx, 3, ns, "wf", other),
		"another shard":    chunkRun(spy.ctx, 4, ns, "wf", run),
		"another workflow": chunkRun(spy.ctx, 3, ns, "wf2", run),
		"no deletion":      chunkRun(context.Background(), 3, ns, "wf", run),
	} {
		if ok {
			t.Errorf("%s: whole-run deletes would leave the transaction", name)
		}
	}
}
