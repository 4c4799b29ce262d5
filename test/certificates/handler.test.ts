/**
 * The certificates handler (lambda/security/certificates) with real CloudFormation event shapes
 * and real rotation steps, against a moto server (test/support/moto.ts). moto stands in for AWS
 * Secrets Manager and AWS Private CA, which cannot run here; nothing else is a stand-in: keys and
 * certificates are real, and every certificate is checked with the `openssl` command line
 * (installed by scripts/setup.sh; a different X.509 implementation from the one that made it).
 *
 * Limits of the stand-in, said plainly:
 *   - Secrets Manager cannot invoke a rotation Lambda here (moto would need Docker for Lambda), so
 *     the tests call the four rotation steps in the order Secrets Manager calls them, with a fresh
 *     token, as it does;
 *   - moto's GetSecretValue without a stage keeps returning the version that was current before a
 *     rotation's UpdateSecretVersionStage (AWS returns AWSCURRENT), so reads here and in the
 *     handler name the AWSCURRENT stage;
 *   - moto's Private CA signs every leaf for 365 days whatever `Validity` says, and its
 *     EndEntityServerAuthCertificate/V1 template adds no EKU (the real one adds serverAuth), so
 *     the Private CA tests check the chain, the SANs and internode's EKUs, not the frontend's EKU
 *     or the validity.
 */
import {
  ACMPCAClient, CreateCertificateAuthorityCommand, GetCertificateAuthorityCsrCommand, GetCertificateCommand,
  ImportCertificateAuthorityCertificateCommand, IssueCertificateCommand,
} from '@aws-sdk/client-acm-pca';
import {
  CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { execFileSync, spawnSync } from 'child_process';
import { randomUUID, X509Certificate } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CertificateClients, MAX_REASON_CHARS, makeHandler, OnEventResponse } from '../../lambda/security/certificates/handler';
import { createSelfSignedCa, issueLeaf, splitPem } from '../../lambda/security/certificates/x509';
import { MotoServer, startMoto } from '../support/moto';

const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/Temporal-dev/4f6d7a70-c7b4-11f0-9a51-0a1b2c3d4e5f';
const SERVICE_TOKEN = 'arn:aws:lambda:us-east-1:123456789012:function:Temporal-dev-CertificatesProviderframeworkonEvent';
const NLB = 'temporal-dev-frontend-0123456789abcdef.elb.us-east-1.amazonaws.com';
const DAY = 86_400_000;

interface Leaf { certificate: string; privateKey: string; caBundle: string }
type Config = Record<string, unknown>;

let moto: MotoServer;
let clients: CertificateClients;
let sm: SecretsManagerClient;
let pca: ACMPCAClient;
let handler: ReturnType<typeof makeHandler>;
let work: string;
let requestNo = 0;
const logs: string[] = [];

function event(type: 'Create' | 'Update' | 'Delete', config: Config, physicalId?: string): CloudFormationCustomResourceEvent {
  const base = {
    ServiceToken: SERVICE_TOKEN,
    ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/presigned',
    StackId: STACK_ID,
    RequestId: `d3b07384-d9a0-4c9b-8f3e-${String(++requestNo).padStart(12, '0')}`,
    LogicalResourceId: 'CertificatesResource1A2B3C4D',
    ResourceType: 'Custom::TemporalCertificates',
    ResourceProperties: { ServiceToken: SERVICE_TOKEN, Config: JSON.stringify(config) },
  };
  if (type === 'Create') return { ...base, RequestType: 'Create' };
  if (type === 'Update') return { ...base, RequestType: 'Update', PhysicalResourceId: physicalId!, OldResourceProperties: base.ResourceProperties };
  return { ...base, RequestType: 'Delete', PhysicalResourceId: physicalId! };
}

async function run(type: 'Create' | 'Update' | 'Delete', config: Config, physicalId?: string): Promise<OnEventResponse> {
  return (await handler(event(type, config, physicalId))) as OnEventResponse;
}

/** Secrets as the construct creates them: CloudFormation fills each with a generated password first. */
async function newSecret(name: string): Promise<string> {
  const r = await sm.send(new CreateSecretCommand({ Name: `${name}-${randomUUID().slice(0, 8)}`, SecretString: 'Zq8#generated-by-cloudformation' }));
  return r.ARN!;
}

async function current(arn: string): Promise<{ value: string; versionId: string }> {
  const r = await sm.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSCURRENT' }));
  return { value: r.SecretString!, versionId: r.VersionId! };
}

async function leafOf(arn: string): Promise<Leaf> {
  return JSON.parse((await current(arn)).value);
}

async function selfSignedConfig(overrides: Config = {}): Promise<Config> {
  return {
    caSecretArn: await newSecret('ca'),
    caCommonName: 'Temporal-dev CA',
    caValidityDays: 3650,
    caGeneration: 1,
    caTrustNext: false,
    leafValidityDays: 90,
    renewBeforeDays: 30,
    leaves: [
      { name: 'internode', secretArn: await newSecret('internode'), dnsNames: ['internode.temporal.internal'], usage: 'server+client' },
      { name: 'frontend', secretArn: await newSecret('frontend'), dnsNames: ['frontend.temporal.internal', NLB], usage: 'server' },
    ],
    ...overrides,
  };
}

const leaves = (c: Config) => c.leaves as { name: string; secretArn: string; dnsNames: string[] }[];

/** Writes PEM text to a file in the work directory and returns its path. */
function file(name: string, text: string): string {
  const p = path.join(work, `${name}-${randomUUID().slice(0, 8)}.pem`);
  fs.writeFileSync(p, text, { mode: 0o600 });
  return p;
}

function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** `openssl verify` of the leaf (first PEM of `certificate`) against `caBundle`, for a purpose. */
function verify(leaf: Leaf, purpose: 'sslserver' | 'sslclient', caBundle = leaf.caBundle): { status: number | null; out: string } {
  const chain = splitPem(leaf.certificate);
  const args = ['verify', '-CAfile', file('bundle', caBundle), '-purpose', purpose];
  if (chain.length > 1) args.push('-untrusted', file('chain', chain.slice(1).join('')));
  return openssl([...args, file('leaf', chain[0])]);
}

/** `openssl x509 -text` of the leaf. */
function text(pem: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-text', '-in', file('cert', splitPem(pem)[0])], { encoding: 'utf8' });
}

/** Public key of the private key, as openssl derives it, compared with the certificate's. */
function keyMatches(leaf: Leaf): boolean {
  const fromKey = execFileSync('openssl', ['pkey', '-pubout', '-in', file('key', leaf.privateKey)], { encoding: 'utf8' });
  const fromCert = execFileSync('openssl', ['x509', '-noout', '-pubkey', '-in', file('cert', splitPem(leaf.certificate)[0])], { encoding: 'utf8' });
  return fromKey === fromCert;
}

function serial(leaf: Leaf): string {
  return new X509Certificate(splitPem(leaf.certificate)[0]).serialNumber;
}

function daysLeft(pem: string): number {
  return (new Date(new X509Certificate(splitPem(pem)[0]).validTo).getTime() - Date.now()) / DAY;
}

async function rotateAll(secretArn: string, token = randomUUID()): Promise<string> {
  for (const Step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const) {
    await handler({ Step, SecretId: secretArn, ClientRequestToken: token });
  }
  return token;
}

beforeAll(async () => {
  moto = await startMoto();
  const common = { endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials };
  sm = new SecretsManagerClient(common);
  pca = new ACMPCAClient(common);
  clients = { secretsManager: sm, privateCa: pca };
  handler = makeHandler(() => clients);
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-certs-'));
  jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => { logs.push(args.join(' ')); });
});

afterAll(async () => {
  jest.restoreAllMocks();
  await moto?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('stack CA in Secrets Manager', () => {
  let config: Config;
  let physicalId: string;
  let created: OnEventResponse;

  beforeAll(async () => {
    config = await selfSignedConfig();
    created = await run('Create', config);
    physicalId = created.PhysicalResourceId;
  });

  test('Create makes a CA (CA:TRUE, pathlen 0, keyCertSign) and publishes its certificate as CaBundle', async () => {
    const ca = JSON.parse((await current(config.caSecretArn as string)).value);
    expect(ca.authorities).toHaveLength(1);
    expect(ca.authorities[0].generation).toBe(1);
    expect(splitPem(created.Data!.CaBundle)).toEqual(splitPem(ca.authorities[0].certificate));
    const t = text(ca.authorities[0].certificate);
    expect(t).toMatch(/CA:TRUE, pathlen:0/);
    expect(t).toMatch(/Certificate Sign, CRL Sign/);
    expect(t).toMatch(/Subject: CN ?= ?Temporal-dev CA G1/);
    expect(daysLeft(ca.authorities[0].certificate)).toBeGreaterThan(3649);
    expect(created.Data).toMatchObject({ InternodeSecretArn: leaves(config)[0].secretArn, FrontendSecretArn: leaves(config)[1].secretArn, Issued: 'internode,frontend' });
  });

  test('internode: client+server EKU, SAN internode.temporal.internal, 90 days, chains to the CA (openssl verify)', async () => {
    const leaf = await leafOf(leaves(config)[0].secretArn);
    expect(leaf.caBundle).toBe(created.Data?.CaBundle);
    expect(verify(leaf, 'sslserver')).toMatchObject({ status: 0 });
    expect(verify(leaf, 'sslclient')).toMatchObject({ status: 0 });
    const t = text(leaf.certificate);
    expect(t).toMatch(/DNS:internode\.temporal\.internal\s*\n/);
    expect(t).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(t).toMatch(/CA:FALSE/);
    expect(daysLeft(leaf.certificate)).toBeGreaterThan(89.9);
    expect(daysLeft(leaf.certificate)).toBeLessThan(90.1);
    expect(leaf.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----\n/); // PKCS#8
    expect(keyMatches(leaf)).toBe(true);
  });

  test('frontend: server EKU only, SANs frontend.temporal.internal and the NLB name; refused as a client certificate', async () => {
    const leaf = await leafOf(leaves(config)[1].secretArn);
    expect(verify(leaf, 'sslserver')).toMatchObject({ status: 0 });
    const asClient = verify(leaf, 'sslclient');
    expect(asClient.status).not.toBe(0);
    expect(asClient.out).toMatch(/unsuitable certificate purpose/);
    const t = text(leaf.certificate);
    expect(t).toMatch(new RegExp(`DNS:frontend\\.temporal\\.internal, DNS:${NLB.replace(/\./g, '\\.')}`));
    expect(t).toMatch(/X509v3 Extended Key Usage: *\n *TLS Web Server Authentication\s*\n/);
    expect(keyMatches(leaf)).toBe(true);
  });

  test('a leaf is refused by a client trusting another CA', async () => {
    const other = await createSelfSignedCa('Another CA', 30);
    const leaf = await leafOf(leaves(config)[1].secretArn);
    const r = verify(leaf, 'sslserver', other.certificate);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/unable to get local issuer certificate/);
  });

  test('a second Create and an Update with the same configuration write nothing', async () => {
    const arns = [config.caSecretArn as string, ...leaves(config).map((l) => l.secretArn)];
    const before = await Promise.all(arns.map(current));
    const again = await run('Create', config);
    const updated = await run('Update', config, physicalId);
    expect(again.Data).toMatchObject({ Issued: 'none', CaBundle: created.Data?.CaBundle });
    expect(updated).toMatchObject({ PhysicalResourceId: physicalId, Data: { Issued: 'none', CaBundle: created.Data?.CaBundle } });
    expect(await Promise.all(arns.map(current))).toEqual(before);
  });

  test('a changed frontend SAN re-issues the frontend only; the CA and internode stay', async () => {
    const arns = [config.caSecretArn as string, leaves(config)[0].secretArn];
    const before = await Promise.all(arns.map(current));
    const oldFrontend = await leafOf(leaves(config)[1].secretArn);
    const NLB2 = 'temporal-dev-frontend-fedcba9876543210.elb.us-east-1.amazonaws.com';
    config = { ...config, leaves: [leaves(config)[0], { ...leaves(config)[1], dnsNames: ['frontend.temporal.internal', NLB2] }] };
    const r = await run('Update', config, physicalId);
    expect(r.Data?.Issued).toBe('frontend');
    expect(await Promise.all(arns.map(current))).toEqual(before);
    const leaf = await leafOf(leaves(config)[1].secretArn);
    expect(serial(leaf)).not.toBe(serial(oldFrontend));
    expect(text(leaf.certificate)).toMatch(new RegExp(`DNS:${NLB2.replace(/\./g, '\\.')}`));
    expect(text(leaf.certificate)).not.toMatch(new RegExp(NLB.replace(/\./g, '\\.')));
    expect(verify(leaf, 'sslserver')).toMatchObject({ status: 0 });
  });

  test('leaves within renewBeforeDays of expiry are renewed on deploy; the CA stays', async () => {
    const cfg = await selfSignedConfig({ leafValidityDays: 40, renewBeforeDays: 1 });
    await run('Create', cfg);
    const ca = await current(cfg.caSecretArn as string);
    const short = await leafOf(leaves(cfg)[0].secretArn);
    expect(daysLeft(short.certificate)).toBeLessThan(40.1);
    // 40 days left is within a 45-day renewal window: both leaves are replaced by 90-day ones.
    const r = await run('Update', { ...cfg, leafValidityDays: 90, renewBeforeDays: 45 }, 'x');
    expect(r.Data?.Issued).toBe('internode,frontend');
    const renewed = await leafOf(leaves(cfg)[0].secretArn);
    expect(daysLeft(renewed.certificate)).toBeGreaterThan(89.9);
    expect(await current(cfg.caSecretArn as string)).toEqual(ca);
    expect(verify(renewed, 'sslclient')).toMatchObject({ status: 0 });
  });

  test('rotation (createSecret, setSecret, testSecret, finishSecret) replaces the leaf, keeps the CA; a retried createSecret issues nothing', async () => {
    const arn = leaves(config)[0].secretArn;
    const ca = await current(config.caSecretArn as string);
    const old = await leafOf(arn);
    process.env.CERTIFICATES_CONFIG = JSON.stringify(config);
    const token = randomUUID();
    await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
    const pending = (await sm.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSPENDING' }))).SecretString;
    await handler({ Step: 'createSecret', SecretId: arn, ClientRequestToken: token });
    expect((await sm.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSPENDING' }))).SecretString).toBe(pending);
    expect(serial(await leafOf(arn))).toBe(serial(old)); // still current until finishSecret
    await rotateAll(arn, token);
    const d = await sm.send(new DescribeSecretCommand({ SecretId: arn }));
    expect(d.VersionIdsToStages?.[token]).toContain('AWSCURRENT');
    const renewed = await leafOf(arn);
    expect(JSON.stringify(renewed)).toBe(pending);
    expect(serial(renewed)).not.toBe(serial(old));
    expect(renewed.privateKey).not.toBe(old.privateKey);
    expect(verify(renewed, 'sslclient')).toMatchObject({ status: 0 });
    expect(text(renewed.certificate)).toMatch(/DNS:internode\.temporal\.internal\s*\n/);
    expect(await current(config.caSecretArn as string)).toEqual(ca);
  });

  test('testSecret refuses a pending certificate from another CA, and AWSCURRENT stays', async () => {
    const arn = leaves(config)[0].secretArn;
    const before = await current(arn);
    const other = await createSelfSignedCa('Intruder CA', 30);
    const foreign = await issueLeaf(other, { dnsNames: ['internode.temporal.internal'], usage: 'server+client' }, 20);
    const token = randomUUID();
    await sm.send(new PutSecretValueCommand({
      SecretId: arn, ClientRequestToken: token, VersionStages: ['AWSPENDING'],
      SecretString: JSON.stringify({ ...foreign, caBundle: (await leafOf(arn)).caBundle }),
    }));
    await expect(handler({ Step: 'testSecret', SecretId: arn, ClientRequestToken: token }))
      .rejects.toThrow(/rotation testSecret of .*: internode: the pending certificate \(version .*\) fails its test: the certificate was not signed by the current CA/);
    expect(await current(arn)).toEqual(before);
  });

  test('Delete writes nothing and leaves the CA and both certificates in place', async () => {
    const arns = [config.caSecretArn as string, ...leaves(config).map((l) => l.secretArn)];
    const before = await Promise.all(arns.map(current));
    const r = await run('Delete', config, physicalId);
    expect(r).toEqual({ PhysicalResourceId: physicalId });
    expect(await Promise.all(arns.map(current))).toEqual(before);
  });

  test('CA rotation: the next CA is trusted first (bundle only, no re-issue), then signs; the old CA stays trusted for one generation', async () => {
    const cfg = await selfSignedConfig();
    await run('Create', cfg);
    const g1Leaf = await leafOf(leaves(cfg)[0].secretArn);
    const introduce = await run('Update', { ...cfg, caTrustNext: true }, 'x');
    expect(introduce.Data?.Issued).toBe('none');
    expect(splitPem(introduce.Data!.CaBundle)).toHaveLength(2);
    const step1 = await leafOf(leaves(cfg)[0].secretArn);
    expect(serial(step1)).toBe(serial(g1Leaf));
    expect(step1.caBundle).toBe(introduce.Data?.CaBundle);

    const sw = await run('Update', { ...cfg, caGeneration: 2 }, 'x');
    expect(sw.Data?.Issued).toBe('internode,frontend');
    const ca = JSON.parse((await current(cfg.caSecretArn as string)).value);
    expect(ca.authorities.map((a: { generation: number }) => a.generation)).toEqual([1, 2]);
    expect(sw.Data?.CaBundle).toBe(introduce.Data?.CaBundle); // G2 then G1, unchanged
    const g2Leaf = await leafOf(leaves(cfg)[0].secretArn);
    expect(text(g2Leaf.certificate)).toMatch(/Issuer: CN ?= ?Temporal-dev CA G2/);
    // Roles still holding the G1 leaf and roles with the G2 leaf trust each other during the switch.
    expect(verify(g2Leaf, 'sslclient', step1.caBundle)).toMatchObject({ status: 0 });
    expect(verify(g1Leaf, 'sslclient', g2Leaf.caBundle)).toMatchObject({ status: 0 });
    // The G1 leaf is not trusted by G2 alone (the check can fail).
    expect(verify(g1Leaf, 'sslclient', ca.authorities[1].certificate).status).not.toBe(0);
  });

  test('emergency CA replacement: raising caGeneration by two drops the old CA from every bundle at once', async () => {
    const cfg = await selfSignedConfig();
    await run('Create', cfg);
    const g1Leaf = await leafOf(leaves(cfg)[0].secretArn);
    const r = await run('Update', { ...cfg, caGeneration: 3 }, 'x');
    expect(r.Data?.Issued).toBe('internode,frontend');
    const ca = JSON.parse((await current(cfg.caSecretArn as string)).value);
    expect(ca.authorities.map((a: { generation: number }) => a.generation)).toEqual([1, 3]);
    expect(splitPem(r.Data!.CaBundle)).toEqual(splitPem(ca.authorities[1].certificate));
    const g3Leaf = await leafOf(leaves(cfg)[0].secretArn);
    expect(verify(g3Leaf, 'sslclient')).toMatchObject({ status: 0 });
    expect(verify(g1Leaf, 'sslclient', g3Leaf.caBundle).status).not.toBe(0);
  });

  test('no private key in any response or log line', async () => {
    expect(logs.length).toBeGreaterThan(5);
    expect(logs.join('\n')).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    expect(JSON.stringify(created)).not.toMatch(/PRIVATE KEY/);
  });
});

describe('failures in operator words', () => {
  test('a missing CA secret', async () => {
    const cfg = await selfSignedConfig({ caSecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf' });
    await expect(run('Create', cfg)).rejects.toThrow(/^certificates: secret arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf does not exist or has no value; it is created by the stack \(lib\/security\/certificates\.ts\): deploy the stack again$/);
  });

  test('an invalid configuration names the field, the value and what is allowed', async () => {
    const cfg = await selfSignedConfig({ renewBeforeDays: 90 });
    await expect(run('Create', cfg)).rejects.toThrow('invalid properties: certificates configuration: renewBeforeDays = 90; allowed: an integer from 1 to 89');
  });

  test('rotating a secret that is not one of ours', async () => {
    process.env.CERTIFICATES_CONFIG = JSON.stringify(await selfSignedConfig());
    const stranger = await newSecret('stranger');
    await expect(handler({ Step: 'createSecret', SecretId: stranger, ClientRequestToken: randomUUID() }))
      .rejects.toThrow(/is not one of this function's certificate secrets \(internode, frontend\)/);
  });

  test('rotation before the custom resource created the CA', async () => {
    const cfg = await selfSignedConfig();
    process.env.CERTIFICATES_CONFIG = JSON.stringify(cfg);
    await expect(rotateAll(leaves(cfg)[0].secretArn)).rejects.toThrow(/holds no CA generation 1; deploy the stack/);
  });

  test('reasons are trimmed to the CloudFormation limit', async () => {
    const cfg = await selfSignedConfig({ caCommonName: 'x'.repeat(2000) });
    const e = await run('Create', cfg).catch((err: Error) => err);
    expect((e as Error).message.length).toBeLessThanOrEqual(MAX_REASON_CHARS);
    expect((e as Error).message).toMatch(/^invalid properties: certificates configuration: caCommonName = "xxx/);
  });
});

describe('AWS Private CA', () => {
  let caArn: string;

  /** A root CA in moto: create, self-sign its CSR with the RootCACertificate template, import. */
  async function activeRootCa(): Promise<string> {
    const { CertificateAuthorityArn: arn } = await pca.send(new CreateCertificateAuthorityCommand({
      CertificateAuthorityType: 'ROOT',
      CertificateAuthorityConfiguration: { KeyAlgorithm: 'RSA_2048', SigningAlgorithm: 'SHA256WITHRSA', Subject: { CommonName: 'Example Corp Root' } },
    }));
    const { Csr } = await pca.send(new GetCertificateAuthorityCsrCommand({ CertificateAuthorityArn: arn }));
    const { CertificateArn } = await pca.send(new IssueCertificateCommand({
      CertificateAuthorityArn: arn, Csr: Buffer.from(Csr!), SigningAlgorithm: 'SHA256WITHRSA',
      TemplateArn: 'arn:aws:acm-pca:::template/RootCACertificate/V1', Validity: { Type: 'YEARS', Value: 10 },
    }));
    const { Certificate } = await pca.send(new GetCertificateCommand({ CertificateAuthorityArn: arn, CertificateArn }));
    await pca.send(new ImportCertificateAuthorityCertificateCommand({ CertificateAuthorityArn: arn, Certificate: Buffer.from(Certificate!) }));
    return arn!;
  }

  async function pcaConfig(arn: string): Promise<Config> {
    const { caSecretArn: _ignored, ...rest } = await selfSignedConfig();
    return { ...rest, privateCaArn: arn };
  }

  beforeAll(async () => {
    caArn = await activeRootCa();
  });

  test('leaves are issued from a CSR, chain to the Private CA (openssl verify), carry the SANs; CaBundle is the CA certificate', async () => {
    const cfg = await pcaConfig(caArn);
    const r = await run('Create', cfg);
    expect(text(r.Data!.CaBundle)).toMatch(/Subject: CN ?= ?Example Corp Root/);
    const internode = await leafOf(leaves(cfg)[0].secretArn);
    expect(internode.caBundle).toBe(r.Data?.CaBundle);
    expect(verify(internode, 'sslclient')).toMatchObject({ status: 0 });
    expect(verify(internode, 'sslserver')).toMatchObject({ status: 0 });
    expect(text(internode.certificate)).toMatch(/DNS:internode\.temporal\.internal\s*\n/);
    expect(text(internode.certificate)).toMatch(/Issuer: CN ?= ?Example Corp Root/);
    expect(keyMatches(internode)).toBe(true);
    const frontend = await leafOf(leaves(cfg)[1].secretArn);
    expect(verify(frontend, 'sslserver')).toMatchObject({ status: 0 });
    expect(text(frontend.certificate)).toMatch(new RegExp(`DNS:frontend\\.temporal\\.internal, DNS:${NLB.replace(/\./g, '\\.')}`));
    expect(keyMatches(frontend)).toBe(true);
    // No CA secret in this mode.
    expect(cfg.caSecretArn).toBeUndefined();

    // Idempotent for the certificate whose template moto models fully (see the header).
    const before = await current(leaves(cfg)[0].secretArn);
    await run('Create', cfg);
    expect(await current(leaves(cfg)[0].secretArn)).toEqual(before);
  });

  test('rotation through the Private CA', async () => {
    const cfg = await pcaConfig(caArn);
    await run('Create', cfg);
    const arn = leaves(cfg)[0].secretArn;
    const old = await leafOf(arn);
    process.env.CERTIFICATES_CONFIG = JSON.stringify(cfg);
    await rotateAll(arn);
    const renewed = await leafOf(arn);
    expect(serial(renewed)).not.toBe(serial(old));
    expect(verify(renewed, 'sslclient')).toMatchObject({ status: 0 });
  });

  test('a Private CA that is not ACTIVE is reported with what to do', async () => {
    const { CertificateAuthorityArn: pending } = await pca.send(new CreateCertificateAuthorityCommand({
      CertificateAuthorityType: 'ROOT',
      CertificateAuthorityConfiguration: { KeyAlgorithm: 'RSA_2048', SigningAlgorithm: 'SHA256WITHRSA', Subject: { CommonName: 'Not yet' } },
    }));
    await expect(run('Create', await pcaConfig(pending!)))
      .rejects.toThrow(`certificates: AWS Private CA ${pending} is PENDING_CERTIFICATE, not ACTIVE; install its CA certificate or restore it, then deploy again`);
  });
});
