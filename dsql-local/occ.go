package main

// DSQL's concurrency semantics on top of PostgreSQL (../../shared/DSQL.md, "Concurrency").
//
// Aurora DSQL never makes a statement wait for another transaction: conflicts are settled at
// COMMIT, the first committer wins and the later one gets 40001 (OC000). PostgreSQL instead makes
// the second writer of a row (or the second SELECT ... FOR UPDATE) wait for the first
// transaction's row lock. PostgreSQL cannot keep two uncommitted versions of one row, so the
// proxy cannot let both transactions go on with their writes; what it does instead:
//
//   - A monitor (runOCCMonitor) looks every --occ-check-interval for sessions whose statement is
//     waiting on a row-level lock (pg_stat_activity wait_event transactionid/tuple, blockers from
//     pg_blocking_pids) held by another client session.
//   - The holder is "wounded": its transaction is lost (OC000). If the holder is idle in its
//     transaction, the proxy rolls the backend transaction back at once (an injected ROLLBACK
//     whose answers the client never sees); if it is running a statement, that statement is
//     cancelled and the backend transaction rolled back as soon as the client is idle. Either way
//     the row lock is gone within about one check interval and the waiter goes on.
//   - The wounded client learns it at its next statement (40001 OC000; later statements 25P02)
//     or at its COMMIT (40001 OC000), exactly as a DSQL transaction that lost at COMMIT.
//   - A holder that is already committing (its COMMIT is in flight) is never wounded: it commits
//     first, and PostgreSQL then fails the waiter's write with 40001 (reported as OC000).
//
// So of two open transactions writing or locking one row, the one that touched it later wins
// and the earlier one fails. On DSQL the first to COMMIT wins: the outcome is the same whenever
// the later writer also commits first (the usual case when the earlier transaction is held open),
// and differs when the earlier writer would have committed first. Documented in README.md
// ("Concurrency") with the other cases that fail at the statement rather than at COMMIT.

import (
	"context"
	"log"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"
)

// concurrency modes (--concurrency).
const (
	concurrencyDSQL     = "dsql"
	concurrencyPostgres = "postgres"
)

// blockedQuery lists client backends waiting on another transaction's row-level lock, with each
// blocker. transactionid: waiting for a writer of the row (update, delete, insert of the same
// key, FOR UPDATE); tuple: queued behind another waiter for the same row.
const blockedQuery = `
SELECT w.pid, b.pid
FROM pg_stat_activity w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS b(pid)
WHERE w.wait_event_type = 'Lock' AND w.wait_event IN ('transactionid', 'tuple')`

// occDeadlockTimeout is PostgreSQL's deadlock_timeout for client sessions in DSQL mode: the
// monitor resolves a deadlock within a check interval, and PostgreSQL's own detector must not
// fail the other transaction of the pair as well when the machine is slow.
const occDeadlockTimeout = "10s"

// setDeadlockTimeout sets (DSQL mode) or resets (PostgreSQL mode) deadlock_timeout for new
// sessions of the postgres database.
func setDeadlockTimeout(ctx context.Context, pool *pgxpool.Pool, mode string) error {
	stmt := "ALTER DATABASE postgres RESET deadlock_timeout"
	if mode == concurrencyDSQL {
		stmt = "ALTER DATABASE postgres SET deadlock_timeout = '" + occDeadlockTimeout + "'"
	}
	_, err := pool.Exec(ctx, stmt)
	return err
}

// runOCCMonitor resolves row-lock waits between client sessions until ctx ends (DSQL mode only).
func (srv *server) runOCCMonitor(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		srv.occTick(ctx, interval)
	}
}

func (srv *server) occTick(ctx context.Context, interval time.Duration) {
	srv.mu.Lock()
	byPID := make(map[uint32]*session, len(srv.sessions))
	var pending []*session
	waiting := false
	now := time.Now()
	for _, s := range srv.sessions {
		byPID[s.backendPID] = s
		s.mu.Lock()
		if s.rollbackPending {
			pending = append(pending, s)
		}
		if s.pending > 0 && now.Sub(s.busySince) >= interval {
			waiting = true
		}
		s.mu.Unlock()
	}
	srv.mu.Unlock()
	for _, s := range pending {
		s.injectRollback()
	}
	if !waiting {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rows, err := srv.pool.Query(qctx, blockedQuery)
	if err != nil {
		if ctx.Err() == nil {
			log.Printf("occ monitor: %v", err)
		}
		return
	}
	type edge struct{ waiter, blocker uint32 }
	var edges []edge
	for rows.Next() {
		var w, b int32
		if err := rows.Scan(&w, &b); err == nil {
			edges = append(edges, edge{uint32(w), uint32(b)})
		}
	}
	rows.Close()
	for _, e := range edges {
		waiter, holder := byPID[e.waiter], byPID[e.blocker]
		if waiter == nil || holder == nil || waiter == holder {
			continue // internal connections (index jobs, bootstrap) wait as in PostgreSQL
		}
		// A waiter that already lost its transaction does not take rows from others: of a
		// deadlocked pair exactly one transaction fails.
		if waiter.isDoomed() {
			// Still waiting although wounded: its cancel reached the backend before the statement
			// started (PostgreSQL drops a cancel when nothing runs), so the pair would stay
			// deadlocked until PostgreSQL's own detector picks a victim, possibly the other one.
			waiter.recancel()
			continue
		}
		if holder.isCommitting() {
			// The holder commits first and wins: the waiter's write fails now (DSQL: at its COMMIT).
			// A waiting statement is not committing yet, even an autocommit write.
			waiter.wound(true)
			continue
		}
		holder.wound(false)
	}
}

// recancel sends the backend cancel again for a wounded session whose statement is still running
// (a cancel that arrives before the statement starts is dropped by PostgreSQL).
func (s *session) recancel() {
	s.mu.Lock()
	again := !s.closed && s.doomed != nil && s.cancelledByOCC && s.pending > 0
	s.mu.Unlock()
	if again {
		s.srv.cancelBackend(s.backendPID, s.backendKey)
	}
}

// isDoomed reports whether the session's transaction has lost a conflict.
func (s *session) isDoomed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doomed != nil
}

// isCommitting reports whether the session's COMMIT is in flight.
func (s *session) isCommitting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committing
}

// wound makes the session's open transaction lose a conflict (40001 OC000) and releases its row
// locks: at once when the client is idle, otherwise by cancelling the running statement and
// rolling back when the client is next idle. A holder whose COMMIT (or autocommit write) is in
// flight wins instead, unless waiting is set: the session is the waiter of a lock, so its
// statement has not reached its commit.
func (s *session) wound(waiting bool) {
	s.mu.Lock()
	if s.closed || s.doomed != nil || (s.committing && !waiting) {
		s.mu.Unlock()
		return
	}
	s.doomed = ocRefusal("OC000")
	s.doomReported = false
	s.rollbackPending = true
	busy := s.pending > 0
	if busy {
		s.cancelledByOCC = true
	}
	s.mu.Unlock()
	s.srv.stats.forRole(s.user).occWounds.Add(1)
	if busy {
		s.srv.cancelBackend(s.backendPID, s.backendKey)
		return
	}
	s.injectRollback()
}

// injectRollback rolls back the backend transaction of a doomed session if the client is idle
// (nothing in flight and no half-sent extended-protocol sequence); otherwise it stays pending for
// the monitor's next tick. The ROLLBACK's answers are swallowed by handleBackend.
func (s *session) injectRollback() {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	s.mu.Lock()
	if s.closed || !s.rollbackPending || s.pending > 0 || s.extOpen {
		s.mu.Unlock()
		return
	}
	s.rollbackPending = false
	s.injected = true
	s.pending++
	s.busySince = time.Now()
	s.mu.Unlock()
	if err := writeMsg(s.bw, &pgproto3.Query{String: "ROLLBACK"}); err == nil {
		_ = s.bw.Flush()
	}
}
