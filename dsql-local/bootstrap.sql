-- Objects dsql-local creates in the PostgreSQL behind it (idempotent; run by the bootstrap
-- superuser at every start). The proxy fills in {{ROW_LIMIT}} and {{BYTE_LIMIT}}.
--
-- sys.*                : what DSQL exposes (sys.jobs, sys.iam_pg_role_mappings, sys.wait_for_job).
-- dsql_local_internal.*: helpers the proxy rewrites statements into; never called by users.

DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'admin') THEN
    -- DSQL's admin can do everything the dialect allows; the proxy refuses the rest.
    CREATE ROLE admin WITH LOGIN SUPERUSER;
  END IF;
END $$;

CREATE SCHEMA IF NOT EXISTS sys;
CREATE SCHEMA IF NOT EXISTS dsql_local_internal;
GRANT USAGE ON SCHEMA sys, dsql_local_internal TO PUBLIC;

-- DSQL's columns: job_id, status, details, job_type, object_name, start_time, update_time.
CREATE TABLE IF NOT EXISTS sys.jobs (
  job_id      text PRIMARY KEY,
  status      text NOT NULL,
  details     text,
  job_type    text NOT NULL,
  object_name text,
  start_time  timestamptz NOT NULL DEFAULT now(),
  update_time timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON sys.jobs TO PUBLIC;

-- The statement each job runs (hidden from users).
CREATE TABLE IF NOT EXISTS dsql_local_internal.job_statements (
  job_id     text PRIMARY KEY,
  index_name text NOT NULL,
  table_oid  oid,
  statement  text NOT NULL
);
ALTER TABLE dsql_local_internal.job_statements ADD COLUMN IF NOT EXISTS table_oid oid;

CREATE TABLE IF NOT EXISTS sys.iam_pg_role_mappings (
  iam_oid              bigint GENERATED ALWAYS AS IDENTITY,
  arn                  text NOT NULL,
  pg_role_oid          oid NOT NULL,
  pg_role_name         name NOT NULL,
  grantor_pg_role_oid  oid,
  grantor_pg_role_name name,
  PRIMARY KEY (pg_role_name, arn)
);
GRANT SELECT ON sys.iam_pg_role_mappings TO PUBLIC;

-- AWS IAM GRANT role TO 'arn'
CREATE OR REPLACE PROCEDURE dsql_local_internal.iam_grant(p_role text, p_arn text)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE r_oid oid; g record;
BEGIN
  SELECT oid INTO r_oid FROM pg_roles WHERE rolname = p_role;
  IF r_oid IS NULL THEN
    RAISE EXCEPTION 'role "%" does not exist', p_role USING ERRCODE = '42704';
  END IF;
  IF p_arn !~ '^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:' THEN
    RAISE EXCEPTION 'invalid IAM ARN "%"', p_arn USING ERRCODE = '22023';
  END IF;
  SELECT oid, rolname INTO g FROM pg_roles WHERE rolname = session_user;
  INSERT INTO sys.iam_pg_role_mappings (arn, pg_role_oid, pg_role_name, grantor_pg_role_oid, grantor_pg_role_name)
  VALUES (p_arn, r_oid, p_role, g.oid, g.rolname)
  ON CONFLICT (pg_role_name, arn) DO NOTHING;
END $$;

-- AWS IAM REVOKE role FROM 'arn'
CREATE OR REPLACE PROCEDURE dsql_local_internal.iam_revoke(p_role text, p_arn text)
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role) THEN
    RAISE EXCEPTION 'role "%" does not exist', p_role USING ERRCODE = '42704';
  END IF;
  DELETE FROM sys.iam_pg_role_mappings WHERE pg_role_name = p_role AND arn = p_arn;
END $$;

-- CREATE [UNIQUE] INDEX ASYNC: validates like DSQL does at submission, records the job and
-- returns its id. The proxy's job runner builds the index after the transaction commits.
CREATE OR REPLACE FUNCTION dsql_local_internal.submit_index_job(
  p_job_id text, p_schema text, p_table text, p_index text, p_unique boolean,
  p_keys text[], p_include text[], p_if_not_exists boolean)
RETURNS TABLE (job_id text)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  rel regclass; nsp name; relname name; owner oid; col text; typ text; is_key boolean;
BEGIN
  IF p_schema IS NULL THEN
    rel := to_regclass(format('%I', p_table));
  ELSE
    rel := to_regclass(format('%I.%I', p_schema, p_table));
  END IF;
  IF rel IS NULL THEN
    RAISE EXCEPTION 'relation "%" does not exist', coalesce(p_schema || '.', '') || p_table USING ERRCODE = '42P01';
  END IF;
  SELECT n.nspname, c.relname, c.relowner INTO nsp, relname, owner
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel;
  IF NOT pg_has_role(session_user, owner, 'MEMBER') THEN
    RAISE EXCEPTION 'must be owner of table %', relname USING ERRCODE = '42501';
  END IF;
  FOR col, is_key IN SELECT k, true FROM unnest(p_keys) k UNION ALL SELECT i, false FROM unnest(p_include) i LOOP
    SELECT format_type(a.atttypid, a.atttypmod) INTO typ FROM pg_attribute a
      WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF typ IS NULL THEN
      RAISE EXCEPTION 'column "%" does not exist', col USING ERRCODE = '42703';
    END IF;
    IF is_key AND typ IN ('bytea', 'json', 'jsonb') THEN
      RAISE EXCEPTION 'unsupported data type % for index key column "%"', typ, col USING ERRCODE = '0A000';
    END IF;
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = p_index AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = rel))
     OR EXISTS (SELECT 1 FROM dsql_local_internal.job_statements s JOIN sys.jobs j USING (job_id)
                WHERE s.index_name = format('%I.%I', nsp, p_index) AND j.status IN ('submitted', 'processing')) THEN
    IF p_if_not_exists THEN
      RAISE NOTICE 'relation "%" already exists, skipping', p_index;
      RETURN;
    END IF;
    RAISE EXCEPTION 'relation "%" already exists', p_index USING ERRCODE = '42P07';
  END IF;
  IF p_job_id IS NULL THEN
    -- DSQL's shape: 26 characters of [a-z2-7].
    SELECT string_agg(substr('abcdefghijklmnopqrstuvwxyz234567', 1 + floor(random() * 32)::int, 1), '')
      INTO p_job_id FROM generate_series(1, 26);
  END IF;
  -- Existing indexes and pending builds, by name (a build finishing meanwhile counts once).
  IF (SELECT count(*) FROM (
        SELECT format('%I.%I', n.nspname, c.relname) FROM pg_index i
          JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE i.indrelid = rel
        UNION
        SELECT s.index_name FROM dsql_local_internal.job_statements s JOIN sys.jobs j USING (job_id)
         WHERE j.status IN ('submitted', 'processing') AND s.table_oid = rel::oid) x) >= 24 THEN
    RAISE EXCEPTION 'table % already has the maximum of 24 indexes', relname USING ERRCODE = '54000';
  END IF;
  INSERT INTO sys.jobs (job_id, status, job_type, object_name)
    VALUES (p_job_id, 'submitted', 'INDEX_BUILD', format('%I.%I', nsp, p_index));
  INSERT INTO dsql_local_internal.job_statements (job_id, index_name, table_oid, statement)
    VALUES (p_job_id, format('%I.%I', nsp, p_index), rel::oid,
      format('CREATE %sINDEX %I ON %I.%I (%s)%s',
        CASE WHEN p_unique THEN 'UNIQUE ' ELSE '' END, p_index, nsp, relname,
        (SELECT string_agg(format('%I', k), ', ') FROM unnest(p_keys) k),
        CASE WHEN cardinality(p_include) > 0
          THEN format(' INCLUDE (%s)', (SELECT string_agg(format('%I', i), ', ') FROM unnest(p_include) i))
          ELSE '' END));
  job_id := p_job_id;
  RETURN NEXT;
END $$;

-- CALL sys.wait_for_job(job_id): polls sys.jobs until the job is finished. Each round commits
-- first, so the next read gets a fresh snapshot (sessions run at REPEATABLE READ); the proxy
-- refuses the call inside a transaction block, as DSQL does.
CREATE OR REPLACE PROCEDURE sys.wait_for_job(IN job_id text, INOUT succeeded boolean DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE st text; deadline timestamptz := clock_timestamp() + interval '15 minutes';
BEGIN
  LOOP
    COMMIT;
    SELECT j.status INTO st FROM sys.jobs j WHERE j.job_id = wait_for_job.job_id;
    IF st IS NULL THEN
      RAISE EXCEPTION 'job "%" not found', wait_for_job.job_id USING ERRCODE = '42704';
    END IF;
    EXIT WHEN st IN ('completed', 'failed', 'cancelled') OR clock_timestamp() > deadline;
    PERFORM pg_sleep(0.025);
  END LOOP;
  succeeded := (st = 'completed');
END $$;

-- Per-transaction limits on rows and bytes written (DSQL: 3,000 rows, 10 MiB; 54000). A row
-- trigger on every user table counts into transaction-local settings.
CREATE OR REPLACE FUNCTION dsql_local_internal.count_write() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE n bigint; b bigint;
BEGIN
  n := coalesce(nullif(current_setting('dsql_local.tx_rows', true), ''), '0')::bigint + 1;
  PERFORM set_config('dsql_local.tx_rows', n::text, true);
  IF {{ROW_LIMIT}} > 0 AND n > {{ROW_LIMIT}} THEN
    RAISE EXCEPTION 'transaction row limit exceeded' USING ERRCODE = '54000',
      DETAIL = format('dsql-local: more than %s rows changed in one transaction', {{ROW_LIMIT}});
  END IF;
  IF {{BYTE_LIMIT}} > 0 AND TG_OP <> 'DELETE' THEN
    b := coalesce(nullif(current_setting('dsql_local.tx_bytes', true), ''), '0')::bigint
         + coalesce(pg_column_size(NEW), 0);
    PERFORM set_config('dsql_local.tx_bytes', b::text, true);
    IF b > {{BYTE_LIMIT}} THEN
      RAISE EXCEPTION 'transaction size limit exceeded' USING ERRCODE = '54000',
        DETAIL = format('dsql-local: more than %s bytes written in one transaction', {{BYTE_LIMIT}});
    END IF;
  END IF;
  RETURN NULL;
END $$;

-- Size limits (DSQL, all 54000): primary-key columns together and each index key <= 1 KiB, each
-- column <= 1 MiB, each row <= 2 MiB. (Re)creates a per-table BEFORE trigger function with the
-- table's current keys and columns; run when a table is created or altered and after each async
-- index build. Sizes are PostgreSQL's (uncompressed) datum sizes.
CREATE OR REPLACE FUNCTION dsql_local_internal.install_size_limits(rel regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  checks text := ''; ix record; col name; expr text;
  fname text := format('dsql_local_internal.%I', 'size_limits_' || rel::oid);
BEGIN
  FOR ix IN
    SELECT i.indexrelid::regclass::text AS name, array_agg(a.attname ORDER BY k.ord) AS cols
      FROM pg_index i
      CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = rel AND k.ord <= i.indnkeyatts AND k.attnum > 0
     GROUP BY i.indexrelid
  LOOP
    SELECT string_agg(format('coalesce(pg_column_size(NEW.%I), 0)', c), ' + ') INTO expr FROM unnest(ix.cols) c;
    checks := checks || format(
      'IF %s > 1024 THEN RAISE EXCEPTION %L USING ERRCODE = %L, DETAIL = %L; END IF; ',
      expr, 'key size exceeds the limit of 1024 bytes', '54000', 'dsql-local: key of index ' || ix.name);
  END LOOP;
  FOR col IN SELECT attname FROM pg_attribute
              WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped AND attlen = -1 LOOP
    checks := checks || format(
      'IF pg_column_size(NEW.%I) > 1048576 THEN RAISE EXCEPTION %L USING ERRCODE = %L; END IF; ',
      col, format('column "%s" exceeds the size limit of 1 MiB', col), '54000');
  END LOOP;
  checks := checks || format(
    'IF pg_column_size(NEW) > 2097152 THEN RAISE EXCEPTION %L USING ERRCODE = %L; END IF; ',
    'row size exceeds the limit of 2 MiB', '54000');
  EXECUTE format('CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $body$ BEGIN %s RETURN NEW; END $body$',
                 fname, checks);
  EXECUTE format('CREATE OR REPLACE TRIGGER dsql_local_size_limits BEFORE INSERT OR UPDATE ON %s '
                 'FOR EACH ROW EXECUTE FUNCTION %s()', rel, fname);
END $$;

CREATE OR REPLACE FUNCTION dsql_local_internal.on_table_ddl() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT DISTINCT command_tag, objid FROM pg_event_trigger_ddl_commands()
           WHERE command_tag IN ('CREATE TABLE', 'ALTER TABLE') AND object_type = 'table'
             AND schema_name NOT IN ('sys', 'dsql_local_internal') LOOP
    IF r.command_tag = 'CREATE TABLE' THEN
      EXECUTE format('CREATE TRIGGER dsql_local_write_limits AFTER INSERT OR UPDATE OR DELETE ON %s '
                     'FOR EACH ROW EXECUTE FUNCTION dsql_local_internal.count_write()', r.objid::regclass);
    END IF;
    PERFORM dsql_local_internal.install_size_limits(r.objid::regclass);
  END LOOP;
END $$;

-- DSQL allows at most 10 user schemas (besides public).
CREATE OR REPLACE FUNCTION dsql_local_internal.on_create_schema() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF (SELECT count(*) FROM pg_namespace
       WHERE nspname NOT IN ('public', 'sys', 'dsql_local_internal', 'information_schema')
         AND nspname NOT LIKE 'pg\_%') > 10 THEN
    RAISE EXCEPTION 'schema limit of 10 exceeded' USING ERRCODE = '54000';
  END IF;
END $$;

DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'dsql_local_schema_limit') THEN
    CREATE EVENT TRIGGER dsql_local_schema_limit ON ddl_command_end WHEN TAG IN ('CREATE SCHEMA')
      EXECUTE FUNCTION dsql_local_internal.on_create_schema();
  END IF;
END $$;

DROP EVENT TRIGGER IF EXISTS dsql_local_write_limits; -- replaced by dsql_local_table_ddl
DROP EVENT TRIGGER IF EXISTS dsql_local_table_ddl;
CREATE EVENT TRIGGER dsql_local_table_ddl ON ddl_command_end WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
  EXECUTE FUNCTION dsql_local_internal.on_table_ddl();
