/**
 * Test certificates for the local stack's TLS, made with the `openssl` CLI (installed by
 * scripts/setup.sh): a CA, the internode certificate and the frontend certificate, written as the
 * server's `TEMPORAL_TLS_DIR` expects them (docs/server-container.md, "TLS"):
 *
 * | file | what |
 * |---|---|
 * | `ca.pem` | the CA certificate every role and client trusts |
 * | `internode.pem` / `internode.key` | one certificate for all roles, serverAuth + clientAuth, DNS SAN `internode.temporal.internal` |
 * | `frontend.pem` / `frontend.key` | the frontend's server certificate, SANs `frontend.temporal.internal`, `localhost`, IP 127.0.0.1 |
 *
 * Keys are EC P-256 in PKCS#8 PEM, files 0600; certificates last `days` (default 2).
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** DNS SAN of the internode certificate, the name roles verify each other with. */
export const INTERNODE_SERVER_NAME = 'internode.temporal.internal';
/** DNS SAN of the frontend certificate that local clients verify (`serverNameOverride`). */
export const FRONTEND_SERVER_NAME = 'frontend.temporal.internal';

/** A CA on disk. */
export interface LocalCa {
  /** PEM certificate file. */
  readonly certFile: string;
  /** PEM private key file (0600). */
  readonly keyFile: string;
  /** The certificate, PEM. */
  readonly certPem: Buffer;
}

/** A certificate and key pair on disk. */
export interface LocalCertPair {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (e) {
    throw new Error(`openssl ${args[0]} failed (is openssl installed? scripts/setup.sh installs it): ${(e as { stderr?: string }).stderr ?? (e as Error).message}`);
  }
}

/**
 * Creates a self-signed CA `<dir>/<name>.pem` + `<name>-key.pem`.
 * @param days validity in days @default 2
 * @throws Error with openssl's message when it fails
 */
export async function createCa(dir: string, name: string, commonName: string, days = 2): Promise<LocalCa> {
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}-key.pem`);
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', String(days), '-subj', `/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  chmodSync(keyFile, 0o600);
  return { certFile, keyFile, certPem: readFileSync(certFile) };
}

/**
 * Issues a leaf certificate signed by `ca` with both serverAuth and clientAuth usage.
 * @param sans subjectAltName entries, e.g. `['DNS:frontend.temporal.internal', 'IP:127.0.0.1']`
 * @param days validity in days @default 2
 */
export async function issueCert(ca: LocalCa, dir: string, name: string, sans: readonly string[], days = 2): Promise<LocalCertPair> {
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth,clientAuth',
      `subjectAltName=${sans.join(',')}`,
    ].join('\n') + '\n',
  );
  const cn = (sans.find((s) => s.startsWith('DNS:')) ?? `DNS:${name}`).slice(4);
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cn}`]);
  chmodSync(keyFile, 0o600);
  await openssl([
    'x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', `0x${Date.now().toString(16)}${Math.floor(Math.random() * 1e6).toString(16)}`,
    '-days', String(days), '-extfile', ext, '-out', certFile,
  ]);
  rmSync(csr);
  rmSync(ext);
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

/** The files of a `TEMPORAL_TLS_DIR`. */
export interface LocalTlsDir {
  readonly dir: string;
  readonly ca: LocalCa;
  /** `<dir>/ca.pem` contents. */
  readonly caPem: Buffer;
  readonly internode: LocalCertPair;
  readonly frontend: LocalCertPair;
}

/**
 * Writes a complete `TEMPORAL_TLS_DIR` into `dir` (the CA's key stays in `<dir>/private/`, which
 * the server never reads).
 */
export async function createTlsDir(dir: string, days = 2): Promise<LocalTlsDir> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await createCa(join(dir, 'private'), 'ca', 'Temporal local test CA', days);
  writeFileSync(join(dir, 'ca.pem'), ca.certPem, { mode: 0o600 });
  const internode = await issueCert(ca, dir, 'internode', [`DNS:${INTERNODE_SERVER_NAME}`], days);
  const frontend = await issueCert(ca, dir, 'frontend', [`DNS:${FRONTEND_SERVER_NAME}`, 'DNS:localhost', 'IP:127.0.0.1'], days);
  return { dir, ca, caPem: ca.certPem, internode, frontend };
}
