//go:build upstream_v1_31

package dsql

import (
	persistencespb "go.temporal.io/server/api/persistence/v1"
	"go.temporal.io/server/common/persistence"
)

// setFirstExecutionRunID does nothing on upstream v1.31: neither its
// CurrentWorkflowConditionFailedError nor its WorkflowExecutionState has a first execution
// run id, so upstream's own error leaves it out too. Built only for the upgrade rehearsal's
// previous binary (tag upstream_v1_31).
func setFirstExecutionRunID(*persistence.CurrentWorkflowConditionFailedError, *persistencespb.WorkflowExecutionState) {}
