/**
 * One full migration pass, shared by the custom-resource handler and the CLI: apply the schema up
 * to the target, then (once the schema is complete) bring the server role to its desired state.
 */
import { DsqlConnectionOptions } from './connection';
import { DeadlineExceededError } from './errors';
import { ensureServerRole, ServerRoleOptions, ServerRoleResult, validateServerRole } from './roles';
import { ApplyResult, RunnerHooks, SchemaRunner } from './runner';
import { VersionedSchema } from './schema-dir';
import { DsqlSession, Logger } from './session';

export interface MigrateOptions {
  readonly connection: DsqlConnectionOptions;
  readonly schema: VersionedSchema;
  /** @default - latest version in `schema` */
  readonly targetVersion?: string;
  /** Absolute deadline (epoch ms); `complete: false` is returned when it comes first. */
  readonly deadline: number;
  /** `db_name` in the version tables. @default 'postgres' */
  readonly dbName?: string;
  /** Server role to create, grant and map; skipped when undefined. */
  readonly serverRole?: ServerRoleOptions;
  /** @default 8 */
  readonly indexWaitConcurrency?: number;
  readonly log?: Logger;
  readonly hooks?: RunnerHooks;
}

export interface MigrateResult {
  /** False when the deadline came first: call again to resume. */
  readonly complete: boolean;
  readonly apply: ApplyResult;
  readonly serverRole?: ServerRoleResult;
}

/**
 * Applies the schema and then the server role. Also runs the role step when the target is below
 * the current version (a CloudFormation rollback restores the old task role mapping).
 * @throws MigrationError (see `runner.ts`), Error for invalid role names or ARNs (checked before connecting)
 */
export async function migrate(o: MigrateOptions): Promise<MigrateResult> {
  if (o.serverRole) validateServerRole(o.serverRole);
  const runner = new SchemaRunner({
    connection: o.connection, schema: o.schema, dbName: o.dbName, indexWaitConcurrency: o.indexWaitConcurrency, log: o.log, hooks: o.hooks,
  });
  const apply = await runner.apply({ targetVersion: o.targetVersion, deadline: o.deadline });
  if (apply.outcome === 'in-progress') return { complete: false, apply };
  if (!o.serverRole) return { complete: true, apply };
  const s = new DsqlSession(o.connection, o.deadline, o.log);
  try {
    const serverRole = await ensureServerRole(s, o.serverRole);
    o.log?.(`server role ${o.serverRole.roleName}: ${JSON.stringify(serverRole)}`);
    return { complete: true, apply, serverRole };
  } catch (e) {
    if (e instanceof DeadlineExceededError) return { complete: false, apply };
    throw e;
  } finally {
    await s.close();
  }
}
