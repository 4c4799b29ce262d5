package dsqllocal

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// TestEndToEndWithPgx connects through dsql-local the way the Temporal server does (pgx, tokens
// from feature/dsql/auth) and checks the main DSQL behaviours over pgx's extended protocol.
func TestEndToEndWithPgx(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ep, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Stop()

	admin, err := ep.Connect(ctx, "admin", "")
	if err != nil {
		t.Fatalf("connect as admin: %v", err)
	}
	defer admin.Close(ctx)

	mustExec := func(c *pgx.Conn, sql string, args ...any) {
		t.Helper()
		if _, err := c.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	wantCode := func(err error, code, part string) {
		t.Helper()
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			t.Fatalf("want SQLSTATE %s, got %v", code, err)
		}
		if pgErr.Code != code || (part != "" && !contains(pgErr.Message, part)) {
			t.Fatalf("want %s %q, got %s %q", code, part, pgErr.Code, pgErr.Message)
		}
	}

	mustExec(admin, "CREATE TABLE shards (shard_id int PRIMARY KEY, range_id bigint NOT NULL, data bytea)")
	mustExec(admin, "INSERT INTO shards VALUES ($1, $2, $3)", 1, int64(1), []byte{1})

	t.Run("refusals over the extended protocol", func(t *testing.T) {
		_, err := admin.Exec(ctx, "SELECT * FROM shards WHERE shard_id = $1 FOR SHARE", 1)
		wantCode(err, "0A000", "locking clauses other than FOR UPDATE/FOR KEY SHARE are not supported")
		_, err = admin.Exec(ctx, "CREATE INDEX shards_range ON shards (range_id)")
		wantCode(err, "0A000", "CREATE INDEX ASYNC")
	})

	t.Run("transaction with FOR UPDATE and conditional update", func(t *testing.T) {
		tx, err := admin.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var rangeID int64
		if err := tx.QueryRow(ctx, "SELECT range_id FROM shards WHERE shard_id = $1 FOR UPDATE", 1).Scan(&rangeID); err != nil {
			t.Fatal(err)
		}
		// Temporal's shard fencing: update only if range_id is still the value read.
		const cond = "UPDATE shards SET range_id = $1 WHERE shard_id = $2 AND range_id = $3"
		tag, err := tx.Exec(ctx, cond, rangeID+1, 1, rangeID)
		if err != nil {
			t.Fatal(err)
		}
		if tag.RowsAffected() != 1 {
			t.Fatalf("conditional update on the current range_id %d changed %d rows, want 1", rangeID, tag.RowsAffected())
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		var after int64
		if err := admin.QueryRow(ctx, "SELECT range_id FROM shards WHERE shard_id = $1", 1).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if after != rangeID+1 {
			t.Fatalf("range_id after commit = %d, want %d", after, rangeID+1)
		}
		// The same update with the now stale range_id matches nothing and changes nothing.
		tag, err = admin.Exec(ctx, cond, rangeID+2, 1, rangeID)
		if err != nil {
			t.Fatal(err)
		}
		if err := admin.QueryRow(ctx, "SELECT range_id FROM shards WHERE shard_id = $1", 1).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if tag.RowsAffected() != 0 || after != rangeID+1 {
			t.Fatalf("stale conditional update: %d rows changed, range_id %d; want 0 rows, range_id %d", tag.RowsAffected(), after, rangeID+1)
		}
	})

	t.Run("async index with wait_for_job by parameter", func(t *testing.T) {
		var jobID string
		if err := admin.QueryRow(ctx, "CREATE INDEX ASYNC shards_range ON shards (range_id)").Scan(&jobID); err != nil {
			t.Fatal(err)
		}
		var ok bool
		if err := admin.QueryRow(ctx, "CALL sys.wait_for_job($1)", jobID).Scan(&ok); err != nil || !ok {
			t.Fatalf("wait_for_job(%s) = %v, %v", jobID, ok, err)
		}
	})

	t.Run("custom role mapped with AWS IAM GRANT", func(t *testing.T) {
		mustExec(admin, "CREATE ROLE temporal WITH LOGIN")
		if _, err := ep.Connect(ctx, "temporal", "temporal-server"); err == nil {
			t.Fatal("role connected before AWS IAM GRANT")
		}
		cred, _ := ep.Credential("temporal-server")
		mustExec(admin, "AWS IAM GRANT temporal TO '"+cred.PrincipalArn+"'")
		c, err := ep.Connect(ctx, "temporal", "temporal-server")
		if err != nil {
			t.Fatalf("connect as mapped role: %v", err)
		}
		defer c.Close(ctx)
		var user string
		if err := c.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil || user != "temporal" {
			t.Fatalf("current_user = %q, %v", user, err)
		}
	})

	t.Run("context cancellation cancels the query on the backend (CancelRequest is forwarded)", func(t *testing.T) {
		cfg, err := ep.ConnConfig(ctx, "admin", "")
		if err != nil {
			t.Fatal(err)
		}
		// pgx's default only closes the connection on cancellation; ask it to send a
		// CancelRequest (over TLS, to dsql-local) first.
		cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: 10 * time.Second}
		}
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		qctx, qcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer qcancel()
		start := time.Now()
		_, err = c.Exec(qctx, "SELECT pg_sleep(20)")
		if err == nil {
			t.Fatal("pg_sleep(20) returned without error")
		}
		elapsed := time.Since(start)
		t.Logf("query error after %s: %v", elapsed, err)
		// Did not wait for the query: the cancellation ended it before pg_sleep(20) would have
		// (a 57014 below also rules out pgx closing the connection after DeadlineDelay).
		if elapsed >= 20*time.Second {
			t.Fatalf("the query ran to its end (%s): it was not cancelled", elapsed)
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
			t.Fatalf("want 57014 query_canceled from PostgreSQL, got %v", err)
		}
		var n int
		if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(20)' AND state = 'active'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%d backends still run pg_sleep(20) after cancellation", n)
		}
	})

	t.Run("a client that disconnects mid-query does not leave the query running", func(t *testing.T) {
		c, err := ep.Connect(ctx, "admin", "") // pgx default: close the connection on cancellation
		if err != nil {
			t.Fatal(err)
		}
		qctx, qcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer qcancel()
		if _, err := c.Exec(qctx, "SELECT pg_sleep(21)"); err == nil {
			t.Fatal("pg_sleep(21) returned without error")
		}
		_ = c.Close(ctx)
		deadline := time.Now().Add(5 * time.Second)
		for {
			var n int
			if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(21)' AND state = 'active'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d backends still run pg_sleep(21) 5 s after the client left", n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("Ping is never failed by the stale-schema OC001", func(t *testing.T) {
		c, err := ep.Connect(ctx, "admin", "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		mustExec(admin, "CREATE TABLE ping_probe (id int PRIMARY KEY)")
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("Ping after DDL elsewhere: %v", err)
		}
		_, err = c.Exec(ctx, "SELECT 1")
		wantCode(err, "40001", "(OC001)")
	})

	t.Run("injected commit failure surfaces from tx.Commit as 40001 OC000", func(t *testing.T) {
		if _, err := ep.Control(ctx, "POST", "/faults/commits", map[string]any{"fraction": 1, "code": "OC000"}); err != nil {
			t.Fatal(err)
		}
		defer ep.Control(ctx, "DELETE", "/faults", nil) //nolint:errcheck
		c, err := ep.Connect(ctx, "admin", "")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "UPDATE shards SET range_id = range_id + 1 WHERE shard_id = $1", 1); err != nil {
			t.Fatal(err)
		}
		wantCode(tx.Commit(ctx), "40001", "(OC000)")
	})
}

func contains(s, part string) bool {
	return len(part) == 0 || (len(s) >= len(part) && indexOf(s, part) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
