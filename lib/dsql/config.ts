/**
 * The `dsql` section of an environment: deletion protection, the customer managed key, the servers'
 * database role and PrivateLink. {@link resolveDsql} fills the defaults and checks every value, throwing
 * a {@link ConfigError} that names the field, the value and what is allowed.
 */
import { bool, checkKeys, ConfigError, optObject, regionOfArn, str } from '../config-checks';

/** Aurora DSQL settings. */
export interface DsqlInput {
  /** Deletion protection of the cluster. @default true */
  readonly deletionProtection?: boolean;
  /** Customer managed KMS key ARN for encryption at rest. @default - AWS owned key */
  readonly kmsKeyArn?: string;
  /** Non-admin database role the servers log in as (`dsql:DbConnect`). @default 'temporal_server' */
  readonly databaseRole?: string;
  /** Reach the cluster through a PrivateLink interface endpoint in the VPC. @default true */
  readonly privateLink?: boolean;
}

/** The resolved `dsql` section. */
export interface DsqlConfig {
  readonly deletionProtection: boolean;
  readonly kmsKeyArn?: string;
  readonly databaseRole: string;
  readonly privateLink: boolean;
}

/**
 * Resolves the `dsql` section.
 * @param o.region the stack's Region when known: a KMS key must be in it
 * @throws ConfigError naming the field, the value and what is allowed
 */
export function resolveDsql(p: (f: string) => string, v: DsqlInput | undefined, o: { region?: string }): DsqlConfig {
  const { region } = o;
  const dsqlIn = optObject(p('dsql'), v);
  checkKeys(p('dsql'), dsqlIn, ['deletionProtection', 'kmsKeyArn', 'databaseRole', 'privateLink']);
  const kmsKeyArn = dsqlIn.kmsKeyArn === undefined ? undefined
    : str(p('dsql.kmsKeyArn'), dsqlIn.kmsKeyArn, /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, 'a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)');
  if (kmsKeyArn && region && regionOfArn(kmsKeyArn) !== region) {
    throw new ConfigError(p('dsql.kmsKeyArn'), kmsKeyArn, `a KMS key in env.region ${region} (DSQL only uses a key of the cluster's own Region)`);
  }
  const databaseRole = dsqlIn.databaseRole === undefined ? 'temporal_server'
    : str(p('dsql.databaseRole'), dsqlIn.databaseRole, /^[a-z_][a-z0-9_]{0,62}$/, 'a PostgreSQL role name: lowercase letters, digits, underscores, at most 63 chars');
  if (databaseRole === 'admin') throw new ConfigError(p('dsql.databaseRole'), databaseRole, 'a non-admin role (the servers must not log in as admin)');

  return {
    deletionProtection: bool(p('dsql.deletionProtection'), dsqlIn.deletionProtection, true),
    kmsKeyArn,
    databaseRole,
    privateLink: bool(p('dsql.privateLink'), dsqlIn.privateLink, true),
  };
}
