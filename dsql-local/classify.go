package main

import (
	"fmt"
	"regexp"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// stmtKind is how a statement counts against DSQL's transaction rules.
type stmtKind int

const (
	kindOther     stmtKind = iota // SELECT, SHOW, SET ...: no DDL/DML accounting
	kindDML                       // writes (INSERT/UPDATE/DELETE, COPY FROM, SELECT ... FOR UPDATE)
	kindDDL                       // schema and role changes
	kindTxControl                 // BEGIN/COMMIT/ROLLBACK
)

// txAction is the transaction-control effect of a statement.
type txAction int

const (
	txNone txAction = iota
	txBegin
	txCommit
	txRollback
)

// refusal is an error dsql-local answers instead of PostgreSQL, in DSQL's words.
type refusal struct {
	Code    string // SQLSTATE
	Message string
	Detail  string
}

func (r *refusal) Error() string { return r.Code + " " + r.Message }

func refuse(code, format string, args ...any) *refusal {
	return &refusal{Code: code, Message: fmt.Sprintf(format, args...)}
}

// unsupported is DSQL's generic refusal (0A000).
func unsupported(format string, args ...any) *refusal {
	return refuse("0A000", format, args...)
}

// stmtInfo is the classification of one SQL statement.
type stmtInfo struct {
	Text    string
	Kind    stmtKind
	Tx      txAction
	Refusal *refusal // non-nil: refuse regardless of transaction state
	// Rewrite replaces the statement text sent to PostgreSQL (CREATE INDEX ASYNC, AWS IAM ...).
	Rewrite string
	// WaitForJob: CALL sys.wait_for_job(...), refused inside transaction blocks.
	WaitForJob bool
	// Neutral statements (SET, SHOW, BEGIN...) never get the "stale schema" OC001.
	Neutral bool
}

var (
	reIamGrant  = regexp.MustCompile(`(?is)^\s*AWS\s+IAM\s+GRANT\s+("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)\s+TO\s+'((?:[^']|'')*)'\s*;?\s*$`)
	reIamRevoke = regexp.MustCompile(`(?is)^\s*AWS\s+IAM\s+REVOKE\s+("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)\s+FROM\s+'((?:[^']|'')*)'\s*;?\s*$`)
	reAwsIam    = regexp.MustCompile(`(?is)^\s*AWS\s+IAM\b`)
	reIdxAsync  = regexp.MustCompile(`(?is)^(\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+)ASYNC\b`)
	reAltAsync  = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s+ASYNC\b`)
)

// splitStatements splits a simple-protocol query string into statements with PostgreSQL's own
// scanner (so semicolons in strings, comments and dollar quotes are handled).
func splitStatements(sql string) ([]string, error) {
	parts, err := pg_query.SplitWithScanner(sql, true)
	if err != nil {
		return nil, err
	}
	out := parts[:0]
	for _, p := range parts {
		if strings.TrimSpace(strings.Trim(p, ";")) != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// classify parses one statement and applies DSQL's static dialect rules to it.
func classify(text string) *stmtInfo {
	info := &stmtInfo{Text: text}
	switch {
	case reAwsIam.MatchString(text):
		return classifyIam(info)
	case reIdxAsync.MatchString(text):
		return classifyIndexAsync(info)
	case reAltAsync.MatchString(text):
		info.Kind = kindDDL
		info.Refusal = unsupported("ALTER TABLE ASYNC is not supported by dsql-local")
		return info
	}
	tree, err := pg_query.Parse(text)
	if err != nil {
		// Let PostgreSQL report the syntax error itself, with its position.
		return info
	}
	stmts := tree.GetStmts()
	if len(stmts) == 0 {
		// Only comments, e.g. pgx's Ping ("-- ping"): nothing runs.
		info.Neutral = true
		return info
	}
	if len(stmts) != 1 {
		return info
	}
	classifyNode(info, stmts[0].GetStmt())
	if info.Refusal == nil {
		if r := walkForbidden(stmts[0].GetStmt()); r != nil {
			info.Refusal = r
		}
	}
	return info
}

func classifyIam(info *stmtInfo) *stmtInfo {
	info.Kind = kindDDL
	if m := reIamGrant.FindStringSubmatch(info.Text); m != nil {
		info.Rewrite = fmt.Sprintf("CALL dsql_local_internal.iam_grant(%s, %s)", quoteLiteral(unquoteIdent(m[1])), quoteLiteral(strings.ReplaceAll(m[2], "''", "'")))
		return info
	}
	if m := reIamRevoke.FindStringSubmatch(info.Text); m != nil {
		info.Rewrite = fmt.Sprintf("CALL dsql_local_internal.iam_revoke(%s, %s)", quoteLiteral(unquoteIdent(m[1])), quoteLiteral(strings.ReplaceAll(m[2], "''", "'")))
		return info
	}
	info.Refusal = refuse("42601", "syntax error in AWS IAM statement; expected AWS IAM GRANT role TO 'arn' or AWS IAM REVOKE role FROM 'arn'")
	return info
}

func classifyIndexAsync(info *stmtInfo) *stmtInfo {
	info.Kind = kindDDL
	plain := reIdxAsync.ReplaceAllString(info.Text, "$1")
	tree, err := pg_query.Parse(plain)
	if err != nil || len(tree.GetStmts()) != 1 || tree.GetStmts()[0].GetStmt().GetIndexStmt() == nil {
		info.Refusal = refuse("42601", "syntax error in CREATE INDEX ASYNC statement")
		return info
	}
	ix := tree.GetStmts()[0].GetStmt().GetIndexStmt()
	switch {
	case ix.Concurrent:
		info.Refusal = unsupported("CONCURRENTLY is not supported with CREATE INDEX ASYNC")
	case ix.Idxname == "":
		info.Refusal = unsupported("CREATE INDEX ASYNC requires an index name")
	case strings.Contains(strings.ToUpper(regexp.MustCompile(`(?is)\bON\b.*`).FindString(plain)), " USING "):
		info.Refusal = unsupported("access method is not supported; only btree indexes are supported")
	case ix.WhereClause != nil:
		info.Refusal = unsupported("partial indexes are not supported")
	case ix.TableSpace != "":
		info.Refusal = unsupported("TABLESPACE is not supported")
	case len(ix.Options) > 0:
		info.Refusal = unsupported("index storage parameters are not supported")
	}
	if info.Refusal != nil {
		return info
	}
	// An index name qualified with a schema does not parse as an IndexStmt name at all in
	// PostgreSQL, so reaching here means it was unqualified.
	keys, r := indexColumns(ix.IndexParams, true)
	if r != nil {
		info.Refusal = r
		return info
	}
	include, r := indexColumns(ix.IndexIncludingParams, false)
	if r != nil {
		info.Refusal = r
		return info
	}
	schema := "NULL"
	if ix.Relation.Schemaname != "" {
		schema = quoteLiteral(ix.Relation.Schemaname)
	}
	info.Rewrite = fmt.Sprintf("SELECT job_id FROM dsql_local_internal.submit_index_job(%s, %s, %s, %s, %t, %s, %s, %t)",
		"NULL", schema, quoteLiteral(ix.Relation.Relname), quoteLiteral(ix.Idxname), ix.Unique,
		textArray(keys), textArray(include), ix.IfNotExists)
	return info
}

func indexColumns(params []*pg_query.Node, key bool) ([]string, *refusal) {
	var cols []string
	for _, p := range params {
		el := p.GetIndexElem()
		if el == nil || el.Name == "" {
			return nil, unsupported("expressions in index keys are not supported")
		}
		if key && el.Ordering != pg_query.SortByDir_SORTBY_DEFAULT {
			return nil, unsupported("ASC/DESC in index keys is not supported")
		}
		if key && el.NullsOrdering != pg_query.SortByNulls_SORTBY_NULLS_DEFAULT {
			return nil, unsupported("NULLS FIRST/LAST in index keys is not supported")
		}
		if len(el.Collation) > 0 {
			return nil, unsupported("COLLATE is not supported")
		}
		if len(el.Opclass) > 0 {
			return nil, unsupported("operator classes are not supported")
		}
		cols = append(cols, el.Name)
	}
	if key && len(cols) > 8 {
		return nil, refuse("54011", "cannot use more than 8 columns in an index key")
	}
	return cols, nil
}

// serialTypes are PostgreSQL's serial pseudo-types, refused by DSQL as unknown types.
var serialTypes = map[string]bool{"serial": true, "serial4": true, "serial8": true, "bigserial": true, "smallserial": true, "serial2": true}

// unsupportedTypes are column types DSQL does not store.
var unsupportedTypes = map[string]bool{
	"xml": true, "money": true, "point": true, "line": true, "lseg": true, "box": true, "path": true,
	"polygon": true, "circle": true, "tsvector": true, "tsquery": true, "int4range": true,
	"int8range": true, "numrange": true, "tsrange": true, "tstzrange": true, "daterange": true,
	"int4multirange": true, "int8multirange": true, "nummultirange": true, "tsmultirange": true,
	"tstzmultirange": true, "datemultirange": true, "txid_snapshot": true, "pg_lsn": true,
	"pg_snapshot": true, "bit": true, "varbit": true, "macaddr": true, "macaddr8": true, "cidr": true,
}

// keyForbiddenTypes may not be primary-key or index-key columns in DSQL.
var keyForbiddenTypes = map[string]bool{"bytea": true, "json": true, "jsonb": true}

func typeNameOf(t *pg_query.TypeName) string {
	if t == nil || len(t.Names) == 0 {
		return ""
	}
	return strings.ToLower(t.Names[len(t.Names)-1].GetString_().GetSval())
}

func checkColumnType(col *pg_query.ColumnDef) *refusal {
	name := typeNameOf(col.TypeName)
	if serialTypes[name] {
		return refuse("42704", "type %q does not exist", name)
	}
	if len(col.TypeName.GetArrayBounds()) > 0 {
		return unsupported("datatype %s[] not supported", name)
	}
	if unsupportedTypes[name] {
		return unsupported("datatype %s not supported", name)
	}
	if col.CollClause != nil {
		return unsupported("COLLATE is not supported")
	}
	return nil
}

// checkSequenceOptions enforces DSQL's CACHE rule (CACHE 1 or CACHE >= 65536, mandatory) and
// bigint-only identity/sequences.
func checkSequenceOptions(opts []*pg_query.Node, what string, requireCache bool) *refusal {
	hasCache := false
	for _, o := range opts {
		d := o.GetDefElem()
		if d == nil {
			continue
		}
		switch d.Defname {
		case "cache":
			hasCache = true
			v, ok := intArg(d.Arg)
			if !ok || (v != 1 && v < 65536) {
				return refuse("22023", "CACHE must be 1 or greater than or equal to 65536 for %s", what)
			}
		case "as":
			if tn := d.Arg.GetTypeName(); tn != nil && typeNameOf(tn) != "int8" && typeNameOf(tn) != "bigint" {
				return unsupported("%s only supports type bigint", what)
			}
		}
	}
	if requireCache && !hasCache {
		return refuse("22023", "CACHE must be specified as 1 or a value greater than or equal to 65536 for %s", what)
	}
	return nil
}

func intArg(n *pg_query.Node) (int64, bool) {
	if n == nil {
		return 0, false
	}
	if i := n.GetInteger(); i != nil {
		return int64(i.Ival), true
	}
	if f := n.GetFloat(); f != nil {
		var v int64
		_, err := fmt.Sscan(f.Fval, &v)
		return v, err == nil
	}
	return 0, false
}

func checkIdentity(col *pg_query.ColumnDef, c *pg_query.Constraint) *refusal {
	name := typeNameOf(col.TypeName)
	if name != "int8" && name != "bigint" {
		return unsupported("identity columns only support type bigint")
	}
	return checkSequenceOptions(c.Options, "identity columns", true)
}

// checkCreateTable applies DSQL's CREATE TABLE rules.
func checkCreateTable(cs *pg_query.CreateStmt) *refusal {
	switch {
	case cs.Relation.GetRelpersistence() == "t":
		return unsupported("temporary tables are not supported")
	case cs.Relation.GetRelpersistence() == "u":
		return unsupported("unlogged tables are not supported")
	case cs.Partspec != nil || cs.Partbound != nil:
		return unsupported("partitioned tables are not supported")
	case len(cs.InhRelations) > 0:
		return unsupported("table inheritance is not supported")
	case cs.Tablespacename != "":
		return unsupported("TABLESPACE is not supported")
	case cs.AccessMethod != "":
		return unsupported("table access methods are not supported")
	case cs.OfTypename != nil:
		return unsupported("typed tables are not supported")
	}
	colTypes := map[string]string{}
	var keyCols []string
	for _, e := range cs.TableElts {
		if col := e.GetColumnDef(); col != nil {
			if r := checkColumnType(col); r != nil {
				return r
			}
			colTypes[col.Colname] = typeNameOf(col.TypeName)
			for _, cn := range col.Constraints {
				c := cn.GetConstraint()
				if c == nil {
					continue
				}
				switch c.Contype {
				case pg_query.ConstrType_CONSTR_PRIMARY, pg_query.ConstrType_CONSTR_UNIQUE:
					keyCols = append(keyCols, col.Colname)
				case pg_query.ConstrType_CONSTR_IDENTITY:
					if r := checkIdentity(col, c); r != nil {
						return r
					}
				case pg_query.ConstrType_CONSTR_EXCLUSION:
					return unsupported("exclusion constraints are not supported")
				}
			}
			continue
		}
		if c := e.GetConstraint(); c != nil {
			if r := checkTableConstraint(c, false); r != nil {
				return r
			}
			if c.Contype == pg_query.ConstrType_CONSTR_PRIMARY || c.Contype == pg_query.ConstrType_CONSTR_UNIQUE {
				if len(c.Keys) > 8 {
					return refuse("54011", "cannot use more than 8 columns in a key")
				}
				for _, k := range c.Keys {
					keyCols = append(keyCols, k.GetString_().GetSval())
				}
			}
			continue
		}
		if e.GetTableLikeClause() != nil {
			return unsupported("CREATE TABLE ... LIKE is not supported")
		}
	}
	for _, k := range keyCols {
		if t := colTypes[k]; keyForbiddenTypes[t] {
			return unsupported("unsupported data type %s for key column %q", t, k)
		}
	}
	return nil
}

func checkTableConstraint(c *pg_query.Constraint, alter bool) *refusal {
	switch c.Contype {
	case pg_query.ConstrType_CONSTR_EXCLUSION:
		return unsupported("exclusion constraints are not supported")
	case pg_query.ConstrType_CONSTR_PRIMARY:
		if alter {
			return unsupported("ALTER TABLE ADD PRIMARY KEY is not supported")
		}
	case pg_query.ConstrType_CONSTR_UNIQUE:
		if alter {
			return unsupported("ALTER TABLE ADD UNIQUE is not supported; use CREATE UNIQUE INDEX ASYNC")
		}
	case pg_query.ConstrType_CONSTR_CHECK:
		if alter && !c.SkipValidation {
			return unsupported("ALTER TABLE ADD CHECK is only supported with NOT VALID")
		}
	}
	return nil
}

// checkAlterTable applies DSQL's ALTER TABLE rules.
func checkAlterTable(at *pg_query.AlterTableStmt) *refusal {
	for _, cn := range at.Cmds {
		cmd := cn.GetAlterTableCmd()
		if cmd == nil {
			continue
		}
		switch cmd.Subtype {
		case pg_query.AlterTableType_AT_AddColumn:
			col := cmd.Def.GetColumnDef()
			if col == nil {
				continue
			}
			if r := checkColumnType(col); r != nil {
				return r
			}
			if col.RawDefault != nil || col.IsNotNull || len(col.Constraints) > 0 {
				return unsupported("ALTER TABLE ADD COLUMN with constraints or a default is not supported")
			}
		case pg_query.AlterTableType_AT_AddConstraint:
			if c := cmd.Def.GetConstraint(); c != nil {
				if r := checkTableConstraint(c, true); r != nil {
					return r
				}
			}
		case pg_query.AlterTableType_AT_AlterColumnType:
			return unsupported("ALTER TABLE ALTER COLUMN TYPE is not supported")
		case pg_query.AlterTableType_AT_SetNotNull:
			return unsupported("ALTER TABLE ALTER COLUMN SET NOT NULL is not supported")
		case pg_query.AlterTableType_AT_AddIdentity, pg_query.AlterTableType_AT_SetIdentity:
			return unsupported("ALTER TABLE ... IDENTITY is not supported")
		case pg_query.AlterTableType_AT_EnableTrig, pg_query.AlterTableType_AT_DisableTrig,
			pg_query.AlterTableType_AT_EnableRowSecurity, pg_query.AlterTableType_AT_DisableRowSecurity,
			pg_query.AlterTableType_AT_ForceRowSecurity, pg_query.AlterTableType_AT_NoForceRowSecurity,
			pg_query.AlterTableType_AT_SetLogged, pg_query.AlterTableType_AT_SetUnLogged,
			pg_query.AlterTableType_AT_ClusterOn, pg_query.AlterTableType_AT_SetTableSpace,
			pg_query.AlterTableType_AT_AttachPartition, pg_query.AlterTableType_AT_DetachPartition,
			pg_query.AlterTableType_AT_AddInherit, pg_query.AlterTableType_AT_DropInherit,
			pg_query.AlterTableType_AT_SetRelOptions, pg_query.AlterTableType_AT_ReplicaIdentity:
			return unsupported("unsupported ALTER TABLE operation")
		}
	}
	return nil
}

var isolationAllowed = map[string]bool{"repeatable read": true}

func checkTransactionOptions(opts []*pg_query.Node) *refusal {
	for _, o := range opts {
		d := o.GetDefElem()
		if d == nil {
			continue
		}
		if d.Defname == "transaction_isolation" {
			lvl := strings.ToLower(d.Arg.GetAConst().GetSval().GetSval())
			if !isolationAllowed[lvl] {
				return unsupported("unsupported isolation level: %s; Aurora DSQL only supports REPEATABLE READ", lvl)
			}
		}
		if d.Defname == "transaction_deferrable" {
			return unsupported("DEFERRABLE transactions are not supported")
		}
	}
	return nil
}

// classifyNode fills info from the parsed statement.
func classifyNode(info *stmtInfo, n *pg_query.Node) {
	switch {
	case n.GetSelectStmt() != nil:
		s := n.GetSelectStmt()
		if s.IntoClause != nil {
			info.Kind = kindDDL
			info.Refusal = unsupported("SELECT INTO is not supported")
			return
		}
		if hasWriteLocking(s) {
			info.Kind = kindDML
		}
	case n.GetInsertStmt() != nil, n.GetUpdateStmt() != nil, n.GetDeleteStmt() != nil:
		info.Kind = kindDML
	case n.GetMergeStmt() != nil:
		info.Kind = kindDML
		info.Refusal = unsupported("MERGE is not supported")
	case n.GetTransactionStmt() != nil:
		t := n.GetTransactionStmt()
		info.Kind = kindTxControl
		info.Neutral = true
		switch t.Kind {
		case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN, pg_query.TransactionStmtKind_TRANS_STMT_START:
			info.Tx = txBegin
			info.Refusal = checkTransactionOptions(t.Options)
		case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:
			info.Tx = txCommit
			if t.Chain {
				info.Refusal = unsupported("COMMIT AND CHAIN is not supported")
			}
		case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK:
			info.Tx = txRollback
			if t.Chain {
				info.Refusal = unsupported("ROLLBACK AND CHAIN is not supported")
			}
		case pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT, pg_query.TransactionStmtKind_TRANS_STMT_RELEASE,
			pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
			info.Refusal = unsupported("SAVEPOINT is not supported")
		default:
			info.Refusal = unsupported("two-phase commit is not supported")
		}
	case n.GetVariableSetStmt() != nil:
		v := n.GetVariableSetStmt()
		info.Neutral = true
		name := strings.ToLower(v.Name)
		switch {
		case name == "transaction" || name == "session characteristics":
			info.Refusal = unsupported("SET TRANSACTION is not supported")
		case name == "transaction_isolation" || name == "default_transaction_isolation" ||
			name == "default_transaction_deferrable" || name == "transaction_deferrable":
			info.Refusal = unsupported("setting %s is not supported", name)
		case name == "session_authorization":
			info.Refusal = unsupported("SET SESSION AUTHORIZATION is not supported")
		}
	case n.GetVariableShowStmt() != nil, n.GetDiscardStmt() != nil, n.GetDeallocateStmt() != nil:
		info.Neutral = true
	case n.GetExplainStmt() != nil:
		inner := &stmtInfo{Text: info.Text}
		classifyNode(inner, n.GetExplainStmt().Query)
		info.Refusal = inner.Refusal
		for _, o := range n.GetExplainStmt().Options {
			if d := o.GetDefElem(); d != nil && d.Defname == "analyze" {
				info.Kind = inner.Kind
			}
		}
	case n.GetCopyStmt() != nil:
		c := n.GetCopyStmt()
		if c.Filename != "" || c.IsProgram {
			info.Refusal = unsupported("COPY to or from a file or program is not supported")
		}
		if c.IsFrom {
			info.Kind = kindDML
		}
	case n.GetCallStmt() != nil:
		fn := qualifiedName(n.GetCallStmt().Funccall.GetFuncname())
		if fn != "sys.wait_for_job" {
			info.Refusal = unsupported("CALL is only supported for sys.wait_for_job")
			return
		}
		info.WaitForJob = true
		info.Neutral = true
	case n.GetCreateStmt() != nil:
		info.Kind = kindDDL
		info.Refusal = checkCreateTable(n.GetCreateStmt())
	case n.GetAlterTableStmt() != nil:
		info.Kind = kindDDL
		at := n.GetAlterTableStmt()
		if at.Objtype == pg_query.ObjectType_OBJECT_MATVIEW {
			info.Refusal = unsupported("materialized views are not supported")
			return
		}
		info.Refusal = checkAlterTable(at)
	case n.GetIndexStmt() != nil:
		info.Kind = kindDDL
		info.Refusal = unsupported("unsupported mode. please use CREATE INDEX ASYNC.")
	case n.GetCreateSeqStmt() != nil:
		info.Kind = kindDDL
		info.Refusal = checkSequenceOptions(n.GetCreateSeqStmt().Options, "sequences", true)
	case n.GetAlterSeqStmt() != nil:
		info.Kind = kindDDL
		info.Refusal = checkSequenceOptions(n.GetAlterSeqStmt().Options, "sequences", false)
	case n.GetViewStmt() != nil:
		info.Kind = kindDDL
		if n.GetViewStmt().View.GetRelpersistence() == "t" {
			info.Refusal = unsupported("temporary views are not supported")
		}
	case n.GetCreateSchemaStmt() != nil, n.GetDropStmt() != nil, n.GetRenameStmt() != nil,
		n.GetCommentStmt() != nil, n.GetAlterOwnerStmt() != nil, n.GetCreateRoleStmt() != nil,
		n.GetAlterRoleStmt() != nil, n.GetDropRoleStmt() != nil, n.GetGrantStmt() != nil,
		n.GetGrantRoleStmt() != nil, n.GetAlterDefaultPrivilegesStmt() != nil,
		n.GetAlterObjectSchemaStmt() != nil, n.GetAlterFunctionStmt() != nil:
		info.Kind = kindDDL
		if d := n.GetDropStmt(); d != nil {
			switch d.RemoveType {
			case pg_query.ObjectType_OBJECT_EXTENSION, pg_query.ObjectType_OBJECT_TYPE,
				pg_query.ObjectType_OBJECT_MATVIEW, pg_query.ObjectType_OBJECT_TRIGGER,
				pg_query.ObjectType_OBJECT_DATABASE:
				info.Refusal = unsupported("unsupported DROP statement")
			}
			if d.Concurrent {
				info.Refusal = unsupported("DROP INDEX CONCURRENTLY is not supported")
			}
		}
	case n.GetCreateFunctionStmt() != nil:
		info.Kind = kindDDL
		f := n.GetCreateFunctionStmt()
		if f.IsProcedure {
			info.Refusal = unsupported("CREATE PROCEDURE is not supported")
			return
		}
		lang := "sql"
		for _, o := range f.Options {
			if d := o.GetDefElem(); d != nil && d.Defname == "language" {
				lang = strings.ToLower(d.Arg.GetString_().GetSval())
			}
		}
		if lang != "sql" {
			info.Refusal = unsupported("unsupported language \"%s\"; only SQL functions are supported", lang)
		}
	default:
		info.Kind = kindDDL
		info.Refusal = unsupportedStatement(n)
	}
}

// unsupportedStatement names the statement DSQL refuses.
func unsupportedStatement(n *pg_query.Node) *refusal {
	what := "this statement"
	switch {
	case n.GetTruncateStmt() != nil:
		what = "TRUNCATE"
	case n.GetCreateTrigStmt() != nil:
		what = "CREATE TRIGGER"
	case n.GetCreateExtensionStmt() != nil:
		what = "CREATE EXTENSION"
	case n.GetCompositeTypeStmt() != nil, n.GetCreateEnumStmt() != nil, n.GetCreateRangeStmt() != nil, n.GetDefineStmt() != nil:
		what = "CREATE TYPE"
	case n.GetCreatedbStmt() != nil:
		what = "CREATE DATABASE"
	case n.GetLockStmt() != nil:
		what = "LOCK TABLE"
	case n.GetListenStmt() != nil:
		what = "LISTEN"
	case n.GetNotifyStmt() != nil:
		what = "NOTIFY"
	case n.GetUnlistenStmt() != nil:
		what = "UNLISTEN"
	case n.GetVacuumStmt() != nil:
		what = "VACUUM"
	case n.GetCreateTableAsStmt() != nil:
		if n.GetCreateTableAsStmt().Objtype == pg_query.ObjectType_OBJECT_MATVIEW {
			what = "CREATE MATERIALIZED VIEW"
		} else {
			what = "CREATE TABLE AS"
		}
	case n.GetRefreshMatViewStmt() != nil:
		what = "REFRESH MATERIALIZED VIEW"
	case n.GetPrepareStmt() != nil:
		what = "PREPARE"
	case n.GetExecuteStmt() != nil:
		what = "EXECUTE"
	case n.GetDoStmt() != nil:
		what = "DO"
	case n.GetCreateDomainStmt() != nil:
		what = "CREATE DOMAIN"
	case n.GetClusterStmt() != nil:
		what = "CLUSTER"
	case n.GetReindexStmt() != nil:
		what = "REINDEX"
	case n.GetAlterSystemStmt() != nil:
		what = "ALTER SYSTEM"
	case n.GetCreatePolicyStmt() != nil:
		what = "CREATE POLICY"
	case n.GetRuleStmt() != nil:
		what = "CREATE RULE"
	case n.GetCreateEventTrigStmt() != nil:
		what = "CREATE EVENT TRIGGER"
	case n.GetCreateTableSpaceStmt() != nil:
		what = "CREATE TABLESPACE"
	case n.GetCheckPointStmt() != nil:
		what = "CHECKPOINT"
	case n.GetLoadStmt() != nil:
		what = "LOAD"
	}
	return unsupported("unsupported statement: %s", what)
}

func hasWriteLocking(s *pg_query.SelectStmt) bool {
	found := false
	walk(s.ProtoReflect(), func(m protoreflect.Message) {
		if lc, ok := m.Interface().(*pg_query.LockingClause); ok {
			if lc.Strength == pg_query.LockClauseStrength_LCS_FORUPDATE || lc.Strength == pg_query.LockClauseStrength_LCS_FORKEYSHARE {
				found = true
			}
		}
	})
	return found
}

// walkForbidden finds refused constructs anywhere in a statement: FOR SHARE / FOR NO KEY UPDATE
// and advisory-lock functions.
func walkForbidden(n *pg_query.Node) *refusal {
	var r *refusal
	walk(n.ProtoReflect(), func(m protoreflect.Message) {
		if r != nil {
			return
		}
		switch v := m.Interface().(type) {
		case *pg_query.LockingClause:
			if v.Strength == pg_query.LockClauseStrength_LCS_FORSHARE || v.Strength == pg_query.LockClauseStrength_LCS_FORNOKEYUPDATE {
				r = unsupported("locking clauses other than FOR UPDATE/FOR KEY SHARE are not supported")
			}
		case *pg_query.FuncCall:
			name := qualifiedName(v.Funcname)
			base := name[strings.LastIndex(name, ".")+1:]
			if strings.HasPrefix(base, "pg_advisory_") || strings.HasPrefix(base, "pg_try_advisory_") {
				r = unsupported("function %s not supported", base)
			}
		}
	})
	return r
}

// walk visits every protobuf message in a parse tree.
func walk(m protoreflect.Message, fn func(protoreflect.Message)) {
	if !m.IsValid() {
		return
	}
	fn(m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walk(l.Get(i).Message(), fn)
			}
		} else if !fd.IsMap() {
			walk(v.Message(), fn)
		}
		return true
	})
}

func qualifiedName(parts []*pg_query.Node) string {
	var s []string
	for _, p := range parts {
		s = append(s, strings.ToLower(p.GetString_().GetSval()))
	}
	return strings.Join(s, ".")
}

func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func unquoteIdent(s string) string {
	if strings.HasPrefix(s, `"`) {
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	}
	return strings.ToLower(s)
}

func textArray(items []string) string {
	q := make([]string, len(items))
	for i, it := range items {
		q[i] = quoteLiteral(it)
	}
	return "ARRAY[" + strings.Join(q, ", ") + "]::text[]"
}
