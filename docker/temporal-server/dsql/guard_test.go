package dsql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/server/common/persistence"
)

// passedStore counts whether the guarded store passed a write on.
type passedStore struct {
	persistence.ExecutionStore
	passed int
}

func (s *passedStore) UpdateWorkflowExecution(context.Context, *persistence.InternalUpdateWorkflowExecutionRequest) error {
	s.passed++
	return nil
}

// TestGuardRefusesEachLimit: each DSQL limit is refused with TransactionSizeLimitError (which
// upstream's shard treats as not committed) naming the workflow and the size, and a write
// just inside every limit reaches the store.
func TestGuardRefusesEachLimit(t *testing.T) {
	blob := func(n int) *commonpb.DataBlob { return &commonpb.DataBlob{Data: make([]byte, n)} }
	cases := []struct {
		name, want string
		m          func(m *persistence.InternalWorkflowMutation)
	}{
		{"inside every limit", "", func(m *persistence.InternalWorkflowMutation) {
			for i := 0; i < GuardMaxTimersPerTask; i++ {
				m.UpsertTimerInfos[fmt.Sprint(i)] = blob(10)
			}
			for i := 0; i < GuardMaxRows-GuardMaxTimersPerTask-2-9; i++ {
				m.UpsertActivityInfos[int64(i)] = blob(10)
			}
			for i := 0; i < 9; i++ {
				m.UpsertSignalInfos[int64(i)] = blob(GuardMaxValueBytes)
			}
		}},
		{"timers", "991 timers", func(m *persistence.InternalWorkflowMutation) {
			for i := 0; i <= GuardMaxTimersPerTask; i++ {
				m.UpsertTimerInfos[fmt.Sprint(i)] = blob(10)
			}
		}},
		{"rows", "3001 rows", func(m *persistence.InternalWorkflowMutation) {
			for i := 0; i < GuardMaxRows-1; i++ {
				m.DeleteActivityInfos[int64(i)] = struct{}{}
			}
		}},
		{"value", "a value of 1048577 bytes", func(m *persistence.InternalWorkflowMutation) {
			m.UpsertActivityInfos[1] = blob(GuardMaxValueBytes + 1)
		}},
		{"bytes", "11534336 bytes in one transaction", func(m *persistence.InternalWorkflowMutation) {
			for i := 0; i < 11; i++ {
				m.UpsertActivityInfos[int64(i)] = blob(GuardMaxValueBytes)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inner := &passedStore{}
			g := NewGuardedExecutionStore(inner, nil, nil)
			r := &persistence.InternalUpdateWorkflowExecutionRequest{UpdateWorkflowMutation: persistence.InternalWorkflowMutation{
				NamespaceID: "ns-id", WorkflowID: "wf-1", RunID: "run-1",
				UpsertActivityInfos: map[int64]*commonpb.DataBlob{}, DeleteActivityInfos: map[int64]struct{}{},
				UpsertTimerInfos: map[string]*commonpb.DataBlob{}, UpsertSignalInfos: map[int64]*commonpb.DataBlob{},
			}}
			tc.m(&r.UpdateWorkflowMutation)
			err := g.UpdateWorkflowExecution(context.Background(), r)
			if tc.want == "" {
				if err != nil || inner.passed != 1 {
					t.Fatalf("a write inside every limit: err %v, reached the store %d times", err, inner.passed)
				}
				return
			}
			var tsl *persistence.TransactionSizeLimitError
			if !errors.As(err, &tsl) || inner.passed != 0 {
				t.Fatalf("want TransactionSizeLimitError before the store, got %T %v (store reached %d times)", err, err, inner.passed)
			}
			for _, s := range []string{tc.want, `"wf-1"`, "run-1", "ns-id", "UpdateWorkflowExecution"} {
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("error %q does not name %q", err, s)
				}
			}
		})
	}
}
