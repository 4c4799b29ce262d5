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
  /**
   * Adopt an existing cluster instead of creating one: its identifier (26 lowercase letters and
   * digits) or ARN (`arn:aws:dsql:<region>:<account>:cluster/<id>`), in the stack's account and
   * Region. The restore runbook's switch (docs/operations.md, "Restore the DSQL cluster from a
   * backup"): the endpoint, PrivateLink endpoint, resource policy, grants, backup selection,
   * alarms and the schema check follow it; the cluster the stack created before leaves the
   * template and is retained. `deletionProtection` is the existing cluster's (not settable here).
   * @default - the stack creates the cluster
   */
  readonly existingCluster?: string;
  /**
   * Break-glass: IAM role or user ARNs (`arn:aws:iam::<account>:role/<name>` or `:user/<name>`)
   * that the cluster's resource policy does not deny from outside the VPC: the console query
   * editor, `npm run local -- --dsql-endpoint`, psql on a laptop. Only with `privateLink` (without
   * it there is no VPC-only policy). They still need `dsql:DbConnect`/`DbConnectAdmin` in their own
   * IAM policies. @default [] (nobody from outside the VPC; docs/security.md)
   */
  readonly adminPrincipals?: string[];
}

/** The resolved `dsql` section. */
export interface DsqlConfig {
  readonly deletionProtection: boolean;
  readonly kmsKeyArn?: string;
  readonly databaseRole: string;
  readonly privateLink: boolean;
  /** Identifier of the adopted cluster (from `existingCluster`), or undefined. */
  readonly existingCluster?: string;
  /** IAM principals exempt from the VPC-only resource policy (break-glass). */
  readonly adminPrincipals: string[];
}

/** An Aurora DSQL cluster identifier: 26 lowercase letters and digits (e.g. from the console or `aws dsql list-clusters`). */
const CLUSTER_ID = /^[a-z0-9]{26}$/;
/** A DSQL cluster ARN, with its Region, account and identifier captured. */
const CLUSTER_ARN = /^arn:aws(?:-[a-z]+)*:dsql:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):cluster\/([a-z0-9]{26})$/;

/**
 * Resolves the `dsql` section.
 * @param o.region the stack's Region when known: a KMS key must be in it
 * @throws ConfigError naming the field, the value and what is allowed
 */
export function resolveDsql(p: (f: string) => string, v: DsqlInput | undefined, o: { region?: string; account?: string }): DsqlConfig {
  const { region, account } = o;
  const dsqlIn = optObject(p('dsql'), v);
  checkKeys(p('dsql'), dsqlIn, ['deletionProtection', 'kmsKeyArn', 'databaseRole', 'privateLink', 'existingCluster', 'adminPrincipals']);
  let existingCluster: string | undefined;
  if (dsqlIn.existingCluster !== undefined) {
    const f = p('dsql.existingCluster');
    const value = str(f, dsqlIn.existingCluster, /^(arn:.+|[a-z0-9]{26})$/, 'a cluster identifier (26 lowercase letters and digits) or a DSQL cluster ARN');
    if (CLUSTER_ID.test(value)) {
      existingCluster = value;
    } else {
      const m = CLUSTER_ARN.exec(value);
      if (!m) throw new ConfigError(f, value, 'a DSQL cluster ARN, arn:aws:dsql:<region>:<account>:cluster/<26-character id>');
      if (region && m[1] !== region) throw new ConfigError(f, value, `a cluster in env.region ${region} (the stack connects to clusters of its own Region)`);
      if (account && m[2] !== account) throw new ConfigError(f, value, `a cluster in env.account ${account}`);
      existingCluster = m[3];
    }
    if (dsqlIn.deletionProtection !== undefined) {
      throw new ConfigError(p('dsql.deletionProtection'), dsqlIn.deletionProtection,
        'nothing with dsql.existingCluster: deletion protection belongs to the existing cluster (aws dsql update-cluster --identifier <id> --deletion-protection-enabled)');
    }
  }
  const kmsKeyArn = dsqlIn.kmsKeyArn === undefined ? undefined
    : str(p('dsql.kmsKeyArn'), dsqlIn.kmsKeyArn, /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, 'a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)');
  if (kmsKeyArn && region && regionOfArn(kmsKeyArn) !== region) {
    throw new ConfigError(p('dsql.kmsKeyArn'), kmsKeyArn, `a KMS key in env.region ${region} (DSQL only uses a key of the cluster's own Region)`);
  }
  const databaseRole = dsqlIn.databaseRole === undefined ? 'temporal_server'
    : str(p('dsql.databaseRole'), dsqlIn.databaseRole, /^[a-z_][a-z0-9_]{0,62}$/, 'a PostgreSQL role name: lowercase letters, digits, underscores, at most 63 chars');
  if (databaseRole === 'admin') throw new ConfigError(p('dsql.databaseRole'), databaseRole, 'a non-admin role (the servers must not log in as admin)');

  const privateLink = bool(p('dsql.privateLink'), dsqlIn.privateLink, true);
  const adminPrincipals: string[] = [];
  if (dsqlIn.adminPrincipals !== undefined) {
    if (!Array.isArray(dsqlIn.adminPrincipals)) throw new ConfigError(p('dsql.adminPrincipals'), dsqlIn.adminPrincipals, 'a list of IAM role or user ARNs');
    dsqlIn.adminPrincipals.forEach((a: unknown, i: number) => adminPrincipals.push(
      str(p(`dsql.adminPrincipals[${i}]`), a, /^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)\/[\w+=,.@/-]{1,512}$/, 'an IAM role or user ARN, arn:aws:iam::<account>:role/<name> or :user/<name>')));
    if (adminPrincipals.length > 0 && !privateLink) {
      throw new ConfigError(p('dsql.adminPrincipals'), adminPrincipals, 'nothing without dsql.privateLink: the cluster then has no VPC-only policy to make exceptions to');
    }
  }
  return {
    deletionProtection: bool(p('dsql.deletionProtection'), dsqlIn.deletionProtection, true),
    kmsKeyArn,
    databaseRole,
    privateLink,
    existingCluster,
    adminPrincipals,
  };
}
