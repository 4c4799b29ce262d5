/**
 * The `opensearch` section of an environment (the visibility store): engine version, nodes, volumes,
 * domain and index names, Multi-AZ with Standby. {@link resolveOpenSearch} fills the defaults and checks
 * every value, throwing a {@link ConfigError} that names the field, the value and what is allowed.
 */
import { bool, checkKeys, ConfigError, int, optObject, str } from '../config-checks';

/** OpenSearch (visibility) settings. */
export interface OpenSearchInput {
  /** OpenSearch engine version `major.minor`; 2.11 and 2.17 are refused. @default '2.19' */
  readonly engineVersion?: string;
  /** Data node instance type. @default 'r7g.large.search' */
  readonly dataNodeInstanceType?: string;
  /** Data node count; a multiple of the AZ count. @default - the AZ count */
  readonly dataNodes?: number;
  /** Dedicated master node count: 0, 3 or 5. @default 3 */
  readonly masterNodes?: number;
  /** Dedicated master instance type. @default 'm7g.large.search' */
  readonly masterNodeInstanceType?: string;
  /** EBS volume size per data node in GiB (10-16384). @default 100 */
  readonly volumeSizeGiB?: number;
  /** Domain name (3-28 chars, lowercase letters, digits, hyphens). @default `temporal-<env>` */
  readonly domainName?: string;
  /** Visibility index name; must start with `temporal_visibility_v1`. @default `temporal_visibility_v1_<env>` */
  readonly visibilityIndex?: string;
  /** Multi-AZ with Standby (needs 3 AZs, dedicated masters, data nodes a multiple of 3, no T2/T3). @default false */
  readonly multiAzWithStandby?: boolean;
  /**
   * Fine-grained access control (the OpenSearch security plugin) with IAM principals only: the master
   * user is the visibility index job's IAM role, which maps the server task role to a role limited to
   * the visibility index (docs/security.md, "OpenSearch fine-grained access control and audit logs").
   * Turning it on for an existing domain is a blue/green deployment and cannot be undone.
   * @default - true in production (`production: true`), false otherwise
   */
  readonly fineGrainedAccessControl?: boolean;
  /**
   * Audit logs of the security plugin to CloudWatch Logs (failed logins, missing privileges,
   * security configuration changes; no request bodies). Needs `fineGrainedAccessControl`.
   * @default - the value of fineGrainedAccessControl
   */
  readonly auditLogs?: boolean;
  /**
   * IAM role or user ARNs of operators mapped to the security plugin's `all_access` role (and let
   * into the domain access policy). Needs `fineGrainedAccessControl`. @default []
   */
  readonly allAccessPrincipals?: string[];
  /** IAM role or user ARNs mapped to the security plugin's `readall` role (read every index). Needs `fineGrainedAccessControl`. @default [] */
  readonly readAllPrincipals?: string[];
}

/** An IAM role or user ARN (the only principals fine-grained access control maps here). */
export const IAM_PRINCIPAL_ARN = /^arn:aws(-cn|-us-gov)?:iam::\d{12}:(role|user)\/[\w+=,.@/-]{1,512}$/;

function principalList(p: (f: string) => string, field: string, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ConfigError(p(field), v, 'a list of IAM role or user ARNs');
  const out = v.map((a: unknown, i: number) => str(p(`${field}[${i}]`), a, IAM_PRINCIPAL_ARN,
    'an IAM role or user ARN, arn:aws:iam::<account>:role/<name> or :user/<name>'));
  const dup = out.find((a, i) => out.indexOf(a) !== i);
  if (dup) throw new ConfigError(p(field), dup, 'each ARN once');
  return out;
}

/** OpenSearch versions whose gzip request handling breaks Temporal's bulk writes. */
export const REFUSED_OPENSEARCH_VERSIONS: readonly string[] = ['2.11', '2.17'];

/**
 * OpenSearch versions allowed: the 2.x line (Temporal supports OpenSearch 2 from server 1.30.1) that
 * aws-cdk-lib 2.276 knows, minus the refused ones. 3.x is not listed: not verified with Temporal 1.31.
 */
export const ALLOWED_OPENSEARCH_VERSIONS: readonly string[] = [
  '2.3', '2.5', '2.7', '2.9', '2.10', '2.13', '2.15', '2.19',
];

/**
 * Multi-AZ with Standby is valid only with 3 AZs, dedicated master nodes, a data node count that is
 * a multiple of 3 and no T2/T3 instances (OpenSearch Service developer guide, "Multi-AZ with Standby").
 * @returns the resolved flag (default false)
 */
export function resolveMultiAzWithStandby(p: (f: string) => string, v: unknown, o: {
  azCount: number; dataNodes: number; masterNodes: number; dataNodeInstanceType: string; masterNodeInstanceType: string;
}): boolean {
  const on = bool(p('opensearch.multiAzWithStandby'), v, false);
  if (!on) return false;
  const f = p('opensearch.multiAzWithStandby');
  if (o.azCount !== 3) throw new ConfigError(f, v, `false unless network.azCount is 3 (it is ${o.azCount}): Multi-AZ with Standby spans three zones`);
  if (o.masterNodes === 0) throw new ConfigError(f, v, 'false unless opensearch.masterNodes is 3 or 5 (Multi-AZ with Standby needs dedicated masters)');
  if (o.dataNodes % 3 !== 0) throw new ConfigError(f, v, `false unless opensearch.dataNodes is a multiple of 3 (it is ${o.dataNodes})`);
  for (const t of [o.dataNodeInstanceType, o.masterNodeInstanceType]) {
    if (/^t[23]\./.test(t)) throw new ConfigError(f, v, `false with T2/T3 instance types (${t}): Multi-AZ with Standby does not support them`);
  }
  return true;
}

/** The resolved `opensearch` section. */
export interface OpenSearchConfig {
  readonly engineVersion: string;
  readonly dataNodeInstanceType: string;
  readonly dataNodes: number;
  readonly masterNodes: number;
  readonly masterNodeInstanceType: string;
  readonly volumeSizeGiB: number;
  readonly domainName: string;
  readonly visibilityIndex: string;
  readonly multiAzWithStandby: boolean;
  /** Fine-grained access control with the index job's role as IAM master user. */
  readonly fineGrainedAccessControl: boolean;
  /** Audit logs published to CloudWatch Logs and turned on by the index job (implies fineGrainedAccessControl). */
  readonly auditLogs: boolean;
  /** ARNs mapped to `all_access`. */
  readonly allAccessPrincipals: string[];
  /** ARNs mapped to `readall`. */
  readonly readAllPrincipals: string[];
}

/**
 * Resolves the `opensearch` section.
 * @param o.envName the environment name (default domain and index names); o.azCount the resolved AZ count
 * @throws ConfigError naming the field, the value and what is allowed
 */
export function resolveOpenSearch(p: (f: string) => string, v: OpenSearchInput | undefined, o: { envName: string; azCount: number; production?: boolean }): OpenSearchConfig {
  const { envName, azCount } = o;
  const osIn = optObject(p('opensearch'), v);
  checkKeys(p('opensearch'), osIn, ['engineVersion', 'dataNodeInstanceType', 'dataNodes', 'masterNodes', 'masterNodeInstanceType', 'volumeSizeGiB', 'domainName', 'visibilityIndex', 'multiAzWithStandby',
    'fineGrainedAccessControl', 'auditLogs', 'allAccessPrincipals', 'readAllPrincipals']);
  const engineVersion = osIn.engineVersion === undefined ? '2.19' : osIn.engineVersion;
  if (typeof engineVersion !== 'string' || !ALLOWED_OPENSEARCH_VERSIONS.includes(engineVersion)) {
    const why = REFUSED_OPENSEARCH_VERSIONS.includes(engineVersion as string)
      ? ` (${engineVersion} is refused: its gzip request handling breaks Temporal's bulk writes)` : '';
    throw new ConfigError(p('opensearch.engineVersion'), engineVersion, `one of ${ALLOWED_OPENSEARCH_VERSIONS.join(', ')}${why}`);
  }
  const instanceType = /^[a-z][a-z0-9]*\.[a-z0-9]+\.search$/;
  const dataNodeInstanceType = osIn.dataNodeInstanceType === undefined ? 'r7g.large.search'
    : str(p('opensearch.dataNodeInstanceType'), osIn.dataNodeInstanceType, instanceType, 'an OpenSearch instance type such as r7g.large.search');
  if (/^t2\./.test(dataNodeInstanceType)) throw new ConfigError(p('opensearch.dataNodeInstanceType'), dataNodeInstanceType, 'an instance type that supports encryption at rest (not t2)');
  const dataNodes = int(p('opensearch.dataNodes'), osIn.dataNodes === undefined ? azCount : osIn.dataNodes, 1, 80);
  if (dataNodes % azCount !== 0) throw new ConfigError(p('opensearch.dataNodes'), dataNodes, `a multiple of network.azCount (${azCount}) for zone awareness`);
  const masterNodes = (osIn.masterNodes === undefined ? 3 : osIn.masterNodes) as number;
  if (![0, 3, 5].includes(masterNodes)) throw new ConfigError(p('opensearch.masterNodes'), masterNodes, '0, 3 or 5');
  const masterNodeInstanceType = osIn.masterNodeInstanceType === undefined ? 'm7g.large.search'
    : str(p('opensearch.masterNodeInstanceType'), osIn.masterNodeInstanceType, instanceType, 'an OpenSearch instance type such as m7g.large.search');
  const volumeSizeGiB = int(p('opensearch.volumeSizeGiB'), osIn.volumeSizeGiB === undefined ? 100 : osIn.volumeSizeGiB, 10, 16384);
  const domainName = osIn.domainName === undefined ? `temporal-${envName}`
    : str(p('opensearch.domainName'), osIn.domainName, /^[a-z][a-z0-9-]{2,27}$/, '3-28 characters: lowercase letters, digits and hyphens, starting with a letter');
  if (domainName.length > 28) throw new ConfigError(p('opensearch.domainName'), domainName, 'at most 28 characters (set opensearch.domainName for a long environment name)');
  const visibilityIndex = osIn.visibilityIndex === undefined ? `temporal_visibility_v1_${envName.replace(/-/g, '_')}`
    : str(p('opensearch.visibilityIndex'), osIn.visibilityIndex, /^temporal_visibility_v1[a-z0-9_-]*$/,
      'an index name starting with temporal_visibility_v1 (so the visibility index template applies), lowercase letters, digits, _ and -');

  const fineGrainedAccessControl = bool(p('opensearch.fineGrainedAccessControl'), osIn.fineGrainedAccessControl, o.production ?? false);
  const auditLogs = bool(p('opensearch.auditLogs'), osIn.auditLogs, fineGrainedAccessControl);
  if (auditLogs && !fineGrainedAccessControl) {
    throw new ConfigError(p('opensearch.auditLogs'), auditLogs, 'false unless opensearch.fineGrainedAccessControl is true (audit logs come from the security plugin)');
  }
  const allAccessPrincipals = principalList(p, 'opensearch.allAccessPrincipals', osIn.allAccessPrincipals);
  const readAllPrincipals = principalList(p, 'opensearch.readAllPrincipals', osIn.readAllPrincipals);
  for (const [field, list] of [['opensearch.allAccessPrincipals', allAccessPrincipals], ['opensearch.readAllPrincipals', readAllPrincipals]] as const) {
    if (list.length > 0 && !fineGrainedAccessControl) {
      throw new ConfigError(p(field), list, 'empty unless opensearch.fineGrainedAccessControl is true (the ARNs are mapped to security plugin roles)');
    }
  }
  return {
    engineVersion, dataNodeInstanceType, dataNodes, masterNodes, masterNodeInstanceType, volumeSizeGiB, domainName, visibilityIndex,
    multiAzWithStandby: resolveMultiAzWithStandby(p, osIn.multiAzWithStandby, { azCount, dataNodes, masterNodes, dataNodeInstanceType, masterNodeInstanceType }),
    fineGrainedAccessControl, auditLogs, allAccessPrincipals, readAllPrincipals,
  };
}
