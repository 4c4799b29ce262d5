#!/usr/bin/env node
/**
 * temporal-dsql-tool: the operator CLI for the Temporal schema on Aurora DSQL, using the same
 * runner as the `Custom::TemporalDsqlSchema` handler (lambda/dsql/schema). Run with
 * `npm run dsql-tool -- <command> [options]`; `--help` lists everything.
 * Exit codes: 0 success, 1 migration or connection failure, 2 bad usage, 3 deadline reached
 * before the migration finished (run again to resume).
 */
import * as path from 'path';
import { parseArgs } from 'util';
import { DsqlConnectionOptions } from '../lambda/dsql/schema/connection';
import { describeError } from '../lambda/dsql/schema/errors';
import { migrate } from '../lambda/dsql/schema/migrate';
import { SchemaRunner } from '../lambda/dsql/schema/runner';
import { failoverMain } from './failover/cli';
import { reconcileMain } from './failover/reconcile-cli';
import { loadVersionedSchema } from '../lambda/dsql/schema/schema-dir';

const DEFAULT_SCHEMA_DIR = path.join(__dirname, '..', 'schema', 'dsql', 'temporal', 'versioned');

export const USAGE = `Usage: temporal-dsql-tool <command> [options]

Commands:
  setup-schema     Create the version tables (schema_version, schema_update_history) and the
                   progress table, and record version 0.0 if none is recorded. Idempotent.
  update-schema    Apply every version above the current one up to --version (default: latest),
                   resuming a run that stopped; then set up the server role if --server-role is given.
                   A --version below the current version changes nothing.
  status           Print the current version, the pending versions and in-flight statements.
  failover         Fail a multiRegion environment over to its standby Region (dry run unless
                   --execute); \`failover --help\` lists its own options (docs/multi-region.md).
  reconcile-visibility
                   Rewrite the visibility records of every execution through a Region's frontend
                   (after a failover or a replaced OpenSearch domain; dry run unless --execute);
                   \`reconcile-visibility --help\` lists its own options.

Connection options:
  --endpoint HOST        Cluster endpoint, e.g. <id>.dsql.us-east-1.on.aws (env DSQL_ENDPOINT). Required.
  --region REGION        Region of the cluster (env DSQL_REGION, AWS_REGION). Required.
  --port N               Port (env DSQL_PORT). Default 5432.
  --host ADDRESS         Address to dial when it differs from the endpoint (dsql-local: 127.0.0.1).
  --ca-file FILE         PEM CA bundle to verify the server (env DSQL_TLS_CA_FILE; dsql-local's CA).
  Credentials come from the AWS SDK default chain (env, profile, SSO, instance role); the
  identity needs dsql:DbConnectAdmin on the cluster.

Schema options:
  --schema-dir DIR       Versioned schema directory. Default: ${path.relative(process.cwd(), DEFAULT_SCHEMA_DIR) || DEFAULT_SCHEMA_DIR}
  --database NAME        db_name recorded in schema_version (the servers' databaseName). Default postgres.
  --version X.Y          update-schema: target version. Default: the latest in --schema-dir.
  --index-concurrency N  Index builds awaited at the same time (1 = one after the other). Default 8.
  --timeout SECONDS      Stop (exit 3, resumable) after this long. Default 3600.
  --server-role NAME     update-schema: also create/grant this login role for the servers.
  --server-iam-arn ARN   With --server-role: map the role to this IAM role ARN (AWS IAM GRANT);
                         other mappings of the role are revoked.
  --json                 Print results as JSON.
  -h, --help             Show this help.
`;

class UsageError extends Error {}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  if (argv[0] === 'failover') return failoverMain(argv.slice(1), out, err);
  if (argv[0] === 'reconcile-visibility') return reconcileMain(argv.slice(1), out, err);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'endpoint': { type: 'string' }, 'region': { type: 'string' }, 'port': { type: 'string' }, 'host': { type: 'string' },
        'ca-file': { type: 'string' }, 'schema-dir': { type: 'string' }, 'database': { type: 'string' }, 'version': { type: 'string' },
        'index-concurrency': { type: 'string' }, 'timeout': { type: 'string' }, 'server-role': { type: 'string' },
        'server-iam-arn': { type: 'string' }, 'json': { type: 'boolean' }, 'help': { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    err(`error: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  if (v.help) { out(USAGE); return 0; }
  try {
    const command = positionals[0];
    if (!command) throw new UsageError('a command is required: setup-schema, update-schema or status');
    if (!['setup-schema', 'update-schema', 'status'].includes(command)) throw new UsageError(`unknown command ${JSON.stringify(command)}; allowed: setup-schema, update-schema, status, failover, reconcile-visibility`);
    if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
    const int = (name: string, value: string | undefined, def: number, min: number, max: number) => {
      if (value === undefined) return def;
      const n = Number(value);
      if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
      return n;
    };
    const endpoint = v.endpoint ?? process.env.DSQL_ENDPOINT;
    const region = v.region ?? process.env.DSQL_REGION ?? process.env.AWS_REGION;
    if (!endpoint) throw new UsageError('--endpoint is required (the cluster endpoint host name, e.g. <id>.dsql.us-east-1.on.aws)');
    if (!region) throw new UsageError('--region is required (the cluster region, e.g. us-east-1)');
    if (command !== 'update-schema' && (v.version || v['server-role'] || v['server-iam-arn'])) throw new UsageError(`--version, --server-role and --server-iam-arn apply to update-schema only, not ${command}`);
    if (v['server-iam-arn'] && !v['server-role']) throw new UsageError('--server-iam-arn needs --server-role');
    const connection: DsqlConnectionOptions = {
      hostname: endpoint, host: v.host, region,
      port: int('port', v.port ?? process.env.DSQL_PORT, 5432, 1, 65535),
      caFile: v['ca-file'] ?? process.env.DSQL_TLS_CA_FILE,
    };
    const schemaDir = path.resolve(v['schema-dir'] ?? DEFAULT_SCHEMA_DIR);
    const schema = loadVersionedSchema(schemaDir);
    const deadline = Date.now() + int('timeout', v.timeout, 3600, 1, 7 * 24 * 3600) * 1000;
    const indexWaitConcurrency = int('index-concurrency', v['index-concurrency'], 8, 1, 64);
    const dbName = v.database ?? 'postgres';
    const log = v.json ? () => undefined : (m: string) => err(`${new Date().toISOString()} ${m}\n`);
    const print = (human: string, data: unknown) => out(v.json ? `${JSON.stringify(data)}\n` : `${human}\n`);

    if (command === 'status') {
      const st = await new SchemaRunner({ connection, schema, dbName, log }).status(deadline);
      print([
        `current version: ${st.currentVersion ?? '(none: run setup-schema)'}`,
        `latest version:  ${st.latestVersion}`,
        `pending:         ${st.pendingVersions.length ? st.pendingVersions.join(', ') : '(none)'}`,
        ...st.inFlight.map((f) => `in flight:       v${f.version} statement ${f.step} ${f.state}${f.jobId ? ` job ${f.jobId}` : ''}`),
      ].join('\n'), st);
      return 0;
    }
    if (command === 'setup-schema') {
      const runner = new SchemaRunner({ connection, schema, dbName, log });
      await runner.setup(deadline);
      const st = await runner.status(deadline);
      print(`schema version tables ready; current version ${st.currentVersion}`, st);
      return 0;
    }
    const r = await migrate({
      connection, schema, dbName, deadline, indexWaitConcurrency, log, targetVersion: v.version,
      serverRole: v['server-role'] ? { roleName: v['server-role'], iamArns: v['server-iam-arn'] ? [v['server-iam-arn']] : [] } : undefined,
    });
    const a = r.apply;
    print(`${a.outcome}: ${a.fromVersion} -> ${a.currentVersion} (target ${a.targetVersion}; ${a.statementsExecuted} statements executed${a.pendingJobs.length ? `; ${a.pendingJobs.length} index builds still running` : ''})`, r);
    if (!r.complete) {
      err('deadline reached before the migration finished; run update-schema again to resume\n');
      return 3;
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`error: ${e.message}\nRun with --help for usage.\n`);
      return 2;
    }
    err(`error: ${(e as Error).name === 'MigrationError' || (e as Error).name === 'SchemaDirError' ? (e as Error).message : describeError(e)}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
