package dsql

import (
	"sync/atomic"
	"time"

	"go.temporal.io/server/common/metrics"
)

// Server metrics the plugin exports (Prometheus names get the usual Temporal suffixes).
var (
	metricConflicts        = metrics.NewCounterDef("dsql_occ_conflicts", metrics.WithDescription("Optimistic-concurrency conflicts (SQLSTATE 40001) seen by the DSQL plugin, tagged by where: commit or statement."))
	metricRetries          = metrics.NewCounterDef("dsql_occ_retries", metrics.WithDescription("Statements outside transactions retried by the DSQL plugin after a conflict."))
	metricRetriesExhausted = metrics.NewCounterDef("dsql_occ_retries_exhausted", metrics.WithDescription("Statements outside transactions that still conflicted after the last retry."))
	metricConnections      = metrics.NewCounterDef("dsql_connections_opened", metrics.WithDescription("Physical connections opened by the DSQL plugin (each with a fresh IAM token)."))
	metricConnectRetries   = metrics.NewCounterDef("dsql_connect_retries", metrics.WithDescription("Connection attempts retried after DSQL refused them for rate or connection limits."))
	metricPrefetchHits     = metrics.NewCounterDef("dsql_prefetch_hits", metrics.WithDescription("Mutable-state map reads served from the DSQL plugin's one-round-trip load (prefetch.go)."))
	metricPrefetchMisses   = metrics.NewCounterDef("dsql_prefetch_misses", metrics.WithDescription("Mutable-state map reads the DSQL plugin's prefetch could not serve (read with upstream's statement)."))
	metricDeferred         = metrics.NewCounterDef("dsql_deferred_statements", metrics.WithDescription("Writes of pipelined transactions sent in one round trip with a later statement or COMMIT instead of alone."))
)

// Counters counts the plugin's events, both in memory (for tests and logs) and as
// server metrics when a handler is given.
type Counters struct {
	handler metrics.Handler

	Conflicts, Retries, Exhausted, Connections, ConnectRetryCount, Deferred atomic.Int64
	// PoolWaits and PoolWaitNanos sum the pool waits of every pool (poolstats.go).
	PoolWaits, PoolWaitNanos atomic.Int64
	// PrefetchHits and PrefetchMisses count the map reads of loads served from the batch or not (prefetch.go).
	PrefetchHits, PrefetchMisses atomic.Int64
}

// NewCounters returns counters that also record to h (nil: in memory only). The counters of
// events that a healthy server may never see (prefetch misses) are recorded once as 0, so that
// their series exist for dashboards from the start.
func NewCounters(h metrics.Handler) *Counters {
	c := &Counters{handler: h}
	if h != nil {
		metricPrefetchHits.With(h).Record(0)
		metricPrefetchMisses.With(h).Record(0)
	}
	return c
}

// poolWaited counts n acquisitions of pool that waited, d in total, ms of it in whole
// milliseconds (the growth of the cumulative milliseconds, so no remainder is lost; poolstats.go).
func (c *Counters) poolWaited(pool string, n int64, d time.Duration, ms int64) {
	c.PoolWaits.Add(n)
	c.PoolWaitNanos.Add(int64(d))
	if c.handler != nil {
		h := c.handler.WithTags(metrics.StringTag("pool", pool))
		metricPoolWaits.With(h).Record(n)
		metricPoolWaitMs.With(h).Record(ms)
	}
}

// poolGauges records pool's connections in use and its maximum.
func (c *Counters) poolGauges(pool string, inUse, maxOpen int) {
	if c.handler != nil {
		h := c.handler.WithTags(metrics.StringTag("pool", pool))
		metricPoolInUse.With(h).Record(float64(inUse))
		metricPoolMaxOpen.With(h).Record(float64(maxOpen))
	}
}

// Conflict counts one 40001; where is "commit" or "statement".
func (c *Counters) Conflict(where string) {
	c.Conflicts.Add(1)
	if c.handler != nil {
		metricConflicts.With(c.handler.WithTags(metrics.StringTag("where", where))).Record(1)
	}
}

// Retry counts one retried statement.
func (c *Counters) Retry() {
	c.Retries.Add(1)
	if c.handler != nil {
		metricRetries.With(c.handler).Record(1)
	}
}

// RetriesExhausted counts one statement that failed after its last retry.
func (c *Counters) RetriesExhausted() {
	c.Exhausted.Add(1)
	if c.handler != nil {
		metricRetriesExhausted.With(c.handler).Record(1)
	}
}

// ConnectionOpened counts one new physical connection.
func (c *Counters) ConnectionOpened() {
	c.Connections.Add(1)
	if c.handler != nil {
		metricConnections.With(c.handler).Record(1)
	}
}

// ConnectRetries counts one retried connection attempt.
func (c *Counters) ConnectRetries() {
	c.ConnectRetryCount.Add(1)
	if c.handler != nil {
		metricConnectRetries.With(c.handler).Record(1)
	}
}

// Pipelined counts n deferred statements sent together with a later statement or COMMIT.
func (c *Counters) Pipelined(n int) {
	if n == 0 {
		return
	}
	c.Deferred.Add(int64(n))
	if c.handler != nil {
		metricDeferred.With(c.handler).Record(int64(n))
	}
}

// PrefetchRead records one map read of a load served from its batch (hit) or not; c may be nil.
func (c *Counters) PrefetchRead(hit bool) {
	if c == nil {
		return
	}
	if hit {
		c.PrefetchHits.Add(1)
	} else {
		c.PrefetchMisses.Add(1)
	}
	if c.handler == nil {
		return
	}
	if hit {
		metricPrefetchHits.With(c.handler).Record(1)
	} else {
		metricPrefetchMisses.With(c.handler).Record(1)
	}
}
