/**
 * The database role the Temporal servers log in as (never `admin`): created idempotently, given
 * only the privileges the servers need, and mapped to the servers' IAM task role with
 * `AWS IAM GRANT <role> TO '<arn>'`. Mappings of that role to other ARNs are revoked, so a changed
 * task role ARN replaces the old mapping.
 */
import { BOOKKEEPING_TABLES, PROGRESS_TABLE } from './runner';
import { DsqlSession } from './session';

/** Desired state of the server role. */
export interface ServerRoleOptions {
  /** Database role name: lower-case letters, digits and `_`, 1-63 characters, not `admin` or `postgres` or `pg_*`. */
  readonly roleName: string;
  /**
   * IAM role (or user) ARNs allowed to log in as `roleName`, e.g. the ECS task role of the servers.
   * Every other mapping of `roleName` is revoked. Empty: the role exists but nobody can log in.
   */
  readonly iamArns: readonly string[];
}

/** What {@link ensureServerRole} changed. */
export interface ServerRoleResult {
  readonly roleCreated: boolean;
  /** Tables granted privileges by this call. */
  readonly tablesGranted: string[];
  readonly sequencesGranted: string[];
  readonly iamGranted: string[];
  readonly iamRevoked: string[];
}

const ROLE_RE = /^[a-z_][a-z0-9_]{0,62}$/;
const ARN_RE = /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]{1,512}$/;
/** Privileges of the servers on Temporal's tables. */
const DATA_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];

/** Checks names before any SQL is built from them. @throws Error naming the field, the value and what is allowed */
export function validateServerRole(o: ServerRoleOptions): void {
  if (!ROLE_RE.test(o.roleName) || ['admin', 'postgres'].includes(o.roleName) || o.roleName.startsWith('pg_')) {
    throw new Error(`server database role name must be 1-63 characters of a-z, 0-9 and _ (not starting with a digit), not admin, postgres or pg_*; got ${JSON.stringify(o.roleName)}`);
  }
  for (const arn of o.iamArns) {
    if (!ARN_RE.test(arn)) {
      throw new Error(`server IAM principal must be an IAM role or user ARN like arn:aws:iam::123456789012:role/name; got ${JSON.stringify(arn)}`);
    }
  }
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * Brings the server role to the desired state. Idempotent; every DDL statement in its own call.
 * Privileges: SELECT/INSERT/UPDATE/DELETE on every table of schema `public` except the version
 * tables (SELECT only: the servers check `schema_version` at start-up) and the runner's progress
 * table (nothing); USAGE on schema `public` and on every sequence.
 * @throws Error for invalid names (see {@link validateServerRole}) or a refused statement
 */
export async function ensureServerRole(s: DsqlSession, o: ServerRoleOptions): Promise<ServerRoleResult> {
  validateServerRole(o);
  const role = quoteIdent(o.roleName);
  const exists = await s.query('read roles', 'SELECT 1 FROM pg_roles WHERE rolname = $1', [o.roleName]);
  let roleCreated = false;
  if (exists.rows.length === 0) {
    try {
      await s.query(`create role ${o.roleName}`, `CREATE ROLE ${role} WITH LOGIN`);
      roleCreated = true;
    } catch (e) {
      if ((e as { code?: string }).code !== '42710') throw e; // created meanwhile by another run
    }
  }
  const usage = await s.query('read schema privilege', `SELECT has_schema_privilege($1, 'public', 'USAGE') AS ok`, [o.roleName]);
  if (!usage.rows[0].ok) await s.query('grant schema usage', `GRANT USAGE ON SCHEMA public TO ${role}`);

  const tables = await s.query('read tables', `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`);
  const tablesGranted: string[] = [];
  for (const { table_name: t } of tables.rows as Array<{ table_name: string }>) {
    if (t === PROGRESS_TABLE) continue;
    const privileges = (BOOKKEEPING_TABLES as readonly string[]).includes(t) ? ['SELECT'] : DATA_PRIVILEGES;
    const have = await s.query(`read privileges on ${t}`,
      `SELECT bool_and(has_table_privilege($1, $2, p)) AS ok FROM unnest($3::text[]) AS p`, [o.roleName, `public.${quoteIdent(t)}`, privileges]);
    if (have.rows[0].ok) continue;
    await s.query(`grant on ${t}`, `GRANT ${privileges.join(', ')} ON TABLE public.${quoteIdent(t)} TO ${role}`);
    tablesGranted.push(t);
  }
  const seqs = await s.query('read sequences', `SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public' ORDER BY sequence_name`);
  const sequencesGranted: string[] = [];
  for (const { sequence_name: q } of seqs.rows as Array<{ sequence_name: string }>) {
    const have = await s.query(`read privileges on ${q}`, `SELECT has_sequence_privilege($1, $2, 'USAGE') AS ok`, [o.roleName, `public.${quoteIdent(q)}`]);
    if (have.rows[0].ok) continue;
    await s.query(`grant on ${q}`, `GRANT USAGE ON SEQUENCE public.${quoteIdent(q)} TO ${role}`);
    sequencesGranted.push(q);
  }

  const mapped = await s.query('read IAM mappings', 'SELECT arn FROM sys.iam_pg_role_mappings WHERE pg_role_name = $1', [o.roleName]);
  const current = new Set((mapped.rows as Array<{ arn: string }>).map((r) => r.arn));
  const iamRevoked: string[] = [];
  for (const arn of current) {
    if (o.iamArns.includes(arn)) continue;
    await s.query(`revoke IAM mapping ${arn}`, `AWS IAM REVOKE ${role} FROM '${arn.replace(/'/g, "''")}'`);
    iamRevoked.push(arn);
  }
  const iamGranted: string[] = [];
  for (const arn of o.iamArns) {
    if (current.has(arn)) continue;
    await s.query(`grant IAM mapping ${arn}`, `AWS IAM GRANT ${role} TO '${arn}'`);
    iamGranted.push(arn);
  }
  return { roleCreated, tablesGranted, sequencesGranted, iamGranted, iamRevoked };
}
