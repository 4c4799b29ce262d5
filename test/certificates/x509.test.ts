/**
 * The X.509 helpers of the certificates handler (lambda/security/certificates/x509.ts) on a chain
 * with an intermediate CA, which the stack CA never makes but an AWS Private CA hierarchy does:
 * the published bundle keeps only the roots, and openssl accepts a leaf against those roots when
 * the intermediate comes with the leaf (as the servers send it).
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { spawnSync } from 'child_process';
import { webcrypto, X509Certificate } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CaMaterial, createSelfSignedCa, generateKeyPair, issueLeaf, joinPem, reasonToReplace, splitPem, trustAnchors } from '../../lambda/security/certificates/x509';

let work: string;
beforeAll(() => { work = fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-x509-')); });
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = path.join(work, name);
  fs.writeFileSync(p, text);
  return p;
}

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/**
 * A CA certificate for the fixtures (the handler never makes an intermediate): self-signed when
 * `parent` is absent, else signed by it. The stack CA (createSelfSignedCa) has pathlen 0, so it
 * cannot be the root of a chain with an intermediate; this root allows one.
 */
async function caFixture(cn: string, parent?: CaMaterial): Promise<CaMaterial> {
  const pair = await generateKeyPair();
  const signer = parent ? await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(parent.privateKey), EC, false, ['sign']) : pair.keys.privateKey;
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${cn}`, issuer: parent ? new x509.X509Certificate(parent.certificate).subjectName : `CN=${cn}`,
    notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 400 * 86_400_000),
    publicKey: pair.keys.publicKey, signingKey: signer as any, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.BasicConstraintsExtension(true, parent ? 0 : 1, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  return { certificate: cert.toString('pem'), privateKey: pair.privateKey };
}

test('trustAnchors keeps the root of a chain; a leaf of the intermediate verifies against it with the intermediate sent along', async () => {
  const root = await caFixture('Example Root');
  const issuing = await caFixture('Example Issuing CA', root);
  const bundle = joinPem([issuing.certificate, root.certificate]);
  expect(splitPem(bundle)).toHaveLength(2);
  const anchors = trustAnchors(bundle);
  expect(splitPem(anchors)).toEqual(splitPem(root.certificate));

  const leaf = await issueLeaf(issuing, { dnsNames: ['frontend.temporal.internal'], usage: 'server' }, 90);
  const ok = spawnSync('openssl', ['verify', '-CAfile', file('anchors.pem', anchors), '-untrusted', file('chain.pem', issuing.certificate), '-purpose', 'sslserver', file('leaf.pem', leaf.certificate)], { encoding: 'utf8' });
  expect(ok.stdout + ok.stderr).toMatch(/leaf\.pem: OK/);
  // Without the intermediate the root alone cannot verify it (the check can fail).
  const bare = spawnSync('openssl', ['verify', '-CAfile', file('anchors2.pem', anchors), file('leaf2.pem', leaf.certificate)], { encoding: 'utf8' });
  expect(bare.status).not.toBe(0);
  // The stack CA (pathlen 0) refuses to be the root of an intermediate.
  const stackCa = await createSelfSignedCa('Stack CA', 3650);
  const mid = await caFixture('Under stack CA', stackCa);
  const under = await issueLeaf(mid, { dnsNames: ['x.example'], usage: 'server' }, 30);
  const refused = spawnSync('openssl', ['verify', '-CAfile', file('stack.pem', stackCa.certificate), '-untrusted', file('mid.pem', mid.certificate), file('under.pem', under.certificate)], { encoding: 'utf8' });
  expect(refused.stdout + refused.stderr).toMatch(/path length constraint exceeded/);
  // The leaf counts as signed by the issuing CA, not by the root.
  const spec = { dnsNames: ['frontend.temporal.internal'], usage: 'server' as const };
  expect(reasonToReplace({ ...leaf, issuers: [issuing.certificate], spec, renewBeforeDays: 30 })).toBeUndefined();
  expect(reasonToReplace({ ...leaf, issuers: [root.certificate], spec, renewBeforeDays: 30 })).toBe('the certificate was not signed by the current CA');
});

test('reasonToReplace: a key that is not the certificate\'s, other EKUs, expiry inside the renewal window', async () => {
  const ca = await createSelfSignedCa('Example Root', 3650);
  const spec = { dnsNames: ['internode.temporal.internal'], usage: 'server+client' as const };
  const a = await issueLeaf(ca, spec, 90);
  const b = await issueLeaf(ca, spec, 90);
  expect(reasonToReplace({ certificate: a.certificate, privateKey: b.privateKey, issuers: [ca.certificate], spec, renewBeforeDays: 30 }))
    .toBe('the stored private key does not belong to the certificate');
  expect(reasonToReplace({ ...a, issuers: [ca.certificate], spec: { ...spec, usage: 'server' }, renewBeforeDays: 30 }))
    .toBe('its extended key usages 1.3.6.1.5.5.7.3.1,1.3.6.1.5.5.7.3.2 are not those of server');
  const notAfter = new Date(new X509Certificate(a.certificate).validTo).toISOString();
  expect(reasonToReplace({ ...a, issuers: [ca.certificate], spec, renewBeforeDays: 30, now: new Date(Date.now() + 61 * 86_400_000) }))
    .toBe(`it expires on ${notAfter}, within 30 days`);
  expect(reasonToReplace({ ...a, issuers: [ca.certificate], spec, renewBeforeDays: 30, now: new Date(Date.now() + 59 * 86_400_000) })).toBeUndefined();
});
