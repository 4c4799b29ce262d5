/**
 * The one place that opens a connection to Aurora DSQL (or dsql-local) for the schema runner, the
 * CLI, the custom-resource handlers and the tests: `pg` with an IAM token from
 * `@aws-sdk/dsql-signer`, TLS with SNI.
 */
import { DsqlSigner } from '@aws-sdk/dsql-signer';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import * as fs from 'fs';
import { Client } from 'pg';

/** Where and how to connect. */
export interface DsqlConnectionOptions {
  /**
   * Cluster endpoint host name, e.g. `abc...xyz.dsql.us-east-1.on.aws`. Sent as TLS SNI and signed
   * into the IAM token.
   */
  readonly hostname: string;
  /** Address to dial. @default - `hostname` (dsql-local: `127.0.0.1`) */
  readonly host?: string;
  /** TCP port. @default 5432 */
  readonly port?: number;
  /** Region the token is signed for, e.g. `us-east-1`. */
  readonly region: string;
  /** Database role. `admin` signs a `DbConnectAdmin` token, anything else a `DbConnect` token. @default 'admin' */
  readonly user?: string;
  /** Database. DSQL has exactly one, `postgres`. @default 'postgres' */
  readonly database?: string;
  /** PEM CA bundle file to verify the server certificate (dsql-local). @default - Node's system roots */
  readonly caFile?: string;
  /** Credentials to sign with. @default - the AWS SDK default provider chain */
  readonly credentials?: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Token lifetime in seconds; only checked when a connection opens. @default 900 */
  readonly tokenExpiresInSeconds?: number;
  /** TCP + TLS + auth timeout in milliseconds. @default 10000 */
  readonly connectTimeoutMs?: number;
  /** `application_name` shown in `pg_stat_activity`. @default 'temporal-dsql-schema' */
  readonly applicationName?: string;
}

/** Signs a fresh IAM token for `options` (local computation, no network call). */
export async function signToken(options: DsqlConnectionOptions): Promise<string> {
  const signer = new DsqlSigner({
    hostname: options.hostname,
    region: options.region,
    // An explicit `credentials: undefined` would override the SDK's default chain: leave the key out.
    ...(options.credentials ? { credentials: options.credentials } : {}),
    expiresIn: options.tokenExpiresInSeconds ?? 900,
  });
  return (options.user ?? 'admin') === 'admin' ? signer.getDbConnectAdminAuthToken() : signer.getDbConnectAuthToken();
}

/**
 * Opens one connected `pg.Client`, authenticated with a freshly signed IAM token.
 * @throws the `pg`/network error when the connection cannot be opened (see `errors.ts` for which
 *   of those are retried)
 */
export async function connectDsql(options: DsqlConnectionOptions): Promise<Client> {
  if (!options.hostname) throw new Error('DSQL endpoint host name is empty; pass the cluster endpoint (e.g. <id>.dsql.<region>.on.aws)');
  if (!options.region) throw new Error(`DSQL region is empty for endpoint ${options.hostname}; pass the cluster's region (e.g. us-east-1)`);
  const client = new Client({
    host: options.host ?? options.hostname,
    port: options.port ?? 5432,
    user: options.user ?? 'admin',
    database: options.database ?? 'postgres',
    password: await signToken(options),
    ssl: {
      servername: options.hostname,
      rejectUnauthorized: true,
      ...(options.caFile ? { ca: fs.readFileSync(options.caFile, 'utf8') } : {}),
    },
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    application_name: options.applicationName ?? 'temporal-dsql-schema',
  });
  // A server-side close (60 min lifetime, fault injection) must not crash the process; the next query fails and is retried.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  return client;
}
