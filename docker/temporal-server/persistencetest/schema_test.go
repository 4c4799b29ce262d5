package persistencetest

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	upstreamschema "go.temporal.io/server/schema"
	postgresqlv12 "go.temporal.io/server/schema/postgresql/v12"

	"temporal-dsql/server/dsql"
	"temporal-dsql/server/internal/testenv"
)

var (
	createTableRE = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s*\((.*)\)\s*$`)
	addColumnRE   = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+(\w+)`)
	columnRE      = regexp.MustCompile(`^\s*(\w+)\s+(\w+)`)
	notColumn     = map[string]bool{"primary": true, "constraint": true, "unique": true, "check": true, "foreign": true}
)

// tableShape maps table -> column -> upper-case type (first word).
type tableShape map[string]map[string]string

func shapeOf(stmts []string) tableShape {
	shape := tableShape{}
	for _, s := range stmts {
		if m := createTableRE.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
			cols := map[string]string{}
			for _, line := range strings.Split(m[2], "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "--") {
					continue
				}
				if c := columnRE.FindStringSubmatch(line); c != nil && !notColumn[strings.ToLower(c[1])] {
					cols[strings.ToLower(c[1])] = strings.ToUpper(c[2])
				}
			}
			shape[strings.ToLower(m[1])] = cols
		}
		if m := addColumnRE.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
			if shape[strings.ToLower(m[1])] == nil {
				shape[strings.ToLower(m[1])] = map[string]string{}
			}
			shape[strings.ToLower(m[1])][strings.ToLower(m[2])] = strings.ToUpper(m[3])
		}
	}
	return shape
}

// TestSchemaMirrorsUpstream fails when the pinned server's PostgreSQL v12 schema changes
// shape (a table or column appears or disappears) relative to our DSQL schema, and when
// upstream's schema version moves past the one our newest version records.
func TestSchemaMirrorsUpstream(t *testing.T) {
	if postgresqlv12.Version != dsql.UpstreamSchemaVersion {
		t.Errorf("upstream PostgreSQL schema is now v%s but our DSQL schema v%s mirrors v%s: port the upstream change into a new schema/dsql/temporal/versioned/vX.Y, then bump dsql.SchemaVersion and dsql.UpstreamSchemaVersion",
			postgresqlv12.Version, dsql.SchemaVersion, dsql.UpstreamSchemaVersion)
	}
	b, err := fs.ReadFile(upstreamschema.Assets(), "postgresql/v12/temporal/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	upstream := shapeOf(testenv.SplitStatements(string(b)))
	versions, err := testenv.LoadSchema(testenv.SchemaDir())
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, v := range versions {
		ours = append(ours, v.Statements...)
	}
	mine := shapeOf(ours)
	if len(upstream) < 30 {
		t.Fatalf("parsed only %d upstream tables: the parser is broken", len(upstream))
	}
	diffs := shapeDiff(upstream, mine)
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("DSQL schema differs in shape from upstream PostgreSQL v%s:\n  %s", postgresqlv12.Version, strings.Join(diffs, "\n  "))
	}
	t.Logf("%d tables match upstream PostgreSQL v%s", len(upstream), postgresqlv12.Version)
}

// shapeDiff lists tables and columns that differ between upstream and ours, sorted.
func shapeDiff(upstream, mine tableShape) []string {
	var diffs []string
	for table, cols := range upstream {
		have, ok := mine[table]
		if !ok {
			diffs = append(diffs, "missing table "+table)
			continue
		}
		for c := range cols {
			if _, ok := have[c]; !ok {
				diffs = append(diffs, "missing column "+table+"."+c)
			}
		}
		for c := range have {
			if _, ok := cols[c]; !ok {
				diffs = append(diffs, "extra column "+table+"."+c+" (not upstream)")
			}
		}
	}
	for table := range mine {
		if _, ok := upstream[table]; !ok {
			diffs = append(diffs, "extra table "+table+" (not upstream)")
		}
	}
	sort.Strings(diffs)
	return diffs
}

// TestShapeDiffCatchesUpstreamChanges simulates upstream adding a column and a table.
func TestShapeDiffCatchesUpstreamChanges(t *testing.T) {
	ours := shapeOf(testenv.SplitStatements("CREATE TABLE IF NOT EXISTS a (\n  x INT NOT NULL,\n  PRIMARY KEY (x)\n);\n"))
	upstream := shapeOf(testenv.SplitStatements("CREATE TABLE a (\n  x INT NOT NULL,\n  y BYTEA,\n  PRIMARY KEY (x)\n);\nCREATE TABLE b (\n  z INT\n);\n"))
	got := strings.Join(shapeDiff(upstream, ours), "; ")
	if got != "missing column a.y; missing table b" {
		t.Fatalf("diff = %q", got)
	}
}

var (
	pkRE        = regexp.MustCompile(`(?i)PRIMARY\s+KEY\s*\(([^)]*)\)`)
	inlinePKRE  = regexp.MustCompile(`(?im)^\s*(\w+)\s+\w+[^,\n]*PRIMARY\s+KEY`)
	indexRE     = regexp.MustCompile(`(?is)^CREATE\s+(UNIQUE\s+)?INDEX\s+(\S+\s+)*?ON\s+(\w+)\s*\(([^)]*)\)`)
	asyncIdxRE  = regexp.MustCompile(`(?is)^CREATE\s+(UNIQUE\s+)?INDEX\s+ASYNC\s+IF\s+NOT\s+EXISTS\s+\w+\s+ON\s+\w+\s*\(`)
	forbiddenRE = regexp.MustCompile(`(?i)\b(BIG|SMALL)?SERIAL\b|\bFOR\s+SHARE\b|\bTRUNCATE\b|\bSAVEPOINT\b|\bpg_advisory|\bCOLLATE\b|\bJSONB?\b`)
)

// TestSchemaFollowsDSQLRules checks the rules DSQL (and our migration runner) impose on
// schema/dsql: manifests in Temporal's layout with the newest equal to dsql.SchemaVersion,
// IF NOT EXISTS everywhere, CREATE INDEX ASYNC only, no SERIAL/FOR SHARE/TRUNCATE/COLLATE/
// JSON, and no BYTEA column in any primary key or index key.
func TestSchemaFollowsDSQLRules(t *testing.T) {
	versions, err := testenv.LoadSchema(testenv.SchemaDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) == 0 {
		t.Fatal("no schema versions found")
	}
	latest := versions[len(versions)-1].Manifest
	if latest.CurrVersion != dsql.SchemaVersion {
		t.Errorf("newest schema version is v%s but dsql.SchemaVersion is %s", latest.CurrVersion, dsql.SchemaVersion)
	}
	for _, v := range versions {
		m := v.Manifest
		if m.CurrVersion == "" || m.MinCompatibleVersion == "" || m.Description == "" || len(m.SchemaUpdateCqlFiles) == 0 {
			t.Errorf("%s/manifest.json lacks CurrVersion, MinCompatibleVersion, Description or SchemaUpdateCqlFiles", v.Dir)
		}
		if !strings.HasSuffix(v.Dir, "v"+m.CurrVersion) {
			t.Errorf("%s holds CurrVersion %s", v.Dir, m.CurrVersion)
		}
		shape := shapeOf(v.Statements)
		for _, s := range v.Statements {
			upper := strings.ToUpper(s)
			if f := forbiddenRE.FindString(s); f != "" {
				t.Errorf("%s: %q is not allowed on DSQL: %.80s", v.Dir, f, s)
			}
			if strings.HasPrefix(upper, "CREATE TABLE") && !strings.HasPrefix(upper, "CREATE TABLE IF NOT EXISTS") {
				t.Errorf("%s: CREATE TABLE without IF NOT EXISTS: %.80s", v.Dir, s)
			}
			if m := indexRE.FindStringSubmatch(s); m != nil {
				if !asyncIdxRE.MatchString(s) {
					t.Errorf("%s: index must be CREATE [UNIQUE] INDEX ASYNC IF NOT EXISTS: %.80s", v.Dir, s)
				}
				checkKeyCols(t, v.Dir, shape, m[3], m[4])
			}
			if m := createTableRE.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
				for _, pk := range pkRE.FindAllStringSubmatch(m[2], -1) {
					checkKeyCols(t, v.Dir, shape, m[1], pk[1])
				}
				for _, pk := range inlinePKRE.FindAllStringSubmatch(m[2], -1) {
					checkKeyCols(t, v.Dir, shape, m[1], pk[1])
				}
			}
		}
	}
}

func checkKeyCols(t *testing.T, dir string, shape tableShape, table, cols string) {
	t.Helper()
	for _, p := range keyColProblems(shape, table, cols) {
		t.Errorf("%s: %s", dir, p)
	}
}

// keyColProblems lists key columns that are unknown or of a type DSQL cannot key on.
func keyColProblems(shape tableShape, table, cols string) []string {
	var out []string
	for _, c := range strings.Split(cols, ",") {
		c = strings.ToLower(strings.TrimSpace(c))
		typ := shape[strings.ToLower(table)][c]
		if typ == "" {
			out = append(out, fmt.Sprintf("key column %s.%s is not a column of the table", table, c))
		}
		if typ == "BYTEA" || typ == "JSON" || typ == "JSONB" {
			out = append(out, fmt.Sprintf("key column %s.%s is %s, which DSQL cannot key on", table, c, typ))
		}
	}
	return out
}

// TestSchemaRulesCatchViolations feeds the rule checks statements that break them, so that
// TestSchemaFollowsDSQLRules is known to be able to fail.
func TestSchemaRulesCatchViolations(t *testing.T) {
	stmts := testenv.SplitStatements(`CREATE TABLE IF NOT EXISTS t (
  id BYTEA NOT NULL,
  n BIGSERIAL NOT NULL,
  PRIMARY KEY (id)
);
CREATE TABLE IF NOT EXISTS u (
  id BYTEA NOT NULL PRIMARY KEY
);
CREATE INDEX t_n ON t (n);
`)
	shape := shapeOf(stmts)
	if got := keyColProblems(shape, "t", "id"); len(got) != 1 || !strings.Contains(got[0], "BYTEA") {
		t.Fatalf("bytea primary key not caught: %v", got)
	}
	if m := inlinePKRE.FindStringSubmatch(createTableRE.FindStringSubmatch(stmts[1])[2]); m == nil || len(keyColProblems(shape, "u", m[1])) != 1 {
		t.Fatal("inline bytea primary key not caught")
	}
	if forbiddenRE.FindString(stmts[0]) == "" {
		t.Fatal("BIGSERIAL not caught")
	}
	if indexRE.FindStringSubmatch(stmts[2]) == nil || asyncIdxRE.MatchString(stmts[2]) {
		t.Fatal("synchronous CREATE INDEX not caught")
	}
	if got := keyColProblems(shape, "t", "missing"); len(got) != 1 {
		t.Fatalf("unknown key column not caught: %v", got)
	}
}

// TestVersionCheck: the server refuses to start on an older or missing schema, and the
// error names the installed and the needed version.
func TestVersionCheck(t *testing.T) {
	if err := dsql.CheckSchemaVersion(dsql.SchemaVersion); err != nil {
		t.Fatalf("current version refused: %v", err)
	}
	// One minor below the needed version is refused; a newer minor or major is accepted (newer
	// minor versions only add what older servers ignore).
	var major, minor int
	if _, err := fmt.Sscanf(dsql.SchemaVersion, "%d.%d", &major, &minor); err != nil {
		t.Fatalf("SchemaVersion %q: %v", dsql.SchemaVersion, err)
	}
	older := fmt.Sprintf("%d.%d", major-1, 99)
	if minor > 0 {
		older = fmt.Sprintf("%d.%d", major, minor-1)
	}
	if err := dsql.CheckSchemaVersion(older); err == nil {
		t.Fatalf("older version v%s accepted by a server that needs v%s", older, dsql.SchemaVersion)
	}
	for _, newer := range []string{fmt.Sprintf("%d.%d", major, minor+1), fmt.Sprintf("%d.0", major+1)} {
		if err := dsql.CheckSchemaVersion(newer); err != nil {
			t.Fatalf("newer version v%s refused by a server that needs v%s: %v", newer, dsql.SchemaVersion, err)
		}
	}
	err := dsql.CheckSchemaVersion("0.9")
	if err == nil || !strings.Contains(err.Error(), "v0.9") || !strings.Contains(err.Error(), "v"+dsql.SchemaVersion) {
		t.Fatalf("want an error naming v0.9 and v%s, got %v", dsql.SchemaVersion, err)
	}
	if err := dsql.CheckSchemaVersion(""); err == nil || !strings.Contains(err.Error(), "no schema version") {
		t.Fatalf("missing version: got %v", err)
	}
	// End to end on PostgreSQL: VerifyVersion reads schema_version as the server does at start-up.
	b := postgresBackend()
	cfg := b.fresh(t)
	db := newDB(t, cfg)
	verifier := db.(interface{ VerifyVersion() error })
	if err := verifier.VerifyVersion(); err != nil {
		t.Fatalf("freshly migrated database refused: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pg.Connect(ctx, cfg.DatabaseName)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE schema_version SET curr_version = '0.9'`); err != nil {
		t.Fatal(err)
	}
	err = verifier.VerifyVersion()
	if err == nil || !strings.Contains(err.Error(), "installed schema version is v0.9, this server needs v"+dsql.SchemaVersion) {
		t.Fatalf("want the version error, got %v", err)
	}
}
