/**
 * TemporalCertificates (lib/security/certificates.ts) in a stack of its own: secrets (retained, on the
 * configured key), rotation schedules, the custom resource, the handler's IAM scoped to exactly
 * these secrets and the Private CA, grantRead for the task roles, synth-time errors, cdk-nag and
 * cfn-lint (the platform's own nag and cfn-lint tests cover the construct as wired in the stack). The handler itself is tested in test/certificates/handler.test.ts.
 */
import { App, CfnParameter, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { AwsSolutionsChecks } from 'cdk-nag';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { TemporalCertificates, TemporalCertificatesProps } from '../../lib/security/certificates';
import { cdkJsonContext, REPO, tempDir } from './helpers';

const PCA = 'arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/0b7a4c52-8a11-4a8a-9d57-3c0e8e1f2a10';
const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';

type Resources = Record<string, { Type: string; Properties?: any; DependsOn?: string[]; DeletionPolicy?: string; UpdateReplacePolicy?: string }>;

/**
 * The construct in a stack of its own. `bundle` runs the handler's real esbuild bundling (no
 * Docker); the other builds skip it (about 1.5 s each) through `aws:cdk:bundling-stacks`.
 */
function build(props: TemporalCertificatesProps = {}, o: { key?: boolean; bundle?: boolean } = {}) {
  const outdir = tempDir('certs');
  const context = { ...cdkJsonContext({ quick: true }), ...(o.bundle ? { 'aws:cdk:bundling-stacks': ['**'] } : {}) };
  const app = new App({ context, outdir });
  const stack = new Stack(app, 'Temporal-certs', { env: { account: '123456789012', region: 'eu-west-1' } });
  const nlb = new CfnParameter(stack, 'NlbDnsName', { default: 'temporal-frontend-0123456789abcdef.elb.eu-west-1.amazonaws.com' });
  const certs = new TemporalCertificates(stack, 'Certificates', {
    ...props,
    encryptionKey: o.key ? kms.Key.fromKeyArn(stack, 'Key', KEY) : undefined,
  });
  certs.addFrontendDnsName(nlb.valueAsString);
  const taskRole = new iam.Role(stack, 'TaskRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
  certs.grantRead(taskRole);
  const template = Template.fromStack(stack);
  return { app, stack, certs, template, resources: template.toJSON().Resources as Resources, outdir };
}

function idOf(resources: Resources, type: string, prefix: string): string {
  const ids = Object.keys(resources).filter((k) => resources[k].Type === type && k.startsWith(prefix));
  expect(ids).toHaveLength(1);
  return ids[0];
}

/** Every statement of the handler role's policies. */
function handlerStatements(b: ReturnType<typeof build>): any[] {
  const roleId = b.stack.getLogicalId(b.certs.node.findChild('HandlerRole').node.defaultChild as any);
  return Object.values(b.resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: any) => x.Ref === roleId))
    .flatMap((r) => r.Properties.PolicyDocument.Statement);
}

const asList = (v: unknown) => (Array.isArray(v) ? v : [v]);

describe('stack CA mode (default)', () => {
  const b = build({}, { key: true, bundle: true });
  const ca = idOf(b.resources, 'AWS::SecretsManager::Secret', 'CertificatesCaSecret');
  const internode = idOf(b.resources, 'AWS::SecretsManager::Secret', 'CertificatesInternodeSecret');
  const frontend = idOf(b.resources, 'AWS::SecretsManager::Secret', 'CertificatesFrontendSecret');
  const cr = idOf(b.resources, 'Custom::TemporalCertificates', 'Certificates');

  test('three secrets, retained on delete and replace (deleted by a rolled-back create), on the configured KMS key; no key material in the template', () => {
    for (const id of [ca, internode, frontend]) {
      expect(b.resources[id]).toMatchObject({ DeletionPolicy: 'RetainExceptOnCreate', UpdateReplacePolicy: 'Retain', Properties: { KmsKeyId: KEY } });
      expect(b.resources[id].Properties.SecretString).toBeUndefined();
    }
    expect(JSON.stringify(b.template.toJSON())).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
  });

  test('rotation every 60 days (90-day leaves renewed 30 days before expiry), not at creation, after the first issuance', () => {
    b.template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 2);
    for (const id of [internode, frontend]) {
      b.template.hasResource('AWS::SecretsManager::RotationSchedule', {
        Properties: {
          SecretId: { Ref: id },
          RotationLambdaARN: { 'Fn::GetAtt': [Match.stringLikeRegexp('^CertificatesHandler'), 'Arn'] },
          RotationRules: { ScheduleExpression: 'rate(60 days)' },
          RotateImmediatelyOnUpdate: false,
        },
        DependsOn: Match.arrayWith([cr]),
      });
    }
    expect(b.certs.rotationDays).toBe(60);
  });

  test('the two certificate secrets deny DeleteSecret to the account root (resource policy from the rotation schedule)', () => {
    const policies = Object.values(b.resources).filter((r) => r.Type === 'AWS::SecretsManager::ResourcePolicy' && r.Properties.SecretId.Ref !== ca);
    expect(policies.map((p) => p.Properties.SecretId.Ref).sort()).toEqual([frontend, internode].sort());
    for (const p of policies) {
      expect(p.Properties.ResourcePolicy.Statement).toEqual([expect.objectContaining({ Effect: 'Deny', Action: 'secretsmanager:DeleteSecret' })]);
    }
  });

  test('only this account\'s Secrets Manager may invoke the rotation function (SourceAccount; checkov CKV_AWS_364)', () => {
    const perms = Object.values(b.resources).filter((r) => r.Type === 'AWS::Lambda::Permission' && r.Properties.Principal === 'secretsmanager.amazonaws.com');
    expect(perms.map((p) => p.Properties.SourceAccount)).toEqual(['123456789012']);
  });

  test('the custom resource and the rotation read the same configuration: both secrets, the CA secret, the NLB name', () => {
    const props = b.resources[cr].Properties;
    const fnId = Object.keys(b.resources).find((k) => b.resources[k].Type === 'AWS::Lambda::Function' && k.startsWith('CertificatesHandler'))!;
    expect(b.resources[fnId].Properties.Environment.Variables.CERTIFICATES_CONFIG).toEqual(props.Config);
    const text = JSON.stringify(props.Config);
    for (const id of [ca, internode, frontend]) expect(text).toContain(`{"Ref":"${id}"}`);
    expect(text).toContain('{"Ref":"NlbDnsName"}');
    expect(text).toContain('frontend.temporal.internal');
    expect(text).toContain('internode.temporal.internal');
    expect(text).toMatch(/\\"leafValidityDays\\":90,\\"renewBeforeDays\\":30/);
    expect(text).toMatch(/\\"caValidityDays\\":3650/);
    expect(b.stack.resolve(b.certs.caBundle)).toEqual({ 'Fn::GetAtt': [cr, 'CaBundle'] });
  });

  test('the handler role reaches exactly the three secrets (and their key through Secrets Manager)', () => {
    const statements = handlerStatements(b);
    const sm = statements.filter((s) => asList(s.Action).some((a: string) => a.startsWith('secretsmanager:')));
    const resources = sm.flatMap((s) => asList(s.Resource));
    // GetRandomPassword is added by aws-cdk-lib's RotationSchedule and has no resource type.
    expect(sm.filter((s) => s.Resource === '*').map((s) => s.Action)).toEqual(['secretsmanager:GetRandomPassword']);
    expect(new Set(resources.filter((r) => r !== '*').map((r) => JSON.stringify(r))))
      .toEqual(new Set([ca, internode, frontend].map((id) => JSON.stringify({ Ref: id }))));
    const actionsOn = (id: string) => new Set(sm.filter((s) => asList(s.Resource).some((r: any) => r.Ref === id)).flatMap((s) => asList(s.Action)));
    for (const id of [internode, frontend]) {
      expect(actionsOn(id)).toEqual(new Set(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage']));
    }
    expect(actionsOn(ca)).toEqual(new Set(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']));
    const kmsStatements = statements.filter((s) => asList(s.Action).some((a: string) => a.startsWith('kms:')));
    expect(kmsStatements.length).toBeGreaterThan(0);
    for (const s of kmsStatements) expect(s.Resource).toBe(KEY);
    expect(statements.some((s) => asList(s.Action).some((a: string) => a.startsWith('acm-pca:')))).toBe(false);
  });

  test('grantRead gives a task role GetSecretValue on both certificates and nothing on the CA', () => {
    const roleId = idOf(b.resources, 'AWS::IAM::Role', 'TaskRole');
    const st = Object.values(b.resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: any) => x.Ref === roleId))
      .flatMap((r) => r.Properties.PolicyDocument.Statement);
    const sm = st.filter((s) => asList(s.Action).includes('secretsmanager:GetSecretValue'));
    expect(new Set(sm.flatMap((s) => asList(s.Resource)).map((r) => r.Ref))).toEqual(new Set([internode, frontend]));
    expect(JSON.stringify(st)).not.toContain(ca);
    expect(st.filter((s) => asList(s.Action).includes('kms:Decrypt')).every((s) => s.Resource === KEY)).toBe(true);
  });

  test('the handler is bundled by local esbuild (no Docker) and the bundle loads in plain Node', () => {
    b.app.synth();
    const fnId = Object.keys(b.resources).find((k) => b.resources[k].Type === 'AWS::Lambda::Function' && k.startsWith('CertificatesHandler'))!;
    const key: string = b.resources[fnId].Properties.Code.S3Key;
    const bundle = path.join(b.outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.js');
    expect(fs.existsSync(bundle)).toBe(true);
    const r = spawnSync(process.execPath, ['-e', `const m = require(${JSON.stringify(bundle)}); process.stdout.write(typeof m.handler)`], { encoding: 'utf8' });
    expect(r.stdout).toBe('function');
  });

  test('cdk-nag AwsSolutions: no unacknowledged finding', () => {
    b.app.synth();
    expect(new AwsSolutionsChecks(b.app).validateScope(b.app).violations).toEqual([]);
  });

  test('cfn-lint: no error or warning on the template', () => {
    const file = path.join(b.outdir, 'Temporal-certs.template.json');
    fs.writeFileSync(file, JSON.stringify(b.template.toJSON()));
    const r = spawnSync(path.join(REPO, '.venv', 'bin', 'cfn-lint'), ['--format', 'parseable', '--ignore-checks', 'W3005', '--', file], { encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('AWS Private CA mode', () => {
  const b = build({ privateCaArn: PCA, leafValidity: Duration.days(30), renewBefore: Duration.days(10) });

  test('no CA secret; two retained certificate secrets; rotation every 20 days', () => {
    b.template.resourceCountIs('AWS::SecretsManager::Secret', 2);
    expect(b.certs.caSecret).toBeUndefined();
    b.template.allResourcesProperties('AWS::SecretsManager::RotationSchedule', { RotationRules: { ScheduleExpression: 'rate(20 days)' } });
    const cr = idOf(b.resources, 'Custom::TemporalCertificates', 'Certificates');
    expect(JSON.stringify(b.resources[cr].Properties.Config)).toContain(`\\"privateCaArn\\":\\"${PCA}\\"`);
    expect(JSON.stringify(b.resources[cr].Properties.Config)).not.toContain('caSecretArn');
  });

  test('acm-pca actions on exactly that CA, IssueCertificate only with the two end-entity templates', () => {
    const pca = handlerStatements(b).filter((s) => asList(s.Action).some((a: string) => a.startsWith('acm-pca:')));
    expect(pca.every((s) => s.Resource === PCA)).toBe(true);
    expect(new Set(pca.flatMap((s) => asList(s.Action)))).toEqual(new Set([
      'acm-pca:DescribeCertificateAuthority', 'acm-pca:GetCertificateAuthorityCertificate', 'acm-pca:GetCertificate', 'acm-pca:IssueCertificate',
    ]));
    const issue = pca.find((s) => asList(s.Action).includes('acm-pca:IssueCertificate'));
    expect(asList(issue.Action)).toEqual(['acm-pca:IssueCertificate']);
    expect(issue.Condition).toEqual({ StringEquals: { 'acm-pca:TemplateArn': [
      'arn:aws:acm-pca:::template/EndEntityCertificate/V1', 'arn:aws:acm-pca:::template/EndEntityServerAuthCertificate/V1',
    ] } });
  });

  test('cdk-nag AwsSolutions: no unacknowledged finding', () => {
    b.app.synth();
    expect(new AwsSolutionsChecks(b.app).validateScope(b.app).violations).toEqual([]);
  });
});

describe('synth-time errors', () => {
  test.each([
    ['leafValidity 36 hours', { leafValidity: Duration.hours(36) }, 'leafValidity must be a whole number of days from 2 to 825, got 1 day 12 hours'],
    ['leafValidity 900 days', { leafValidity: Duration.days(900) }, 'leafValidity must be a whole number of days from 2 to 825, got 900 days'],
    ['renewBefore equal to leafValidity', { renewBefore: Duration.days(90) }, 'renewBefore must be a whole number of days from 1 to 89, got 90 days'],
    ['caValidity not longer than leafValidity', { caValidity: Duration.days(90) }, 'caValidity must be a whole number of days from 91 to 36500, got 90 days'],
    ['caGeneration 0', { caGeneration: 0 }, 'caGeneration must be an integer from 1 to 1000, got 0'],
    ['caCommonName of 57 characters', { caCommonName: 'x'.repeat(57) }, 'caCommonName must have 1 to 56 characters'],
  ])('%s', (_label, props, message) => {
    expect(() => build(props as TemporalCertificatesProps)).toThrow(message);
  });

  test('more than 19 frontend names', () => {
    const names = Array.from({ length: 20 }, (_, i) => `n${i}.example.com`);
    expect(() => build({ frontendDnsNames: names })).toThrow('the frontend certificate takes at most 19 names besides frontend.temporal.internal, got one more: n19.example.com');
  });
});
