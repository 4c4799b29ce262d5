package dsql

import (
	"strings"
	"testing"
)

func TestCheckSchemaCompatibility(t *testing.T) {
	cases := []struct {
		name, installed, minCompatible string
		wantErr                        string // "" = accepted
	}{
		{"same version, min equal", SchemaVersion, SchemaVersion, ""},
		{"no min recorded (older runner)", SchemaVersion, "", ""},
		{"newer minor that still accepts this server", "1.1", "1.0", ""},
		{"newer schema that needs newer servers", "2.0", "2.0", "accepts only servers built for schema v2.0 or newer (min_compatible_version), this server is built for v" + SchemaVersion},
		{"newer minor whose min is above this server", "1.3", "1.2", "min_compatible_version"},
		{"installed older than this server needs", "0.9", "0.9", "installed schema version is v0.9, this server needs v" + SchemaVersion},
		{"nothing installed", "", "", "no schema version is installed"},
		{"malformed min", SchemaVersion, "x.y", "min_compatible_version \"x.y\" is not of the form X.Y"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckSchemaCompatibility(c.installed, c.minCompatible)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, c.wantErr)
			}
		})
	}
}
