package main

import "testing"

func TestClassify(t *testing.T) {
	tests := []struct {
		sql      string
		kind     stmtKind
		code     string // expected refusal SQLSTATE, "" = accepted
		rewrites bool
	}{
		{"SELECT 1", kindOther, "", false},
		{"select * from t for update", kindDML, "", false},
		{"select * from t for key share", kindDML, "", false},
		{"select * from t for share", kindOther, "0A000", false},
		{"select * from t where id in (select id from u for no key update)", kindOther, "0A000", false},
		{"select pg_advisory_xact_lock(1)", kindOther, "0A000", false},
		{"INSERT INTO t VALUES (1)", kindDML, "", false},
		{"create table t (id bigserial primary key)", kindDDL, "42704", false},
		{"create table t (id uuid primary key, j jsonb)", kindDDL, "", false},
		{"create table t (id bytea primary key)", kindDDL, "0A000", false},
		{"create table t (id int primary key, a int[])", kindDDL, "0A000", false},
		{"create table t (id bigint generated always as identity (cache 65536) primary key)", kindDDL, "", false},
		{"create table t (id bigint generated always as identity primary key)", kindDDL, "22023", false},
		{"create sequence s cache 1", kindDDL, "", false},
		{"create sequence s cache 2", kindDDL, "22023", false},
		{"alter table t add column c text", kindDDL, "", false},
		{"alter table t add column c text not null", kindDDL, "0A000", false},
		{"create index i on t (a)", kindDDL, "0A000", false},
		{"create unique index async i on t (a) include (b)", kindDDL, "", true},
		{"CREATE INDEX ASYNC IF NOT EXISTS i ON s.t (a, b)", kindDDL, "", true},
		{"create index async i on t (a desc)", kindDDL, "0A000", false},
		{"AWS IAM GRANT app TO 'arn:aws:iam::000000000000:role/x'", kindDDL, "", true},
		{"aws iam revoke \"App\" from 'arn:aws:iam::000000000000:role/x'", kindDDL, "", true},
		{"begin isolation level serializable", kindTxControl, "0A000", false},
		{"begin isolation level repeatable read", kindTxControl, "", false},
		{"set transaction isolation level read committed", kindOther, "0A000", false},
		{"set search_path = app, public", kindOther, "", false},
		{"savepoint a", kindTxControl, "0A000", false},
		{"truncate t", kindDDL, "0A000", false},
		{"call sys.wait_for_job('x')", kindOther, "", false},
		{"call other_proc()", kindOther, "0A000", false},
		{"copy t from stdin", kindDML, "", false},
		{"copy t from '/tmp/x'", kindDML, "0A000", false},
		{"create function f() returns int language plpgsql as $$begin return 1; end$$", kindDDL, "0A000", false},
		{"create function f() returns int language sql as $$select 1$$", kindDDL, "", false},
	}
	if info := classify("-- ping"); !info.Neutral || info.Refusal != nil {
		t.Fatalf("classify(-- ping) = %+v; want neutral (pgx Ping must never get OC001)", info)
	}
	for _, tc := range tests {
		t.Run(tc.sql, func(t *testing.T) {
			info := classify(tc.sql)
			code := ""
			if info.Refusal != nil {
				code = info.Refusal.Code
			}
			if code != tc.code || info.Kind != tc.kind || (info.Rewrite != "") != tc.rewrites {
				t.Fatalf("classify(%q) = kind %v, refusal %v, rewrite %q; want kind %v, code %q, rewrites %v",
					tc.sql, info.Kind, info.Refusal, info.Rewrite, tc.kind, tc.code, tc.rewrites)
			}
		})
	}
}

func TestSplitStatementsKeepsQuotedSemicolons(t *testing.T) {
	parts, err := splitStatements("insert into t values ('a;b'); select $$;$$; ")
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 {
		t.Fatalf("got %d statements: %q", len(parts), parts)
	}
}
