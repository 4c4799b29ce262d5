/**
 * The real Temporal DSQL schema (schema/dsql/temporal/versioned) applied on dsql-local through the
 * operator CLI and through the custom-resource handlers: both succeed and reach the same end state,
 * and the server role can use every Temporal table.
 */
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import * as path from 'path';
import { main } from '../../bin/temporal-dsql-tool';
import { isComplete, onEvent, resetSchemaCache } from '../../lambda/dsql/schema/handler';
import { PROGRESS_TABLE } from '../../lambda/dsql/schema/runner';
import { loadVersionedSchema } from '../../lambda/dsql/schema/schema-dir';
import { credentialEnv, describeSchema, startDsql } from './helpers';

const SCHEMA_DIR = path.join(__dirname, '..', '..', 'schema', 'dsql', 'temporal', 'versioned');

test('the Temporal schema applies through the CLI and through the handler to the same end state', async () => {
  const schema = loadVersionedSchema(SCHEMA_DIR);
  const savedEnv = { ...process.env };
  const viaCli = await startDsql();
  const viaHandler = await startDsql();
  try {
    // CLI
    Object.assign(process.env, credentialEnv(viaCli, 'admin'));
    let out = '';
    let err = '';
    const code = await main([
      'update-schema', '--endpoint', viaCli.hostname, '--host', viaCli.host, '--port', String(viaCli.port), '--region', viaCli.region,
      '--ca-file', viaCli.caFile, '--schema-dir', SCHEMA_DIR, '--server-role', 'temporal_server', '--server-iam-arn', viaCli.principal('temporal-server'),
    ], (s) => { out += s; }, (s) => { err += s; });
    expect({ code, err: code === 0 ? '' : err }).toEqual({ code: 0, err: '' });
    expect(out).toMatch(new RegExp(`^applied: 0\\.0 -> ${schema.latestVersion.replace('.', '\\.')} `));

    // Handler (Create, polled like the Provider framework)
    Object.assign(process.env, credentialEnv(viaHandler, 'admin'), {
      SCHEMA_DIR, DSQL_HOST: viaHandler.host, DSQL_PORT: String(viaHandler.port), DSQL_TLS_CA_FILE: viaHandler.caFile, SCHEMA_HANDLER_QUIET: '1',
    });
    resetSchemaCache();
    const props = {
      ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:provider', SchemaName: 'dsql/temporal', TargetVersion: schema.latestVersion,
      ContentHash: schema.contentHash, ClusterEndpoint: viaHandler.hostname, ServerRoleName: 'temporal_server', ServerTaskRoleArn: viaHandler.principal('temporal-server'),
    };
    const ev: CloudFormationCustomResourceEvent = {
      RequestType: 'Create', ServiceToken: props.ServiceToken, ResponseURL: 'https://example.invalid/response', StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/T/1',
      RequestId: 'req-1', LogicalResourceId: 'Schema', ResourceType: 'Custom::TemporalDsqlSchema', ResourceProperties: props,
    };
    const created = await onEvent(ev);
    let data: Record<string, string> | undefined;
    for (let i = 0; i < 10 && !data; i++) {
      const r = await isComplete({ ...ev, PhysicalResourceId: created.PhysicalResourceId }, { getRemainingTimeInMillis: () => 600_000 });
      if (r.IsComplete) data = r.Data;
    }
    expect(data).toEqual({ SchemaVersion: schema.latestVersion, TargetVersion: schema.latestVersion, Outcome: 'applied', ServerRoleName: 'temporal_server' });

    // Same end state both ways, every async index valid.
    const a = await viaCli.connect();
    const b = await viaHandler.connect();
    try {
      const da = await describeSchema(a);
      expect(await describeSchema(b)).toEqual(da);
      const indexes = schema.versions.flatMap((v) => v.statements).filter((s) => s.kind === 'async-index').map((s) => s.indexName);
      for (const name of indexes) expect(da).toContainEqual(expect.stringMatching(new RegExp(`^index ${name} valid=true `)));
      expect(da).toContain(`version postgres ${schema.latestVersion} min=${schema.versions[schema.versions.length - 1].minCompatibleVersion}`);

      // The server role reaches every Temporal table with data privileges, and nothing else.
      const tables = (await a.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`)).rows.map((r) => r.table_name as string);
      expect(tables.length).toBeGreaterThan(30);
      // has_table_privilege with a list is true when ANY is held: check each privilege on its own.
      const check = await a.query(`SELECT t, bool_and(has_table_privilege('temporal_server', 'public.' || quote_ident(t), p)) AS rw,
        has_table_privilege('temporal_server', 'public.' || quote_ident(t), 'SELECT') AS r
        FROM unnest($1::text[]) AS t CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p GROUP BY t`, [tables]);
      const access = Object.fromEntries(check.rows.map((r) => [r.t, r.rw ? 'rw' : r.r ? 'r' : '-']));
      for (const t of tables) {
        const expected = t === PROGRESS_TABLE ? '-' : ['schema_version', 'schema_update_history'].includes(t) ? 'r' : 'rw';
        expect(`${t}:${access[t]}`).toBe(`${t}:${expected}`);
      }
      const server = await viaCli.connect({ user: 'temporal_server', principal: 'temporal-server' });
      expect((await server.query('SELECT notification_version FROM namespace_metadata WHERE partition_id = 54321')).rows).toEqual([{ notification_version: '1' }]);
      await server.end();
    } finally {
      await a.end();
      await b.end();
    }
  } finally {
    process.env = savedEnv;
    resetSchemaCache();
    await viaCli.stop();
    await viaHandler.stop();
  }
});
