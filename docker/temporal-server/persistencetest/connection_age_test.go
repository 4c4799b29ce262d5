package persistencetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"temporal-dsql/server/dsql"
	"temporal-dsql/server/internal/testenv"
)

// TestShortTokenAndConnectionAge runs a dedicated dsql-local that closes connections at 4s
// and a plugin whose IAM tokens live 2s and whose connections are retired at 2.5-3s. Over
// ~9s of steady queries, every query must succeed (an expired connection is never reused,
// so the server's cut-off is never hit) and the plugin must have opened new connections,
// each with a fresh token (a reused token would have expired and been refused).
// The token lifetime leaves 2s between signing a token and the server checking it: with 1s, a
// busy machine (the Go and jest suites run at once in npm test) once took longer than that to
// connect, and a fresh token was refused as expired (CI run of 2026-12-05).
func TestShortTokenAndConnectionAge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d, err := testenv.StartDSQLLocal(ctx, "--max-conn-age=4s", "--stale-schema-oc001=false")
	if err != nil {
		t.Fatalf("starting dsql-local: %v", err)
	}
	defer d.Stop()
	admin, err := d.ConnectAdmin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testenv.ApplySchema(ctx, admin, testenv.DialectDSQL, "postgres"); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	if err := grantServerRole(ctx, d); err != nil {
		t.Fatal(err)
	}
	ak, sk, _, err := d.Credential("temporal-server")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", ak)
	t.Setenv("AWS_SECRET_ACCESS_KEY", sk)
	// The premise: dsql-local refuses an expired token, so reconnecting with a stale one fails.
	conn := newConnectorFor(t, d, "2s")
	tok, err := conn.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := connectWithToken(ctx, d, tok); err != nil {
		t.Fatalf("a fresh token was refused: %v", err)
	}
	time.Sleep(3 * time.Second)
	if err := connectWithToken(ctx, d, tok); err == nil {
		t.Fatal("dsql-local accepted an expired token; the test below would prove nothing")
	}

	cfg := dsqlLocalConfig(d)
	cfg.MaxConns = 2
	cfg.ConnectAttributes["tokenLifetime"] = "2s"
	cfg.ConnectAttributes["maxConnAge"] = "3s"
	cfg.ConnectAttributes["connAgeJitter"] = "500ms"
	db := newDB(t, cfg)
	c := counters(t, db)

	// Query for at least 9s (past the server's 4s cut-off twice) and until the plugin has opened
	// a third connection; a busy machine only makes that later, so the count is awaited rather
	// than expected by a fixed time. Retirement at 2.5-3s gives the third connection by about
	// 6s; a minute without it means connections are not being retired.
	start := time.Now()
	queries := 0
	for time.Since(start) < 9*time.Second || c.Connections.Load() < 3 {
		if time.Since(start) > time.Minute {
			t.Fatalf("only %d connections opened in %v with a 3s maximum age: connections are not being retired", c.Connections.Load(), time.Since(start).Round(time.Second))
		}
		if err := db.(interface{ VerifyVersion() error }).VerifyVersion(); err != nil {
			t.Fatalf("query %d at %v failed: %v", queries, time.Since(start).Round(time.Millisecond), err)
		}
		queries++
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d queries over %v on %d physical connections", queries, time.Since(start).Round(time.Millisecond), c.Connections.Load())
}

func newConnectorFor(t *testing.T, d *testenv.DSQLLocal, lifetime string) *dsql.Connector {
	cc, _, err := dsql.ConnectorConfigFromSQL(dsqlLocalConfig(d), nil)
	if err != nil {
		t.Fatal(err)
	}
	cc.TokenLifetime, _ = time.ParseDuration(lifetime)
	c, err := dsql.NewConnector(cc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func connectWithToken(ctx context.Context, d *testenv.DSQLLocal, token string) error {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=postgres sslmode=verify-full sslrootcert=%s", d.Host, d.Port, serverRole, d.CAFile))
	if err != nil {
		return err
	}
	cfg.Password = token
	cfg.TLSConfig.ServerName = d.Hostname
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	return c.Close(ctx)
}
