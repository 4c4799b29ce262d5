package persistencetest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/common/resolver"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"temporal-dsql/server/dsql"
)

// A transaction that crosses dsql-local's 3,000-row limit fails with 54000; the plugin logs
// it with the statement, the workflow id and the rows the transaction changed, and retries of
// the same operation add no log lines.
func TestRowLimitIsLoggedOnce(t *testing.T) {
	b := dsqlLocalBackend()
	cfg := b.fresh(t)
	core, logs := observer.New(zapcore.InfoLevel)
	db, err := sql.NewSQLDB(sqlplugin.DbKindMain, cfg, resolver.NewNoopResolver(), log.NewZapLogger(zap.New(core)), metrics.NoopMetricsHandler)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	ns, run := uuid.New(), uuid.New()
	rows := func(from, n int) []sqlplugin.ActivityInfoMapsRow {
		out := make([]sqlplugin.ActivityInfoMapsRow, n)
		for i := range out {
			out[i] = sqlplugin.ActivityInfoMapsRow{ShardID: 1, NamespaceID: primitives.UUID(ns[:]), WorkflowID: "too-big", RunID: primitives.UUID(run[:]), ScheduleID: int64(from + i), Data: []byte{0}, DataEncoding: "Proto3"}
		}
		return out
	}
	var afterFirst int
	for attempt := 1; attempt <= 3; attempt++ {
		tx, err := db.BeginTx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ReplaceIntoActivityInfoMaps(ctx, rows(0, 2000)); err != nil {
			t.Fatalf("attempt %d: first 2,000 rows: %v", attempt, err)
		}
		// dsql-local, like DSQL, may refuse at the statement or at COMMIT.
		if _, err = tx.ReplaceIntoActivityInfoMaps(ctx, rows(2000, 1001)); err == nil {
			err = tx.Commit()
		} else {
			_ = tx.Rollback()
		}
		if !dsql.IsRowLimit(err) {
			t.Fatalf("attempt %d: 3,001 rows in one transaction: got %v, want SQLSTATE 54000", attempt, err)
		}
		if attempt == 1 {
			afterFirst = logs.FilterMessageSnippet("SQLSTATE 54000").Len()
		}
	}
	found := logs.FilterMessageSnippet("SQLSTATE 54000").All()
	if afterFirst == 0 || len(found) != afterFirst {
		t.Fatalf("54000 log entries: %d after the first attempt, %d after three identical attempts; want the same, at least 1", afterFirst, len(found))
	}
	named := false
	for _, e := range found {
		f := e.ContextMap()
		args, _ := f["text-arguments"].([]interface{})
		n, _ := f["rows-changed-in-transaction"].(int64)
		if len(args) > 0 && args[0] == "too-big" && n >= 2000 && f["in-transaction"] == true {
			named = true
		}
	}
	if !named {
		t.Fatalf("no 54000 log entry names the workflow and the rows changed: %v", logs.All())
	}
}
