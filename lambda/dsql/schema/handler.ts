/**
 * Custom-resource handlers for `Custom::TemporalDsqlSchema` (CDK Provider framework):
 *   - `onEvent` checks the properties and returns the physical id; it does no database work, so it
 *     always returns within seconds;
 *   - `isComplete` runs one migration pass within the Lambda's remaining time and returns
 *     `IsComplete: false` when the deadline comes first; the framework calls it again after the
 *     query interval and the pass resumes from the recorded progress.
 * Delete keeps every table and row (and the server role). A target version lower than the current
 * one (a CloudFormation rollback of an Update) succeeds without changing the schema.
 *
 * Resource properties: SchemaName, TargetVersion, ContentHash, ClusterEndpoint, ServerRoleName,
 * ServerTaskRoleArn (optional), PeerServerTaskRoleArns (optional list, multi-Region). Environment: SCHEMA_DIR (default: `schema` next to the bundle),
 * DATABASE_NAME (default postgres), INDEX_WAIT_CONCURRENCY (default 8), AWS_REGION; for dsql-local
 * only: DSQL_HOST (address to dial), DSQL_PORT, DSQL_TLS_CA_FILE.
 */
import type { CloudFormationCustomResourceEvent, Context } from 'aws-lambda';
import * as path from 'path';
import { DsqlConnectionOptions } from './connection';
import { describeError } from './errors';
import { migrate } from './migrate';
import { validateServerRole } from './roles';
import { loadVersionedSchema, VersionedSchema } from './schema-dir';
import { ProviderResponse, shortError } from '../../shared/custom-resource';

/** Properties of `Custom::TemporalDsqlSchema` (CloudFormation passes every value as a string). */
export interface SchemaResourceProperties {
  readonly SchemaName: string;
  readonly TargetVersion: string;
  readonly ContentHash: string;
  readonly ClusterEndpoint: string;
  readonly ServerRoleName: string;
  readonly ServerTaskRoleArn?: string;
  /** Multi-Region: the other Region's server task role ARN(s), also mapped (and so not revoked). */
  readonly PeerServerTaskRoleArns?: string[];
}

/** Every IAM ARN the server database role is mapped to: the own task role's and the peers'. */
export function serverRoleArns(p: SchemaResourceProperties): string[] {
  return [...(p.ServerTaskRoleArn ? [p.ServerTaskRoleArn] : []), ...(p.PeerServerTaskRoleArns ?? [])];
}

/** Response of onEvent (Provider framework). */
export type OnEventResponse = ProviderResponse;

/** Request of isComplete: the onEvent request plus what onEvent returned. */
export type IsCompleteEvent = CloudFormationCustomResourceEvent & { PhysicalResourceId?: string; Data?: Record<string, string> };

export interface IsCompleteResponse {
  readonly IsComplete: boolean;
  readonly Data?: Record<string, string>;
}

export { MAX_REASON_CHARS } from '../../shared/custom-resource';
/** Time kept back from the Lambda's remaining time to report and close connections. */
const SAFETY_MARGIN_MS = 20_000;

let cachedSchema: VersionedSchema | undefined;
function bundledSchema(): VersionedSchema {
  cachedSchema ??= loadVersionedSchema(process.env.SCHEMA_DIR ?? path.join(__dirname, 'schema'));
  return cachedSchema;
}

/** Resets the cached schema (tests point SCHEMA_DIR at different directories). */
export function resetSchemaCache(): void {
  cachedSchema = undefined;
}

function fail(message: string): never {
  throw shortError(message, { foldWhitespace: true });
}

function properties(event: CloudFormationCustomResourceEvent): SchemaResourceProperties {
  const p = event.ResourceProperties as unknown as Partial<SchemaResourceProperties>;
  for (const key of ['SchemaName', 'TargetVersion', 'ContentHash', 'ClusterEndpoint', 'ServerRoleName'] as const) {
    if (typeof p[key] !== 'string' || p[key] === '') fail(`property ${key} is required (a non-empty string), got ${JSON.stringify(p[key])}`);
  }
  if (p.PeerServerTaskRoleArns !== undefined && (!Array.isArray(p.PeerServerTaskRoleArns) || !p.PeerServerTaskRoleArns.every((a) => typeof a === 'string'))) {
    fail(`property PeerServerTaskRoleArns must be a list of IAM role ARNs, got ${JSON.stringify(p.PeerServerTaskRoleArns)}`);
  }
  const props = p as SchemaResourceProperties;
  const schema = bundledSchema();
  if (props.ContentHash !== schema.contentHash) {
    // Not fatal: during a rollback CloudFormation may call this code with the other deployment's
    // properties. Released versions never change (the runner checks every statement's sha256),
    // and TargetVersion must exist in the bundle.
    log({ phase: 'properties', warning: `ContentHash ${props.ContentHash.slice(0, 16)} differs from the bundled schema ${schema.contentHash.slice(0, 16)}` });
  }
  if (!schema.versions.some((v) => v.version === props.TargetVersion)) {
    fail(`property TargetVersion ${JSON.stringify(props.TargetVersion)} is not in the bundled schema; allowed: ${schema.versions.map((v) => v.version).join(', ')}`);
  }
  try {
    validateServerRole({ roleName: props.ServerRoleName, iamArns: serverRoleArns(props) });
  } catch (e) {
    fail((e as Error).message);
  }
  return props;
}

function physicalId(p: SchemaResourceProperties): string {
  return `${p.SchemaName}@${p.ClusterEndpoint.split('.')[0]}/${process.env.DATABASE_NAME ?? 'postgres'}`;
}

/** Provider framework onEvent. */
export async function onEvent(event: CloudFormationCustomResourceEvent): Promise<OnEventResponse> {
  log({ phase: 'onEvent', requestType: event.RequestType, logicalId: event.LogicalResourceId });
  if (event.RequestType === 'Delete') {
    // Never drop data: the schema, its rows and the server role stay.
    return { PhysicalResourceId: event.PhysicalResourceId };
  }
  const p = properties(event);
  const id = event.RequestType === 'Update' ? event.PhysicalResourceId : physicalId(p);
  return { PhysicalResourceId: id };
}

/** Provider framework isComplete: one resumable migration pass. */
export async function isComplete(event: IsCompleteEvent, context: Pick<Context, 'getRemainingTimeInMillis'>): Promise<IsCompleteResponse> {
  if (event.RequestType === 'Delete') return { IsComplete: true };
  const p = properties(event);
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) fail('AWS_REGION is not set in the handler environment');
  const connection: DsqlConnectionOptions = {
    hostname: p.ClusterEndpoint,
    host: process.env.DSQL_HOST || undefined,
    port: process.env.DSQL_PORT ? Number(process.env.DSQL_PORT) : 5432,
    region,
    caFile: process.env.DSQL_TLS_CA_FILE || undefined,
  };
  const deadline = Date.now() + Math.max(5_000, context.getRemainingTimeInMillis() - SAFETY_MARGIN_MS);
  try {
    const r = await migrate({
      connection,
      schema: bundledSchema(),
      targetVersion: p.TargetVersion,
      deadline,
      dbName: process.env.DATABASE_NAME ?? 'postgres',
      serverRole: { roleName: p.ServerRoleName, iamArns: serverRoleArns(p) },
      indexWaitConcurrency: process.env.INDEX_WAIT_CONCURRENCY ? Number(process.env.INDEX_WAIT_CONCURRENCY) : undefined,
      log: (m) => log({ phase: 'migrate', message: m }),
    });
    log({ phase: 'isComplete', complete: r.complete, outcome: r.apply.outcome, current: r.apply.currentVersion, pendingJobs: r.apply.pendingJobs });
    if (!r.complete) return { IsComplete: false };
    return {
      IsComplete: true,
      Data: { SchemaVersion: r.apply.currentVersion, TargetVersion: p.TargetVersion, Outcome: r.apply.outcome, ServerRoleName: p.ServerRoleName },
    };
  } catch (e) {
    log({ phase: 'isComplete', error: describeError(e), stack: (e as Error).stack });
    fail(`schema ${p.SchemaName} to v${p.TargetVersion}: ${(e as Error).message ?? describeError(e)}`);
  }
}

function log(entry: Record<string, unknown>): void {
  if (process.env.SCHEMA_HANDLER_QUIET !== '1') console.log(JSON.stringify(entry));
}
