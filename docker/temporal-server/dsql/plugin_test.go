package dsql

import (
	"strings"
	"testing"
	"time"

	"go.temporal.io/server/common/auth"
	"go.temporal.io/server/common/config"
)

func TestConnectorConfigFromSQL(t *testing.T) {
	good := func() *config.SQL {
		return &config.SQL{
			ConnectAddr: "abc.dsql.us-east-1.on.aws:5432", User: "temporal_server",
			TLS:               &auth.TLS{Enabled: true, CaFile: "/ca.pem", ServerName: "abc.dsql.us-east-1.on.aws"},
			ConnectAttributes: map[string]string{"region": "us-east-1", "tokenLifetime": "5m", "maxConnAge": "50m", "connectRate": "2.5", "chunkSize": "500"},
		}
	}
	cc, chunk, err := ConnectorConfigFromSQL(good(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cc.Host != "abc.dsql.us-east-1.on.aws" || cc.Port != 5432 || cc.Region != "us-east-1" || !cc.TLS || cc.CAFile != "/ca.pem" ||
		cc.TokenLifetime != 5*time.Minute || cc.MaxConnAge != 50*time.Minute || cc.ConnectRate != 2.5 || chunk != 500 {
		t.Fatalf("mapped %+v chunk %d", cc, chunk)
	}
	if cc.DeferFenceOff || cc.DeferExecutionCheckOff {
		t.Fatal("deferFence and deferExecutionCheck are on by default")
	}
	off := good()
	off.ConnectAttributes["deferFence"] = "off"
	if cc, _, err := ConnectorConfigFromSQL(off, nil); err != nil || !cc.DeferFenceOff {
		t.Fatalf("deferFence=off mapped to DeferFenceOff=%v, %v", cc.DeferFenceOff, err)
	}
	off = good()
	off.ConnectAttributes["deferExecutionCheck"] = "off"
	if cc, _, err := ConnectorConfigFromSQL(off, nil); err != nil || !cc.DeferExecutionCheckOff || cc.DeferFenceOff {
		t.Fatalf("deferExecutionCheck=off mapped to DeferExecutionCheckOff=%v DeferFenceOff=%v, %v", cc.DeferExecutionCheckOff, cc.DeferFenceOff, err)
	}
	if dflt, _, _ := ConnectorConfigFromSQL(good(), nil); !dflt.DeferCurrentCheckOff {
		t.Fatal("deferCurrentCheck is on by default; it is opt-in (slower in the bench)")
	}
	off = good()
	off.ConnectAttributes["deferCurrentCheck"] = "off"
	if cc, _, err := ConnectorConfigFromSQL(off, nil); err != nil || !cc.DeferCurrentCheckOff || cc.DeferExecutionCheckOff || cc.DeferFenceOff {
		t.Fatalf("deferCurrentCheck=off mapped to DeferCurrentCheckOff=%v DeferExecutionCheckOff=%v DeferFenceOff=%v, %v", cc.DeferCurrentCheckOff, cc.DeferExecutionCheckOff, cc.DeferFenceOff, err)
	}
	on := good()
	on.ConnectAttributes["deferCurrentCheck"] = "on"
	if cc, _, err := ConnectorConfigFromSQL(on, nil); err != nil || cc.DeferCurrentCheckOff {
		t.Fatalf("deferCurrentCheck=on mapped to DeferCurrentCheckOff=%v, %v", cc.DeferCurrentCheckOff, err)
	}
	full, err := cc.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if full.Database != "postgres" || full.ConnectBurst != 20 || full.Retry.MaxAttempts != 5 || full.ConnAgeJitter != 50*time.Minute/11 {
		t.Fatalf("defaults %+v", full)
	}

	cases := []struct {
		name   string
		mutate func(c *config.SQL)
		want   string
	}{
		{"no port", func(c *config.SQL) { c.ConnectAddr = "abc" }, `connectAddr "abc" must be host:port`},
		{"bad duration", func(c *config.SQL) { c.ConnectAttributes["tokenLifetime"] = "soon" }, `tokenLifetime "soon" must be a positive Go duration`},
		{"bad rate", func(c *config.SQL) { c.ConnectAttributes["connectRate"] = "-1" }, `connectRate "-1"`},
		{"chunk too big", func(c *config.SQL) { c.ConnectAttributes["chunkSize"] = "5000" }, `chunkSize "5000" must be an integer from 1 to 3000`},
		{"unknown key", func(c *config.SQL) { c.ConnectAttributes["sslrootcert"] = "x" }, `unknown connectAttributes key "sslrootcert"`},
		{"sslmode", func(c *config.SQL) { c.ConnectAttributes["sslmode"] = "require" }, `sslmode "require"`},
		{"deferFence", func(c *config.SQL) { c.ConnectAttributes["deferFence"] = "no" }, `connectAttributes.deferFence "no" must be "on" or "off"`},
		{"deferExecutionCheck", func(c *config.SQL) { c.ConnectAttributes["deferExecutionCheck"] = "0" }, `connectAttributes.deferExecutionCheck "0" must be "on" or "off"`},
		{"deferCurrentCheck", func(c *config.SQL) { c.ConnectAttributes["deferCurrentCheck"] = "yes" }, `connectAttributes.deferCurrentCheck "yes" must be "on" or "off"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mutate(c)
			_, _, err := ConnectorConfigFromSQL(c, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}

	defaultsCases := []struct {
		name string
		cfg  ConnectorConfig
		want string
	}{
		{"no user", ConnectorConfig{Host: "h", Region: "r", TLS: true}, "user (database role) is empty"},
		{"no region", ConnectorConfig{Host: "h", User: "u", TLS: true}, "region is empty"},
		{"no TLS on DSQL", ConnectorConfig{Host: "h", User: "u", Region: "r"}, "Aurora DSQL requires TLS"},
		{"age too long", ConnectorConfig{Host: "h", User: "u", Region: "r", TLS: true, MaxConnAge: time.Hour}, "maxConnAge 1h0m0s is too long"},
		{"jitter too big", ConnectorConfig{Host: "h", User: "u", Region: "r", TLS: true, MaxConnAge: time.Minute, ConnAgeJitter: time.Minute}, "connAgeJitter 1m0s must be >= 0 and below maxConnAge"},
	}
	for _, tc := range defaultsCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewConnector(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestKeyEncodingKeepsByteOrder(t *testing.T) {
	keys := [][]byte{{}, {0x00}, {0x00, 0xff}, {0x01}, {0x7f, 0x80}, {0x80}, {0xff}, {0xff, 0x00}}
	for i := 1; i < len(keys); i++ {
		a, b := EncodeKeyBytes(keys[i-1]), EncodeKeyBytes(keys[i])
		if !(a < b) {
			t.Fatalf("order lost: %x -> %q, %x -> %q", keys[i-1], a, keys[i], b)
		}
		back, err := DecodeKeyBytes(b)
		if err != nil || string(back) != string(keys[i]) {
			t.Fatalf("round trip of %x gave %x, %v", keys[i], back, err)
		}
	}
	if _, err := DecodeKeyBytes("zz"); err == nil {
		t.Fatal("non-hex accepted")
	}
}

func TestRetryBackoffBounds(t *testing.T) {
	p := DefaultRetryPolicy
	for attempt := 1; attempt < 10; attempt++ {
		for range 100 {
			d := p.backoff(attempt)
			if d <= 0 || d > p.MaxBackoff {
				t.Fatalf("attempt %d backoff %v outside (0, %v]", attempt, d, p.MaxBackoff)
			}
		}
	}
}

func TestDatabaseLevelDDLRefused(t *testing.T) {
	d := &db{}
	if err := d.CreateDatabase("temporal"); err == nil || !strings.Contains(err.Error(), `cannot create database "temporal"`) {
		t.Fatalf("got %v", err)
	}
	if err := d.DropDatabase("temporal"); err == nil || !strings.Contains(err.Error(), `cannot drop database "temporal"`) {
		t.Fatalf("got %v", err)
	}
}
