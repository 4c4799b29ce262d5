/**
 * Archival of closed workflows (lib/archival/archival.ts) and the `archival` config section
 * (lib/archival/config.ts): the bucket's protections, the server role's exact S3 permissions and
 * the containers' archival settings.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import { ConfigError, resolveConfig } from '../../lib/config';
import { ARCHIVER_BUCKET_ACTIONS, ARCHIVER_KMS_ACTIONS, ARCHIVER_OBJECT_ACTIONS } from '../../lib/archival/archival';
import { TemporalPlatformStack } from '../../lib/platform-stack';
import { buildApp } from './helpers';

const KEY = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';

function synth(envName: 'dev' | 'prod', overrides: Record<string, unknown> = {}): { t: Template; stack: TemporalPlatformStack } {
  const { stack } = buildApp(envName, { ...ENVIRONMENTS, [envName]: { ...ENVIRONMENTS[envName], ...overrides } }, { quick: true });
  return { t: Template.fromStack(stack), stack };
}

/** Every statement of the IAM policies attached to the server task role. */
function serverRoleStatements(t: Template, stack: TemporalPlatformStack): Array<Record<string, any>> {
  const roleId = stack.getLogicalId(stack.serverTaskRole.node.defaultChild as never);
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

const actionsOf = (s: Record<string, any>): string[] => [s.Action].flat();

// Three synths in all (about 3 s each): the prod environment, a variant with a DSQL KMS key and
// another lifecycle, and archival off.
const prod = synth('prod');
const variant = synth('prod', { dsql: { ...ENVIRONMENTS.prod.dsql, kmsKeyArn: KEY }, archival: { transitionDays: 90, storageClass: 'STANDARD_IA' } });

describe('archive bucket', () => {
  const bucketId = prod.stack.getLogicalId(prod.stack.archival!.bucket.node.defaultChild as never);

  test('versioned, SSE-KMS with the platform key when no DSQL key is set (lib/security/platform-key.ts), no public access, bucket owner enforced, retained (except by a rolled-back create)', () => {
    prod.t.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'RetainExceptOnCreate',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        VersioningConfiguration: { Status: 'Enabled' },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^PlatformKey'), 'Arn'] } }, BucketKeyEnabled: true }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      }),
    });
    expect(prod.t.toJSON().Resources[bucketId].DeletionPolicy).toBe('RetainExceptOnCreate');
  });

  test('lifecycle: current and noncurrent objects to GLACIER_IR after 30 days, nothing expires', () => {
    const rules = prod.t.toJSON().Resources[bucketId].Properties.LifecycleConfiguration.Rules;
    expect(rules).toEqual([{
      Id: 'CheaperStorage',
      Status: 'Enabled',
      Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 30 }],
      NoncurrentVersionTransitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 30 }],
    }]);
  });

  test('the lifecycle follows archival.transitionDays and archival.storageClass', () => {
    const { t, stack } = variant;
    const id = stack.getLogicalId(stack.archival!.bucket.node.defaultChild as never);
    expect(t.toJSON().Resources[id].Properties.LifecycleConfiguration.Rules[0].Transitions)
      .toEqual([{ StorageClass: 'STANDARD_IA', TransitionInDays: 90 }]);
  });

  test('TLS only: the bucket policy denies requests without aws:SecureTransport', () => {
    prod.t.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('server access logs go to the access-log bucket (prod has a Region)', () => {
    const logBucketId = prod.stack.getLogicalId(prod.stack.accessLogs!.bucket.node.defaultChild as never);
    expect(prod.t.toJSON().Resources[bucketId].Properties.LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: logBucketId },
      LogFilePrefix: 'archival/',
    });
  });

  test('SSE-KMS with an S3 Bucket Key on dsql.kmsKeyArn when set', () => {
    const { t } = variant;
    t.hasResourceProperties('AWS::S3::Bucket', {
      VersioningConfiguration: { Status: 'Enabled' },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: KEY }, BucketKeyEnabled: true }] },
    });
  });
});

describe('server role and containers', () => {
  const bucketId = prod.stack.getLogicalId(prod.stack.archival!.bucket.node.defaultChild as never);
  const bucketArn = { 'Fn::GetAtt': [bucketId, 'Arn'] };
  const objectsArn = { 'Fn::Join': ['', [bucketArn, '/*']] };

  test('exactly the archiver\'s S3 requests: s3:ListBucket on the bucket, s3:GetObject and s3:PutObject on its objects', () => {
    const s3 = serverRoleStatements(prod.t, prod.stack).filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')));
    expect(s3).toEqual([
      { Effect: 'Allow', Action: [...ARCHIVER_BUCKET_ACTIONS][0], Resource: bucketArn },
      { Effect: 'Allow', Action: [...ARCHIVER_OBJECT_ACTIONS], Resource: objectsArn },
    ]);
    // The platform key, through S3 only (the other kms: statements are the certificate secrets', through Secrets Manager).
    expect(serverRoleStatements(prod.t, prod.stack).filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')) && JSON.stringify(s.Condition).includes('s3.'))
      .map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [prod.stack.getLogicalId(prod.stack.platformKey!.node.defaultChild as never), 'Arn'] }]);
  });

  test('with a KMS key: kms:Decrypt and kms:GenerateDataKey on that key, through S3 only', () => {
    const { t, stack } = variant;
    const kms = serverRoleStatements(t, stack).filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')) && JSON.stringify(s.Condition).includes('s3.'));
    expect(kms).toEqual([{
      Effect: 'Allow',
      Action: [...ARCHIVER_KMS_ACTIONS],
      Resource: KEY,
      Condition: { StringEquals: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' } },
    }]);
  });

  test('every server container gets ARCHIVAL_S3_URI (the bucket) and ARCHIVAL_S3_REGION; the UI does not', () => {
    const defs = Object.values(prod.t.findResources('AWS::ECS::TaskDefinition'));
    let servers = 0;
    for (const d of defs) {
      for (const c of d.Properties.ContainerDefinitions) {
        const env = Object.fromEntries((c.Environment ?? []).map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]));
        if (c.Name === 'temporal') {
          servers++;
          expect(env.ARCHIVAL_S3_URI).toEqual({ 'Fn::Join': ['', ['s3://', { Ref: bucketId }]] });
          expect(env.ARCHIVAL_S3_REGION).toBe('us-east-1');
          expect(env.ARCHIVAL_S3_ENDPOINT).toBeUndefined();
        } else {
          expect(env.ARCHIVAL_S3_URI).toBeUndefined();
        }
      }
    }
    expect(servers).toBe(4);
  });

  test('archival.enabled false: no archive bucket, no archival settings, no S3 permissions', () => {
    // prod's example namespaces archive; with the bucket off they must not (config-namespaces refuses it).
    const namespaces = (ENVIRONMENTS.prod.namespaces ?? []).map((n) => ({ ...n, archival: false }));
    const { t, stack } = synth('prod', { archival: { enabled: false }, namespaces });
    expect(stack.archival).toBeUndefined();
    expect(JSON.stringify(t.toJSON())).not.toContain('ARCHIVAL_S3_URI');
    expect(serverRoleStatements(t, stack).filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')))).toEqual([]);
    t.resourceCountIs('AWS::S3::Bucket', 1); // the access-log bucket only
  });
});

describe('archival config', () => {
  const resolve = (archival: unknown) => resolveConfig('prod', { ...ENVIRONMENTS.prod, archival } as never).archival;

  test('defaults: on, GLACIER_IR after 30 days', () => {
    expect(resolve(undefined)).toEqual({ enabled: true, transitionDays: 30, storageClass: 'GLACIER_IR' });
  });

  test.each([
    [{ storageClass: 'GLACIER' }, 'prod.archival.storageClass = "GLACIER"; allowed: \'STANDARD_IA\' or \'INTELLIGENT_TIERING\' or \'GLACIER_IR\''],
    [{ storageClass: 'STANDARD_IA', transitionDays: 7 }, 'prod.archival.transitionDays = 7; allowed: at least 30 with storageClass STANDARD_IA'],
    [{ transitionDays: -1 }, 'prod.archival.transitionDays = -1; allowed: an integer from 0 to 36500'],
    [{ enabled: 'yes' }, 'prod.archival.enabled = "yes"; allowed: true or false'],
    [{ expireDays: 5 }, 'prod.archival.expireDays = 5; allowed: one of the known fields enabled, transitionDays, storageClass'],
  ])('%j is refused at synth', (input, message) => {
    expect(() => resolve(input)).toThrow(ConfigError);
    expect(() => resolve(input)).toThrow(message);
  });
});
