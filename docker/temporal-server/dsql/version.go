package dsql

import (
	"fmt"
	"strconv"
	"strings"
)

// SchemaVersion is the version of schema/dsql/temporal/versioned this build needs
// (the newest vX.Y directory there; a test keeps them equal).
const SchemaVersion = "1.0"

// UpstreamSchemaVersion is the upstream PostgreSQL v12 schema version that SchemaVersion
// mirrors (go.temporal.io/server/schema/postgresql/v12.Version at the pinned server).
const UpstreamSchemaVersion = "1.19"

// CheckSchemaVersion compares the installed schema version with SchemaVersion: the
// installed one must be at least SchemaVersion (newer minor versions add only what older
// builds can ignore). The error tells the operator both versions and what to do.
func CheckSchemaVersion(installed string) error {
	if installed == "" {
		return fmt.Errorf("dsql: no schema version is installed; this server needs DSQL schema v%s: run the schema migration (schema/dsql/temporal/versioned) first", SchemaVersion)
	}
	cmp, err := compareVersions(installed, SchemaVersion)
	if err != nil {
		return fmt.Errorf("dsql: installed schema version %q is not of the form X.Y: %w", installed, err)
	}
	if cmp < 0 {
		return fmt.Errorf("dsql: installed schema version is v%s, this server needs v%s or newer: run the schema migration to v%s before starting this version", installed, SchemaVersion, SchemaVersion)
	}
	return nil
}

// CheckSchemaCompatibility is CheckSchemaVersion plus the installed schema's own rule:
// min_compatible_version (written by the schema migration runner from the manifest's
// MinCompatibleVersion) is the oldest server schema version that may run against it. A
// server built for an older schema than that is refused even though the installed
// version is newer than it needs. An empty minCompatible (an older runner) is not checked.
func CheckSchemaCompatibility(installed, minCompatible string) error {
	if err := CheckSchemaVersion(installed); err != nil {
		return err
	}
	if minCompatible == "" {
		return nil
	}
	cmp, err := compareVersions(SchemaVersion, minCompatible)
	if err != nil {
		return fmt.Errorf("dsql: installed schema's min_compatible_version %q is not of the form X.Y: %w", minCompatible, err)
	}
	if cmp < 0 {
		return fmt.Errorf("dsql: installed schema v%s accepts only servers built for schema v%s or newer (min_compatible_version), this server is built for v%s: deploy a newer server image", installed, minCompatible, SchemaVersion)
	}
	return nil
}

func compareVersions(a, b string) (int, error) {
	pa, err := parseVersion(a)
	if err != nil {
		return 0, err
	}
	pb, err := parseVersion(b)
	if err != nil {
		return 0, err
	}
	for i := range 2 {
		if pa[i] != pb[i] {
			if pa[i] < pb[i] {
				return -1, nil
			}
			return 1, nil
		}
	}
	return 0, nil
}

func parseVersion(v string) ([2]int, error) {
	var out [2]int
	parts := strings.Split(strings.TrimPrefix(v, "v"), ".")
	if len(parts) < 1 || len(parts) > 3 {
		return out, fmt.Errorf("version %q", v)
	}
	for i := 0; i < 2 && i < len(parts); i++ {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return out, fmt.Errorf("version %q: %w", v, err)
		}
		out[i] = n
	}
	return out, nil
}
