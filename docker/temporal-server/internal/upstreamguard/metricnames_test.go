package upstreamguard

import (
	"testing"

	"go.temporal.io/server/common/metrics"
)

// TestEventOnlyMetricNames pins the names of the upstream counters the platform alarms on but a
// healthy server never registers (lib/observability/otel-collector.ts, EMF_METRICS rows with
// eventOnly): the live-scrape suite cannot see them, so a rename in a Temporal bump must fail here
// instead of silencing the alarm. Each name is quoted as the TypeScript table spells it.
func TestEventOnlyMetricNames(t *testing.T) {
	for want, def := range map[string]interface{ Name() string }{
		"service_panics":         metrics.ServicePanic,
		"dd_suspected_deadlocks": metrics.DDSuspectedDeadlocks,
	} {
		if got := def.Name(); got != want {
			t.Errorf("upstream renamed the metric the alarms read as %q: it is now %q (update EMF_METRICS and the alarm)", want, got)
		}
	}
}
