/**
 * The platform KMS key (issue 24 item 2; lib/security/platform-key.ts) in the prod app as
 * bin/app.ts builds it: created with rotation and retained, its policy naming CloudWatch Logs (with
 * the encryption-context condition) and CloudWatch alarms, and used by the three certificate
 * secrets, every log group, the backup vault, the archival bucket and the alarm topic; the CA
 * secret readable only by the certificates function (and the root); `security.kmsKeyArn` imports
 * a key instead, and a bad value is refused naming field, value and what is allowed; dev has no key.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import { ConfigError, resolveConfig } from '../../lib/config';
import { buildApp } from './helpers';

type Resources = Record<string, { Type: string; Properties?: any; DeletionPolicy?: string }>;
const KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/0b7a4c52-8a11-4a8a-9d57-3c0e8e1f2a10';

function resourcesOf(env: string, environments = { ...ENVIRONMENTS }): Resources {
  const { stack } = buildApp(env, environments, { quick: true });
  return Template.fromStack(stack).toJSON().Resources;
}
const ofType = (r: Resources, type: string) => Object.entries(r).filter(([, v]) => v.Type === type);

describe('prod: the created platform key', () => {
  const r = resourcesOf('prod');
  const keys = ofType(r, 'AWS::KMS::Key');
  const keyId = keys[0][0];
  const keyArn = { 'Fn::GetAtt': [keyId, 'Arn'] };

  test('one key, yearly rotation, retained (except by a rolled-back create, like every kept resource)', () => {
    expect(keys).toHaveLength(1);
    expect(keys[0][1]).toMatchObject({ DeletionPolicy: 'RetainExceptOnCreate', Properties: { EnableKeyRotation: true } });
  });

  test('key policy: CloudWatch Logs of this Region for this account\'s log groups only; CloudWatch alarms of this account', () => {
    const st = keys[0][1].Properties.KeyPolicy.Statement;
    const logs = st.find((s: any) => s.Sid === 'CloudWatchLogsOfThisAccount');
    expect(JSON.stringify(logs.Principal)).toContain('logs.');
    expect(logs.Condition.ArnLike['kms:EncryptionContext:aws:logs:arn']['Fn::Join'][1]).toEqual(
      expect.arrayContaining([':logs:', { Ref: 'AWS::Region' }, { Ref: 'AWS::AccountId' }, ':log-group:*']));
    const cw = st.find((s: any) => s.Sid === 'CloudWatchAlarmsToEncryptedTopic');
    expect(cw).toMatchObject({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } } });
  });

  test('key policy: EventBridge may use it, so the rules that publish to the encrypted alarm topic (backup jobs, certificate rotation) deliver', () => {
    const topicArn = { Ref: ofType(r, 'AWS::SNS::Topic')[0][0] };
    const rules = ofType(r, 'AWS::Events::Rule').filter(([, v]) => (v.Properties.Targets ?? []).some((t: any) => JSON.stringify(t.Arn) === JSON.stringify(topicArn)));
    expect(rules.map(([id]) => id).sort()).toEqual([expect.stringMatching(/^ObservabilityBackupJobFailures/), expect.stringMatching(/^ObservabilityCertificateRotationFailures/)]);
    // Published by EventBridge itself (no target role), so SNS asks KMS on behalf of events.amazonaws.com:
    // the key policy must name it (Amazon EventBridge User Guide, "Amazon SNS permissions", encrypted topics).
    expect(rules.every(([, v]) => v.Properties.Targets.every((t: any) => t.RoleArn === undefined))).toBe(true);
    const st = keys[0][1].Properties.KeyPolicy.Statement;
    expect(st).toContainEqual({ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Resource: '*' });
  });

  test('every log group, the three secrets, the vault, the archival bucket and the alarm topic use it', () => {
    const groups = ofType(r, 'AWS::Logs::LogGroup');
    expect(groups.length).toBeGreaterThanOrEqual(19);
    expect(groups.filter(([, g]) => JSON.stringify(g.Properties.KmsKeyId) !== JSON.stringify(keyArn)).map(([id]) => id)).toEqual([]);
    const secrets = ofType(r, 'AWS::SecretsManager::Secret').filter(([id]) => id.startsWith('Certificates'));
    expect(secrets.map(([, s]) => s.Properties.KmsKeyId)).toEqual([keyArn, keyArn, keyArn]);
    expect(ofType(r, 'AWS::Backup::BackupVault').map(([, v]) => v.Properties.EncryptionKeyArn)).toEqual([keyArn]);
    const archival = ofType(r, 'AWS::S3::Bucket').filter(([id]) => id.startsWith('Archival'));
    expect(archival.map(([, b]) => b.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault))
      .toEqual([{ SSEAlgorithm: 'aws:kms', KMSMasterKeyID: keyArn }]);
    expect(ofType(r, 'AWS::SNS::Topic').map(([, t]) => t.Properties.KmsMasterKeyId)).toEqual([keyArn]);
  });

  test('the CA secret denies GetSecretValue to every principal but the certificates function and the account root', () => {
    const ca = ofType(r, 'AWS::SecretsManager::Secret').find(([id]) => id.startsWith('CertificatesCaSecret'))![0];
    const policy = ofType(r, 'AWS::SecretsManager::ResourcePolicy').find(([, p]) => p.Properties.SecretId.Ref === ca)![1];
    const deny = policy.Properties.ResourcePolicy.Statement.find((s: any) => s.Sid === 'OnlyTheCertificatesFunctionReadsTheCa');
    expect(deny).toMatchObject({ Effect: 'Deny', Principal: { AWS: '*' }, Action: 'secretsmanager:GetSecretValue' });
    const allowed = deny.Condition.StringNotEquals['aws:PrincipalArn'];
    expect(allowed[0]).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^CertificatesHandlerRole/), 'Arn'] });
    expect(JSON.stringify(allowed[1])).toMatch(/:iam::.*AWS::AccountId.*:root/);
  });
});

test('security.kmsKeyArn: that key is used and none is created', () => {
  const r = resourcesOf('prod', { ...ENVIRONMENTS, prod: { ...ENVIRONMENTS.prod, security: { ...ENVIRONMENTS.prod.security, kmsKeyArn: KEY_ARN } } });
  expect(ofType(r, 'AWS::KMS::Key')).toEqual([]);
  expect(ofType(r, 'AWS::Logs::LogGroup').every(([, g]) => g.Properties.KmsKeyId === KEY_ARN)).toBe(true);
  expect(ofType(r, 'AWS::SNS::Topic').map(([, t]) => t.Properties.KmsMasterKeyId)).toEqual([KEY_ARN]);
});

test('dev: no platform key (AWS managed keys)', () => {
  const r = resourcesOf('dev');
  expect(ofType(r, 'AWS::KMS::Key')).toEqual([]);
  expect(ofType(r, 'AWS::Logs::LogGroup').filter(([, g]) => g.Properties.KmsKeyId !== undefined)).toEqual([]);
});

test.each([
  ['an alias', 'alias/temporal', /allowed: a KMS key ARN \(arn:aws:kms:<region>:<account>:key\/<id>\), not an alias/],
  ['another Region', 'arn:aws:kms:eu-west-1:123456789012:key/0b7a4c52-8a11-4a8a-9d57-3c0e8e1f2a10', /a KMS key in env.region us-east-1/],
])('security.kmsKeyArn refused: %s', (_name, value, message) => {
  let error: unknown;
  try {
    resolveConfig('prod', { ...ENVIRONMENTS.prod, security: { ...ENVIRONMENTS.prod.security, kmsKeyArn: value } });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).field).toBe('prod.security.kmsKeyArn');
  expect((error as Error).message).toContain(`prod.security.kmsKeyArn = "${value}"`);
  expect((error as Error).message).toMatch(message);
});
