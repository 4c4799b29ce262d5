package persistencetest

import (
	"context"
	"strings"
	"testing"

	"temporal-dsql/server/dsql"
)

// VerifyVersion, as the server's start-up check calls it, reads min_compatible_version too:
// a schema that only newer servers may use is refused with both versions named.
func TestVersionCheckHonoursMinCompatibleVersion(t *testing.T) {
	b := postgresBackend()
	cfg := b.fresh(t)
	verifier := newDB(t, cfg).(interface{ VerifyVersion() error })
	c := rawConn(t, b, cfg.DatabaseName)
	cases := []struct {
		name, curr string
		min        any // nil = NULL
		want       string
	}{
		{"as migrated", dsql.SchemaVersion, dsql.SchemaVersion, ""},
		{"NULL min (older runner)", dsql.SchemaVersion, nil, ""},
		{"newer schema that still accepts this server", "1.5", dsql.SchemaVersion, ""},
		{"newer schema for newer servers only", "2.0", "2.0", "installed schema v2.0 accepts only servers built for schema v2.0 or newer (min_compatible_version), this server is built for v" + dsql.SchemaVersion},
		{"older schema", "0.9", "0.9", "installed schema version is v0.9, this server needs v" + dsql.SchemaVersion},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Exec(context.Background(), `UPDATE schema_version SET curr_version = $1, min_compatible_version = $2`, tc.curr, tc.min); err != nil {
				t.Fatal(err)
			}
			err := verifier.VerifyVersion()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
