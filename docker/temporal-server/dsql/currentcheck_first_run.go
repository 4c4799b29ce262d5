//go:build !upstream_v1_31

package dsql

import (
	persistencespb "go.temporal.io/server/api/persistence/v1"
	"go.temporal.io/server/common/persistence"
)

// setFirstExecutionRunID fills the field upstream's error carries since v1.32 (the pinned
// go.mod). The build of the previous pin (upgrade rehearsal, tag upstream_v1_31, set by
// scripts/setup.d/50-local-stack.sh and local/build.ts) uses currentcheck_first_run_v131.go.
func setFirstExecutionRunID(e *persistence.CurrentWorkflowConditionFailedError, s *persistencespb.WorkflowExecutionState) {
	e.FirstExecutionRunID = s.FirstExecutionRunId
}
