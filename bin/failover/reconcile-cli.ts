/**
 * `temporal-dsql-tool reconcile-visibility`: rebuilds a Region's visibility store from the shared
 * database after a failover (docs/multi-region.md, "Visibility on failover"), or after an
 * OpenSearch domain was replaced. Lists every execution from the database and asks the frontend to
 * refresh its tasks (AdminService.RefreshWorkflowTasks), so the history hosts rewrite the records
 * (bin/failover/visibility-reconcile.ts). Dry run unless `--execute`: the dry run connects to the
 * database only and counts what would be refreshed.
 * Exit codes: 0 every execution refreshed (or counted); 1 a refresh failed after its retries or a
 * connection failed; 2 bad usage (the message names the option, the value and what is allowed).
 */
import { credentials } from '@grpc/grpc-js';
import * as fs from 'fs';
import { parseArgs } from 'util';
import { connectDsql } from '../../lambda/dsql/schema/connection';
import { listExecutions, reconcileVisibility } from './visibility-reconcile';

export const RECONCILE_USAGE = `Usage: temporal-dsql-tool reconcile-visibility --frontend HOST:PORT --dsql-endpoint HOST --region REGION [options]

Rewrites the visibility records of every execution in the database through the given frontend
(AdminService.RefreshWorkflowTasks): run it against the new Region after 'failover', or after an
OpenSearch domain was replaced. Idempotent (records are upserted). Dry run unless --execute: the
dry run only counts the executions.

Options:
  --frontend HOST:PORT   The frontend of the Region whose visibility store is rebuilt. Required.
  --dsql-endpoint HOST   That Region's DSQL endpoint, <id>.dsql.<region>.on.aws. Required.
  --region REGION        Region of the endpoint (signs the IAM token). Required.
  --dsql-host ADDRESS    Address to dial when it differs from the endpoint (dsql-local: 127.0.0.1).
  --dsql-port N          Default 5432.
  --ca-file FILE         PEM CA bundle of the database endpoint (dsql-local).
  --tls-ca FILE          PEM CA of the frontend's certificate: TLS on (the platform's frontend).
  --tls-cert FILE        Client certificate for mTLS (with --tls-key).
  --tls-key FILE         Client key for mTLS (with --tls-cert).
  --tls-server-name NAME Name to verify when it differs from the --frontend host.
  --plaintext            No TLS (the local stack). Either --tls-ca or --plaintext is required.
  --token-env VAR        Send 'authorization: Bearer <$VAR>' (an admin token); never on the command line.
  --namespace-id UUID    Only this namespace's executions. Default: all.
  --concurrency N        Refreshes in flight. Default 8 (1-64).
  --execute              Act. Without it only the database is read.
  --json                 One JSON document instead of lines.
  -h, --help             Show this help.
Credentials for the database: the AWS SDK default chain; the identity needs dsql:DbConnectAdmin.
`;

class UsageError extends Error {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What {@link reconcileMain} reads from outside its arguments; tests replace it. */
export interface ReconcileCliDeps {
  /** Environment variables (for --token-env). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Credentials for the database token. @default the AWS SDK default chain */
  readonly dsqlCredentials?: { accessKeyId: string; secretAccessKey: string };
}

/** Runs the command with `argv` (after `reconcile-visibility`); returns the exit code. */
export async function reconcileMain(argv: string[], out: (s: string) => void, err: (s: string) => void,
  deps: ReconcileCliDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  let v;
  try {
    v = parseArgs({
      args: argv, allowPositionals: false,
      options: {
        'frontend': { type: 'string' }, 'dsql-endpoint': { type: 'string' }, 'region': { type: 'string' }, 'dsql-host': { type: 'string' },
        'dsql-port': { type: 'string' }, 'ca-file': { type: 'string' }, 'tls-ca': { type: 'string' }, 'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' }, 'tls-server-name': { type: 'string' }, 'plaintext': { type: 'boolean' }, 'token-env': { type: 'string' },
        'namespace-id': { type: 'string' }, 'concurrency': { type: 'string' }, 'execute': { type: 'boolean' }, 'json': { type: 'boolean' },
        'help': { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    err(`error: ${(e as Error).message}\n\n${RECONCILE_USAGE}`);
    return 2;
  }
  if (v.help) { out(RECONCILE_USAGE); return 0; }
  let db: Awaited<ReturnType<typeof connectDsql>> | undefined;
  try {
    const required = (name: 'frontend' | 'dsql-endpoint' | 'region') => {
      const value = v[name];
      if (!value) throw new UsageError(`--${name} is required`);
      return value;
    };
    const frontend = required('frontend');
    if (!/^[^\s:]+:\d{1,5}$/.test(frontend)) throw new UsageError(`--frontend = ${JSON.stringify(frontend)}; allowed: HOST:PORT`);
    const hostname = required('dsql-endpoint');
    const region = required('region');
    const int = (name: string, value: string | undefined, def: number, min: number, max: number) => {
      if (value === undefined) return def;
      const n = Number(value);
      if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} = ${JSON.stringify(value)}; allowed: an integer from ${min} to ${max}`);
      return n;
    };
    const port = int('dsql-port', v['dsql-port'], 5432, 1, 65535);
    const concurrency = int('concurrency', v.concurrency, 8, 1, 64);
    if (v.plaintext && v['tls-ca']) throw new UsageError('--plaintext and --tls-ca exclude each other');
    if (!v.plaintext && !v['tls-ca']) throw new UsageError('one of --tls-ca FILE (the platform\'s TLS frontend) or --plaintext (the local stack) is required');
    if (Boolean(v['tls-cert']) !== Boolean(v['tls-key'])) throw new UsageError('--tls-cert and --tls-key go together (mTLS)');
    if (v.plaintext && v['tls-cert']) throw new UsageError('--tls-cert needs TLS: give --tls-ca instead of --plaintext');
    const namespaceId = v['namespace-id'];
    if (namespaceId !== undefined && !UUID.test(namespaceId)) throw new UsageError(`--namespace-id = ${JSON.stringify(namespaceId)}; allowed: a namespace id (UUID), not its name`);
    const read = (name: string, file: string | undefined) => {
      if (!file) return undefined;
      try { return fs.readFileSync(file); } catch (e) { throw new UsageError(`--${name} = ${JSON.stringify(file)}: ${(e as Error).message}`); }
    };
    const channelCredentials = v.plaintext ? undefined
      : credentials.createSsl(read('tls-ca', v['tls-ca']), read('tls-key', v['tls-key']) ?? null, read('tls-cert', v['tls-cert']) ?? null);
    let metadata: Record<string, string> | undefined;
    if (v['token-env']) {
      const token = env[v['token-env']];
      if (!token) throw new UsageError(`--token-env = ${JSON.stringify(v['token-env'])}: that environment variable is empty or unset; allowed: the name of a variable holding an admin token`);
      metadata = { authorization: `Bearer ${token}` };
    }
    db = await connectDsql({ applicationName: 'temporal-dsql-reconcile', hostname, host: v['dsql-host'], port, region, caFile: v['ca-file'],
      ...(deps.dsqlCredentials ? { credentials: deps.dsqlCredentials } : {}) });
    if (!v.execute) {
      let executions = 0;
      for await (const page of listExecutions(db, { namespaceId })) executions += page.length;
      if (v.json) out(`${JSON.stringify({ execute: false, executions })}\n`);
      else out(`DRY RUN: ${executions} executions would be refreshed through ${frontend}; add --execute to act\n`);
      return 0;
    }
    const report = await reconcileVisibility(db, { frontendAddress: frontend, channelCredentials, serverName: v['tls-server-name'], metadata, concurrency, namespaceId });
    if (v.json) out(`${JSON.stringify({ execute: true, ...report })}\n`);
    else {
      out(`refreshed ${report.refreshed} of ${report.executions} executions in ${(report.ms / 1000).toFixed(1)} s through ${frontend}\n`);
      for (const f of report.failures.slice(0, 20)) out(`  failed ${f.workflowId} ${f.runId}: ${f.error}\n`);
      if (report.failures.length > 20) out(`  ... and ${report.failures.length - 20} more (--json lists all)\n`);
    }
    return report.failures.length > 0 ? 1 : 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`error: ${e.message}\nRun with --help for usage.\n`);
      return 2;
    }
    err(`error: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await db?.end().catch(() => undefined);
  }
}
