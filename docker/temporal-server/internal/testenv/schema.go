package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// SchemaDir is schema/dsql/temporal/versioned in the repository.
func SchemaDir() string {
	return filepath.Join(RepoRoot(), "schema", "dsql", "temporal", "versioned")
}

// Manifest is a version directory's manifest.json (Temporal's layout).
type Manifest struct {
	CurrVersion          string
	MinCompatibleVersion string
	Description          string
	SchemaUpdateCqlFiles []string
}

// Version is one vX.Y directory with its statements in order.
type Version struct {
	Dir        string
	Manifest   Manifest
	Statements []string
}

// LoadSchema reads every vX.Y directory of dir, sorted by version, and splits the files
// by Temporal's rule: a statement ends with ';' at the end of a line; lines starting with
// "--" are comments.
func LoadSchema(dir string) ([]Version, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Version
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "v") {
			continue
		}
		vdir := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(filepath.Join(vdir, "manifest.json"))
		if err != nil {
			return nil, err
		}
		var m Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s/manifest.json: %w", vdir, err)
		}
		v := Version{Dir: vdir, Manifest: m}
		for _, f := range m.SchemaUpdateCqlFiles {
			b, err := os.ReadFile(filepath.Join(vdir, f))
			if err != nil {
				return nil, err
			}
			v.Statements = append(v.Statements, SplitStatements(string(b))...)
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return versionLess(out[i].Manifest.CurrVersion, out[j].Manifest.CurrVersion) })
	return out, nil
}

func versionLess(a, b string) bool {
	pa, pb := strings.SplitN(a, ".", 2), strings.SplitN(b, ".", 2)
	for i := 0; i < 2 && i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return false
}

// SplitStatements splits SQL text into statements (without the trailing ';').
func SplitStatements(text string) []string {
	var out []string
	var cur []string
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur = append(cur, line)
		if strings.HasSuffix(trimmed, ";") {
			stmt := strings.TrimSpace(strings.Join(cur, "\n"))
			out = append(out, strings.TrimSuffix(stmt, ";"))
			cur = nil
		}
	}
	return out
}

var asyncIndexRE = regexp.MustCompile(`(?i)^CREATE\s+(UNIQUE\s+)?INDEX\s+ASYNC\s+`)
var jobIDRE = regexp.MustCompile(`^[a-z2-7]{26}$`)

// Dialect says how to run the DSQL schema: on DSQL (and dsql-local) as written; on plain
// PostgreSQL with CREATE INDEX ASYNC turned into a plain CREATE INDEX.
type Dialect int

const (
	DialectDSQL Dialect = iota
	DialectPostgres
)

// ApplySchema runs every statement of every version in its own implicit transaction,
// waits for each async index job (CALL sys.wait_for_job), and records the newest version
// in schema_version as Temporal's schema tool (and our migration runner) does.
func ApplySchema(ctx context.Context, conn *pgx.Conn, dialect Dialect, dbName string) (string, error) {
	versions, err := LoadSchema(SchemaDir())
	if err != nil {
		return "", err
	}
	bookkeeping := []string{
		`CREATE TABLE IF NOT EXISTS schema_version (version_partition INT NOT NULL, db_name VARCHAR(255) NOT NULL, creation_time TIMESTAMP, curr_version VARCHAR(64), min_compatible_version VARCHAR(64), PRIMARY KEY (version_partition, db_name))`,
		`CREATE TABLE IF NOT EXISTS schema_update_history (version_partition INT NOT NULL, year INT NOT NULL, month INT NOT NULL, update_time TIMESTAMP NOT NULL, description VARCHAR(255), manifest_md5 VARCHAR(64), new_version VARCHAR(64), old_version VARCHAR(64), PRIMARY KEY (version_partition, year, month, update_time))`,
	}
	for _, s := range bookkeeping {
		if _, err := conn.Exec(ctx, s); err != nil {
			return "", fmt.Errorf("%s: %w", s, err)
		}
	}
	latest := ""
	for _, v := range versions {
		for _, s := range v.Statements {
			if asyncIndexRE.MatchString(s) {
				if dialect == DialectPostgres {
					s = asyncIndexRE.ReplaceAllStringFunc(s, func(m string) string {
						return regexp.MustCompile(`(?i)\s+ASYNC\s+`).ReplaceAllString(m, " ")
					})
					if _, err := conn.Exec(ctx, s); err != nil {
						return "", fmt.Errorf("%s: %s: %w", v.Dir, s, err)
					}
					continue
				}
				var jobID string
				if err := conn.QueryRow(ctx, s).Scan(&jobID); err != nil {
					return "", fmt.Errorf("%s: %s: %w", v.Dir, s, err)
				}
				if !jobIDRE.MatchString(jobID) {
					return "", fmt.Errorf("%s: unexpected job id %q", s, jobID)
				}
				var ok bool
				if err := conn.QueryRow(ctx, "CALL sys.wait_for_job('"+jobID+"')").Scan(&ok); err != nil {
					return "", fmt.Errorf("waiting for index job %s: %w", jobID, err)
				}
				if !ok {
					return "", fmt.Errorf("index job %s for %q failed", jobID, s)
				}
				continue
			}
			if _, err := conn.Exec(ctx, s); err != nil {
				return "", fmt.Errorf("%s: %s: %w", v.Dir, s, err)
			}
		}
		latest = v.Manifest.CurrVersion
	}
	if _, err := conn.Exec(ctx, `INSERT INTO schema_version (version_partition, db_name, creation_time, curr_version, min_compatible_version) VALUES (0, $1, now(), $2, $2)
 ON CONFLICT (version_partition, db_name) DO UPDATE SET curr_version = excluded.curr_version, min_compatible_version = excluded.min_compatible_version`, dbName, latest); err != nil {
		return "", err
	}
	return latest, nil
}

// DropAllTables drops every table in schema public (dsql-local has one database, so suites
// reset it this way), one DDL statement per transaction.
func DropAllTables(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{n}.Sanitize()); err != nil {
			return fmt.Errorf("drop %s: %w", n, err)
		}
	}
	return nil
}
