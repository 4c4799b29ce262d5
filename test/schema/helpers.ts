/**
 * Shared helpers of the schema-migration suites: a dsql-local endpoint per scenario, the runner's
 * connection options for it, and a description of the resulting schema to compare end states.
 */
import * as path from 'path';
import type { Client } from 'pg';
import { DsqlConnectionOptions } from '../../lambda/dsql/schema/connection';
import { withRetry } from '../../lambda/dsql/schema/errors';
import { loadVersionedSchema, VersionedSchema } from '../../lambda/dsql/schema/schema-dir';
import { DsqlLocal, DsqlLocalOptions, startDsqlLocal } from '../support/dsql-local';

export const FIXTURES_DIR = path.join(__dirname, 'fixtures', 'versioned');
export const fixtures = (): VersionedSchema => loadVersionedSchema(FIXTURES_DIR);

/** Starts a dsql-local of its own (fresh PostgreSQL), with fast index builds unless told otherwise. */
export function startDsql(options: DsqlLocalOptions = {}): Promise<DsqlLocal> {
  return startDsqlLocal({ indexBuildDelayMs: 100, ...options });
}

/** Admin connection options for the runner (static test credentials of the dsql-local admin principal). */
export function adminConnection(dsql: DsqlLocal): DsqlConnectionOptions {
  const cred = dsql.credentials.find((c) => c.admin);
  if (!cred) throw new Error('dsql-local reported no admin credential');
  return {
    hostname: dsql.hostname, host: dsql.host, port: dsql.port, region: dsql.region, caFile: dsql.caFile,
    credentials: { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey },
  };
}

/** Environment that makes the AWS SDK default chain sign as `principal` (for the handler and the CLI). */
export function credentialEnv(dsql: DsqlLocal, principal = 'admin'): Record<string, string> {
  const arn = dsql.principal(principal);
  const cred = dsql.credentials.find((c) => c.principalArn === arn);
  if (!cred) throw new Error(`no credential for ${principal}`);
  return { AWS_ACCESS_KEY_ID: cred.accessKeyId, AWS_SECRET_ACCESS_KEY: cred.secretAccessKey, AWS_REGION: dsql.region };
}

/**
 * Everything that defines the end state of a migration, as sorted text lines: columns, indexes
 * (definition and validity), constraints, the recorded version, the number of history rows, and
 * the seed rows of namespace_metadata.
 */
export async function describeSchema(c: Client): Promise<string[]> {
  // Reads right after another session's DDL may get OC001 once (as on DSQL): retry like any client.
  return withRetry('describe schema', () => describeOnce(c), { deadline: Date.now() + 30_000 });
}

async function describeOnce(c: Client): Promise<string[]> {
  const out: string[] = [];
  const cols = await c.query(`SELECT table_name, column_name, data_type, is_nullable, is_identity FROM information_schema.columns
    WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`);
  for (const r of cols.rows) out.push(`column ${r.table_name}.${r.column_name} ${r.data_type} null=${r.is_nullable} identity=${r.is_identity}`);
  const idx = await c.query(`SELECT ci.relname AS name, pg_get_indexdef(i.indexrelid) AS def, i.indisvalid AS valid
    FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ci.relnamespace
    WHERE n.nspname = 'public' ORDER BY ci.relname`);
  for (const r of idx.rows) out.push(`index ${r.name} valid=${r.valid} ${r.def}`);
  const ver = await c.query(`SELECT db_name, curr_version, min_compatible_version FROM schema_version ORDER BY db_name`);
  for (const r of ver.rows) out.push(`version ${r.db_name} ${r.curr_version} min=${r.min_compatible_version}`);
  const hist = await c.query(`SELECT old_version, new_version, manifest_md5 FROM schema_update_history ORDER BY new_version`);
  for (const r of hist.rows) out.push(`history ${r.old_version}->${r.new_version} ${r.manifest_md5}`);
  const meta = await c.query(`SELECT partition_id, notification_version FROM namespace_metadata ORDER BY partition_id`).catch(() => ({ rows: [] }));
  for (const r of meta.rows) out.push(`namespace_metadata ${r.partition_id} ${r.notification_version}`);
  return out.sort();
}
