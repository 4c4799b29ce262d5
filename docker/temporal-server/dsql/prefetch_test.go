package dsql

import (
	"context"
	"testing"

	"go.temporal.io/server/common/persistence"
)

// TestLoadHandsOutEachResultOnce: a load's kept results go once each, only to reads of the
// run it loaded; every map read of the load is counted as a hit or a miss.
func TestLoadHandsOutEachResultOnce(t *testing.T) {
	c := NewCounters(nil)
	_, l := withMutableStateLoad(context.Background())
	k := runKey{shard: 1, namespace: "ns", workflow: "wf", run: "r"}
	if _, ok := l.take(k, takenActivity, c); ok {
		t.Fatal("a load whose batch has not run served a read")
	}
	l.keep(k, &prefetched{})
	if _, ok := l.take(runKey{shard: 2}, takenActivity, c); ok {
		t.Fatal("a kept result was handed out for another run")
	}
	if _, ok := l.take(k, takenActivity, c); !ok {
		t.Fatal("the load's own read was not served")
	}
	if _, ok := l.take(k, takenActivity, c); ok {
		t.Fatal("the same result was handed out twice")
	}
	for _, f := range []uint8{takenTimer, takenChild, takenRequestCancel, takenSignal, takenSignalsRequested, takenBuffered} {
		if _, ok := l.take(k, f, c); !ok {
			t.Fatalf("read %b not served", f)
		}
	}
	if h, m := c.PrefetchHits.Load(), c.PrefetchMisses.Load(); h != 7 || m != 3 {
		t.Fatalf("hits %d, misses %d; want 7 and 3", h, m)
	}
	// A failed batch of the same load keeps nothing: no read gets the earlier batch's results.
	l.keep(k, &prefetched{})
	l.keep(k, nil)
	if _, ok := l.take(k, takenTimer, c); ok {
		t.Fatal("a read after a failed batch was handed an earlier batch's result")
	}
}

// execStoreSpy records the load each call's context carries.
type execStoreSpy struct {
	persistence.ExecutionStore
	loads []*mutableStateLoad
}

func (s *execStoreSpy) GetWorkflowExecution(ctx context.Context, _ *persistence.GetWorkflowExecutionRequest) (*persistence.InternalGetWorkflowExecutionResponse, error) {
	s.loads = append(s.loads, loadOf(ctx))
	return &persistence.InternalGetWorkflowExecutionResponse{}, nil
}

func (s *execStoreSpy) GetCurrentExecution(ctx context.Context, _ *persistence.GetCurrentExecutionRequest) (*persistence.InternalGetCurrentExecutionResponse, error) {
	s.loads = append(s.loads, loadOf(ctx))
	return &persistence.InternalGetCurrentExecutionResponse{}, nil
}

// TestLoadBatchingStoreOpensOneLoadPerCall: only GetWorkflowExecution runs within a load, and
// each call (a retry included) within a new one, so nothing of one call reaches another.
func TestLoadBatchingStoreOpensOneLoadPerCall(t *testing.T) {
	spy := &execStoreSpy{}
	s := NewLoadBatchingExecutionStore(spy)
	ctx := context.Background()
	for range 2 {
		if _, err := s.GetWorkflowExecution(ctx, &persistence.GetWorkflowExecutionRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetCurrentExecution(ctx, &persistence.GetCurrentExecutionRequest{}); err != nil {
		t.Fatal(err)
	}
	if spy.loads[0] == nil || spy.loads[1] == nil || spy.loads[0] == spy.loads[1] {
		t.Fatalf("GetWorkflowExecution loads %p, %p: want two distinct loads", spy.loads[0], spy.loads[1])
	}
	if spy.loads[2] != nil || loadOf(ctx) != nil {
		t.Fatal("a call other than GetWorkflowExecution ran within a load")
	}
}
