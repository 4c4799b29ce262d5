package main

// Accounting: what each database role costs the cluster, in the units DSQL charges latency and
// conflicts in. Read through the control API: GET /stats (JSON) and GET /metrics (Prometheus
// text format). Counters only grow; take differences between two readings.

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// roleCounters are the counters of one database role (all its sessions together).
type roleCounters struct {
	// roundTrips: client round trips, i.e. bursts of sync points (Query or Sync messages) sent
	// after the client received a ReadyForQuery. Sync points pipelined without waiting for an
	// answer count once: that is one network round trip.
	roundTrips atomic.Int64
	// syncs: every sync point (Query or Sync message).
	syncs atomic.Int64
	// statements: statements sent for execution (each Execute, each statement of a Query).
	statements atomic.Int64
	// transactions ended (explicit blocks and autocommit statements), and of them the ones that
	// committed and the ones rolled back or failed.
	transactions atomic.Int64
	commits      atomic.Int64
	rollbacks    atomic.Int64
	// conflicts: 40001 errors sent to the client (OC000 and OC001, injected ones included).
	conflicts atomic.Int64
	// occWounds: transactions that lost a row to a later writer (occ.go).
	occWounds atomic.Int64
	// rowLimitRefusals: 54000 "transaction row limit exceeded" sent to the client.
	rowLimitRefusals atomic.Int64
}

// metricDef names one counter in the control API and in Prometheus.
type metricDef struct {
	key, name, help string
	get             func(*roleCounters) *atomic.Int64
}

var metricDefs = []metricDef{
	{"roundTrips", "dsql_local_round_trips_total", "Client round trips: bursts of sync points (Query/Sync) sent after a ReadyForQuery.", func(c *roleCounters) *atomic.Int64 { return &c.roundTrips }},
	{"syncs", "dsql_local_sync_points_total", "Sync points (Query and Sync messages) sent by clients.", func(c *roleCounters) *atomic.Int64 { return &c.syncs }},
	{"statements", "dsql_local_statements_total", "Statements sent for execution.", func(c *roleCounters) *atomic.Int64 { return &c.statements }},
	{"transactions", "dsql_local_transactions_total", "Transactions ended (explicit and autocommit).", func(c *roleCounters) *atomic.Int64 { return &c.transactions }},
	{"commits", "dsql_local_commits_total", "Transactions committed.", func(c *roleCounters) *atomic.Int64 { return &c.commits }},
	{"rollbacks", "dsql_local_rollbacks_total", "Transactions rolled back or failed.", func(c *roleCounters) *atomic.Int64 { return &c.rollbacks }},
	{"conflicts", "dsql_local_occ_conflicts_total", "SQLSTATE 40001 errors (OC000/OC001) sent to clients.", func(c *roleCounters) *atomic.Int64 { return &c.conflicts }},
	{"occWounds", "dsql_local_occ_wounds_total", "Transactions that lost a row they held to another transaction's write or lock.", func(c *roleCounters) *atomic.Int64 { return &c.occWounds }},
	{"rowLimitRefusals", "dsql_local_row_limit_refusals_total", "SQLSTATE 54000 transaction row limit refusals sent to clients.", func(c *roleCounters) *atomic.Int64 { return &c.rowLimitRefusals }},
}

// stats holds the counters of every role that connected.
type stats struct {
	mu    sync.Mutex
	roles map[string]*roleCounters
}

func newStats() *stats { return &stats{roles: map[string]*roleCounters{}} }

// forRole returns the counters of a database role, creating them on first use.
func (st *stats) forRole(role string) *roleCounters {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.roles[role]
	if c == nil {
		c = &roleCounters{}
		st.roles[role] = c
	}
	return c
}

func (st *stats) sortedRoles() ([]string, map[string]*roleCounters) {
	st.mu.Lock()
	defer st.mu.Unlock()
	names := make([]string, 0, len(st.roles))
	roles := make(map[string]*roleCounters, len(st.roles))
	for n, c := range st.roles {
		names = append(names, n)
		roles[n] = c
	}
	sort.Strings(names)
	return names, roles
}

// snapshot is the GET /stats body: {"<role>": {"roundTrips": n, ...}, ...}.
func (st *stats) snapshot() map[string]map[string]int64 {
	names, roles := st.sortedRoles()
	out := make(map[string]map[string]int64, len(names))
	for _, n := range names {
		m := make(map[string]int64, len(metricDefs))
		for _, d := range metricDefs {
			m[d.key] = d.get(roles[n]).Load()
		}
		out[n] = m
	}
	return out
}

// prometheus renders the counters in Prometheus text exposition format (version 0.0.4), one
// series per role (label "role").
func (st *stats) prometheus() string {
	names, roles := st.sortedRoles()
	var b strings.Builder
	for _, d := range metricDefs {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n", d.name, d.help, d.name)
		for _, n := range names {
			fmt.Fprintf(&b, "%s{role=%q} %d\n", d.name, n, d.get(roles[n]).Load())
		}
	}
	return b.String()
}

// countError accounts an error sent to the client. Callers hold s.mu.
func (s *session) countError(code, message string) {
	switch code {
	case "40001":
		s.stats.conflicts.Add(1)
	case "54000":
		if strings.Contains(message, "row limit") {
			s.stats.rowLimitRefusals.Add(1)
		}
	}
}

// account counts a transaction that ended with the ReadyForQuery the client is about to see
// (status shown). Callers hold s.mu.
func (s *session) account(shown byte) {
	if shown != 'I' || (s.clientTx == 'I' && s.cycleStmts == 0) {
		return
	}
	s.stats.transactions.Add(1)
	if s.cycleErr || s.lastTag == "ROLLBACK" {
		s.stats.rollbacks.Add(1)
	} else {
		s.stats.commits.Add(1)
	}
}
