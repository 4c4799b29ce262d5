package persistencetest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/server/common/auth"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/serialization"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/resolver"

	"temporal-dsql/server/dsql"
	"temporal-dsql/server/internal/testenv"
)

// backend is a database the suites run on: plain PostgreSQL or dsql-local. fresh returns
// the plugin config of an empty database with the DSQL schema applied.
type backend struct {
	name  string
	fresh func(t *testing.T) *config.SQL
}

var (
	pgOnce sync.Once
	pg     *testenv.Postgres
	pgErr  error
	pgSeq  atomic.Int64

	dlOnce sync.Once
	dl     *testenv.DSQLLocal
	dlErr  error
)

// ServerRole is the non-admin database role the plugin logs in as on dsql-local.
const serverRole = "temporal_server"

func TestMain(m *testing.M) {
	code := m.Run()
	if pg != nil {
		pg.Stop()
	}
	if dl != nil {
		dl.Stop()
	}
	os.Exit(code)
}

func postgresBackend() backend {
	return backend{name: "postgres", fresh: func(t *testing.T) *config.SQL {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		pgOnce.Do(func() { pg, pgErr = testenv.StartPostgres(ctx) })
		if pgErr != nil {
			t.Fatalf("starting PostgreSQL: %v", pgErr)
		}
		db := fmt.Sprintf("t%d", pgSeq.Add(1))
		admin, err := pg.Connect(ctx, "postgres")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
		admin.Close(ctx)
		conn, err := pg.Connect(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := testenv.ApplySchema(ctx, conn, testenv.DialectPostgres, db); err != nil {
			t.Fatalf("applying the DSQL schema on PostgreSQL: %v", err)
		}
		return &config.SQL{
			PluginName:        dsql.PluginName,
			ConnectAddr:       fmt.Sprintf("127.0.0.1:%d", pg.Port),
			User:              "postgres",
			Password:          "unused-trust-auth",
			DatabaseName:      db,
			MaxConns:          20,
			// deferCurrentCheck is opt-in in the server; the suites run with it on so upstream's
			// own current-conflict cases check it (currentcheck.go).
			ConnectAttributes: map[string]string{"sslmode": "disable", "deferCurrentCheck": "on"},
		}
	}}
}

func startDSQLLocal(t *testing.T) *testenv.DSQLLocal {
	t.Helper()
	dlOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		dl, dlErr = testenv.StartDSQLLocal(ctx, "--stale-schema-oc001=false")
	})
	if dlErr != nil {
		t.Fatalf("starting dsql-local: %v", dlErr)
	}
	return dl
}

func dsqlLocalBackend() backend {
	return backend{name: "dsql-local", fresh: func(t *testing.T) *config.SQL {
		t.Helper()
		d := startDSQLLocal(t)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		admin, err := d.ConnectAdmin(ctx)
		if err != nil {
			t.Fatalf("connecting to dsql-local as admin: %v", err)
		}
		defer admin.Close(ctx)
		if err := testenv.DropAllTables(ctx, admin); err != nil {
			t.Fatal(err)
		}
		if _, err := testenv.ApplySchema(ctx, admin, testenv.DialectDSQL, "postgres"); err != nil {
			t.Fatalf("applying the DSQL schema on dsql-local: %v", err)
		}
		if err := grantServerRole(ctx, d); err != nil {
			t.Fatal(err)
		}
		// The plugin signs tokens with the default AWS credential chain: give it the
		// dsql-local principal mapped to the server role (fake, local-only keys).
		ak, sk, _, err := d.Credential("temporal-server")
		if err != nil {
			t.Fatal(err)
		}
		os.Setenv("AWS_ACCESS_KEY_ID", ak)
		os.Setenv("AWS_SECRET_ACCESS_KEY", sk)
		os.Unsetenv("AWS_SESSION_TOKEN")
		os.Unsetenv("AWS_PROFILE")
		return dsqlLocalConfig(d)
	}}
}

func dsqlLocalConfig(d *testenv.DSQLLocal) *config.SQL {
	return &config.SQL{
		PluginName:        dsql.PluginName,
		ConnectAddr:       d.Addr(),
		User:              serverRole,
		DatabaseName:      "postgres",
		MaxConns:          20,
		TLS:               &auth.TLS{Enabled: true, CaFile: d.CAFile, ServerName: d.Hostname, EnableHostVerification: true},
		ConnectAttributes: map[string]string{"region": d.Region, "deferCurrentCheck": "on"},
	}
}

// grantServerRole creates the server's database role, maps the test principal to it and
// grants it the data (not DDL) rights the server needs, as the schema runner does on AWS.
func grantServerRole(ctx context.Context, d *testenv.DSQLLocal) error {
	admin, err := d.ConnectAdmin(ctx)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	_, _, arn, err := d.Credential("temporal-server")
	if err != nil {
		return err
	}
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, serverRole).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE ROLE "+serverRole+" WITH LOGIN"); err != nil {
			return err
		}
		if _, err := admin.Exec(ctx, "AWS IAM GRANT "+serverRole+" TO '"+arn+"'"); err != nil {
			return err
		}
	}
	for _, s := range []string{
		"GRANT USAGE ON SCHEMA public TO " + serverRole,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + serverRole,
	} {
		if _, err := admin.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

func backends() []backend {
	return []backend{postgresBackend(), dsqlLocalBackend()}
}

// newFactory opens our plugin through Temporal's own SQL factory, as the server does.
func newFactory(t *testing.T, cfg *config.SQL) *sql.Factory {
	f := sql.NewFactory(*cfg, resolver.NewNoopResolver(), "active", log.NewTestLogger(), metrics.NoopMetricsHandler, serialization.NewSerializer())
	t.Cleanup(f.Close)
	return f
}

// newDB opens our plugin's sqlplugin.DB (and AdminDB) directly.
func newDB(t *testing.T, cfg *config.SQL) sqlplugin.DB {
	db, err := sql.NewSQLDB(sqlplugin.DbKindMain, cfg, resolver.NewNoopResolver(), log.NewTestLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		t.Fatalf("opening the dsql plugin: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
