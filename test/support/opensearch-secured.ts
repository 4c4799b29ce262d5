/**
 * A real OpenSearch 2.19 node with the security plugin (fine-grained access control), for tests of
 * what the index job sets up on a domain with fine-grained access control.
 *
 * The node is opensearch-local's (test/support/opensearch-local.ts) with the security plugin's release
 * jars (org.opensearch.plugin:opensearch-security 2.19.4.0 from Maven Central, unpacked by
 * scripts/setup.d/30-opensearch.sh into opensearch-local/target/security-plugin) on the classpath.
 * Transport TLS uses a CA and node certificate made here with openssl; HTTP is plain on 127.0.0.1.
 *
 * IAM principals cannot authenticate here (there is no SigV4 check outside AWS). Each stands in as an
 * internal user with HTTP basic authentication whose backend role is the IAM role ARN, which is how
 * OpenSearch Service presents an IAM role to the security plugin; the master user's ARN is mapped to
 * `all_access` and `security_manager`, as OpenSearch Service does for an IAM master user. Audit logs
 * go to the node itself (`plugins.security.audit.type: internal_opensearch`, index {@link AUDIT_INDEX})
 * instead of CloudWatch Logs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalOpenSearch, OPENSEARCH_LOCAL_DIR, startOpenSearchLocal } from './opensearch-local';

/** One IAM principal's stand-in. */
export interface StandIn {
  /** Internal user name. */
  readonly name: string;
  /** The IAM role ARN it stands for (its backend role). */
  readonly arn: string;
}

/** A running secured node. */
export interface SecuredOpenSearch extends LocalOpenSearch {
  /** `Authorization: Basic ...` header value of a stand-in (all share one test password). */
  authorization(name: string): string;
}

/** Password of every stand-in. */
export const STAND_IN_PASSWORD = 'local-test-password';
/** BCrypt (cost 4) of STAND_IN_PASSWORD, made with the plugin's own BouncyCastle OpenBSDBCrypt. */
const STAND_IN_HASH = '$2y$04$S5OiCoOoiT9CowIcIt3BjeDOfezPvGGBsMZQ5fq.IYfCL0JTwxRHy';
/** The node's audit log index (OpenSearch Service: the CloudWatch log group). */
export const AUDIT_INDEX = 'security-auditlog';
/** Where the setup unpacks the security plugin's release zip. */
export const SECURITY_PLUGIN_DIR = join(OPENSEARCH_LOCAL_DIR, 'target', 'security-plugin');

/**
 * The plugin's jars minus those the node's classpath already has in another version (transport-netty4,
 * mapper-extras, netty): the first on the classpath would win anyway; leaving them out keeps one of each.
 * @throws Error when the plugin is not unpacked
 */
export function securityPluginClasspath(): string[] {
  if (!existsSync(join(SECURITY_PLUGIN_DIR, 'plugin-descriptor.properties'))) {
    throw new Error(`${SECURITY_PLUGIN_DIR} missing: run bash scripts/setup.d/30-opensearch.sh`);
  }
  const have = readFileSync(join(OPENSEARCH_LOCAL_DIR, 'target', 'classpath.txt'), 'utf8');
  return readdirSync(SECURITY_PLUGIN_DIR)
    .filter((f) => f.endsWith('.jar'))
    .filter((f) => !have.includes(`/${f.replace(/-\d[\w.]*?(-jre|\.Final)?\.jar$/, '')}-`))
    .map((f) => join(SECURITY_PLUGIN_DIR, f));
}

/** Writes the CA, the node certificate and the plugin settings into `<home>/config`. */
function writeConfig(home: string, master: StandIn, others: StandIn[]): void {
  const dir = join(home, 'config');
  const sec = join(dir, 'opensearch-security');
  mkdirSync(sec, { recursive: true });
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=opensearch-secured-test-ca');
  ssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'node-key.pem');
  ssl('req', '-new', '-key', 'node-key.pem', '-out', 'node.csr', '-subj', '/CN=node');
  writeFileSync(join(dir, 'node.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  ssl('x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', 'node.pem', '-days', '2', '-extfile', 'node.ext');
  writeFileSync(join(dir, 'opensearch.yml'), [
    'plugins.security.ssl.transport.pemcert_filepath: node.pem',
    'plugins.security.ssl.transport.pemkey_filepath: node-key.pem',
    'plugins.security.ssl.transport.pemtrustedcas_filepath: ca.pem',
    'plugins.security.ssl.transport.enforce_hostname_verification: false',
    'plugins.security.ssl.http.enabled: false',
    'plugins.security.allow_default_init_securityindex: true',
    'plugins.security.nodes_dn: ["CN=node"]',
    // OpenSearch Service lets all_access and security_manager use the REST API.
    'plugins.security.restapi.roles_enabled: ["all_access", "security_manager"]',
    'plugins.security.audit.type: internal_opensearch',
    // One fixed audit index, created at start: the index job turns action.auto_create_index off, which
    // would stop the plugin from creating its dated index (OpenSearch Service sends audit logs to
    // CloudWatch Logs instead, so it is not affected).
    `plugins.security.audit.config.index: ${AUDIT_INDEX}`,
    '',
  ].join('\n'));
  const yaml = (type: string, body: string) => `_meta:\n  type: "${type}"\n  config_version: 2\n${body}`;
  writeFileSync(join(sec, 'config.yml'), yaml('config', [
    'config:', '  dynamic:', '    http:', '      anonymous_auth_enabled: false', '    authc:', '      basic:',
    '        http_enabled: true', '        transport_enabled: true', '        order: 0',
    '        http_authenticator: { type: basic, challenge: false }', '        authentication_backend: { type: intern }', '',
  ].join('\n')));
  writeFileSync(join(sec, 'internal_users.yml'), yaml('internalusers', [master, ...others]
    .map((u) => `${u.name}:\n  hash: "${STAND_IN_HASH}"\n  backend_roles: ["${u.arn}"]\n`).join('')));
  writeFileSync(join(sec, 'roles_mapping.yml'), yaml('rolesmapping',
    ['all_access', 'security_manager'].map((r) => `${r}:\n  reserved: false\n  backend_roles: ["${master.arn}"]\n`).join('')));
  // The plugin's shipped defaults for the rest (built-in roles and action groups are static).
  for (const f of ['roles.yml', 'action_groups.yml', 'tenants.yml', 'nodes_dn.yml', 'allowlist.yml', 'audit.yml']) {
    writeFileSync(join(sec, f), readFileSync(join(SECURITY_PLUGIN_DIR, 'config', f)));
  }
}

/**
 * Starts a secured node with `master` mapped like an IAM master user and `others` authenticated but
 * mapped to nothing. Resolves when the cluster answers the master's health request.
 * @throws Error when the plugin is not unpacked, openssl fails or the node does not start
 */
export async function startSecuredOpenSearch(master: StandIn, others: StandIn[], opts: { timeoutMs?: number } = {}): Promise<SecuredOpenSearch> {
  const basic = (name: string) => `Basic ${Buffer.from(`${name}:${STAND_IN_PASSWORD}`).toString('base64')}`;
  const node = await startOpenSearchLocal({
    timeoutMs: opts.timeoutMs,
    extraClasspath: securityPluginClasspath(),
    extraPlugins: ['org.opensearch.security.OpenSearchSecurityPlugin'],
    prepareHome: (home) => writeConfig(home, master, others),
    healthAuthorization: basic(master.name),
  });
  const r = await fetch(`${node.url}/${AUDIT_INDEX}`, { method: 'PUT', headers: { authorization: basic(master.name) } });
  if (!r.ok) {
    await node.stop();
    throw new Error(`creating ${AUDIT_INDEX} failed: HTTP ${r.status} ${await r.text()}`);
  }
  return Object.assign(node, { authorization: basic });
}
