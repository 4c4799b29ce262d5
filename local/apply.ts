/**
 * Applies the DSQL schema and the visibility index with the custom resources' own code, as
 * CloudFormation would run it during `cdk deploy`.
 */
import { existsSync } from 'node:fs';
import type { DsqlLocal } from '../test/support/dsql-local';
import { DSQL_SCHEMA_DIR, SERVER_DB_ROLE } from './paths';

/**
 * Applies the DSQL schema and the server role with the schema custom resource's own code
 * (lambda/dsql/schema `migrate`: the runner, then `ensureServerRole`), as dsql-local's admin
 * principal.
 * @throws MigrationError from the runner, or Error when the migration does not finish in 10 min
 */
export async function applySchema(dsql: DsqlLocal, log?: (m: string) => void): Promise<void> {
  const { migrate } = await import('../lambda/dsql/schema/migrate');
  const { loadVersionedSchema } = await import('../lambda/dsql/schema/schema-dir');
  if (!existsSync(DSQL_SCHEMA_DIR)) throw new Error(`DSQL schema directory ${DSQL_SCHEMA_DIR} does not exist`);
  const admin = dsql.credentials.find((c) => c.admin);
  if (!admin) throw new Error('dsql-local reported no admin credential');
  const result = await migrate({
    connection: {
      hostname: dsql.hostname,
      host: dsql.host,
      port: dsql.port,
      region: dsql.region,
      caFile: dsql.caFile,
      credentials: { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey },
      applicationName: 'local-stack',
    },
    schema: loadVersionedSchema(DSQL_SCHEMA_DIR),
    deadline: Date.now() + 10 * 60_000,
    serverRole: { roleName: SERVER_DB_ROLE, iamArns: [dsql.principal('temporal-server')] },
    log,
  });
  if (!result.complete) throw new Error(`schema migration did not finish within 10 minutes (at ${result.apply.currentVersion})`);
}

/**
 * Creates the visibility template and index with the index custom resource's own handler
 * (lambda/visibility/index), invoked with a Create event as CloudFormation would.
 * @throws the handler's error (short, operator-readable)
 */
export async function applyVisibilityIndex(openSearchUrl: string, indexName: string): Promise<void> {
  const { handler } = await import('../lambda/visibility/index/index');
  const { PROPERTY } = await import('../lambda/visibility/index/properties');
  const { loadVisibilityTemplate } = await import('../lib/visibility/visibility-index');
  const t = loadVisibilityTemplate();
  const props: Record<string, string> = {
    ServiceToken: 'local-stack',
    [PROPERTY.endpoint]: openSearchUrl,
    [PROPERTY.region]: 'us-east-1',
    [PROPERTY.signing]: 'false', // local node: no security plugin
    [PROPERTY.indexName]: indexName,
    [PROPERTY.templateName]: t.name,
    [PROPERTY.templateVersion]: t.version,
    [PROPERTY.templateBody]: t.body,
    [PROPERTY.contentHash]: t.contentHash,
    [PROPERTY.disableAutoCreateIndex]: 'true',
    [PROPERTY.destroyIndexOnDelete]: 'false',
  };
  const quiet = console.log;
  console.log = () => undefined; // the handler logs one JSON line per step for CloudWatch
  try {
    await handler({
      RequestType: 'Create',
      ServiceToken: 'local-stack',
      ResponseURL: 'http://localhost/unused',
      StackId: 'arn:aws:cloudformation:us-east-1:000000000000:stack/local/00000000-0000-0000-0000-000000000000',
      RequestId: 'local-stack',
      LogicalResourceId: 'VisibilityIndex',
      ResourceType: 'Custom::TemporalVisibilityIndex',
      ResourceProperties: props as never,
    });
  } finally {
    console.log = quiet;
  }
}

