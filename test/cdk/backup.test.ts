/**
 * AWS Backup of the DSQL cluster (lib/dsql/backup.ts) and the `backup` config section (lib/dsql/backup-config.ts).
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import { resolveConfig } from '../../lib/config';
import { buildApp } from './helpers';

function template(envName: 'dev' | 'prod', overrides: Record<string, unknown> = {}): { t: Template; clusterId: string } {
  const { stack } = buildApp(envName, { ...ENVIRONMENTS, [envName]: { ...ENVIRONMENTS[envName], ...overrides } }, { quick: true });
  const t = Template.fromStack(stack);
  const clusterId = stack.getLogicalId(stack.dsqlCluster.resource);
  return { t, clusterId };
}

describe('backup plan of the DSQL cluster', () => {
  const prod = template('prod');

  test('prod: daily at 05:00 UTC, kept 35 days, in the vault temporal-prod-dsql', () => {
    prod.t.resourceCountIs('AWS::Backup::BackupPlan', 1);
    prod.t.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: {
        BackupPlanName: 'temporal-prod-dsql',
        BackupPlanRule: [{
          RuleName: 'Scheduled',
          ScheduleExpression: 'cron(0 5 * * ? *)',
          Lifecycle: { DeleteAfterDays: 35 },
          TargetBackupVault: { 'Fn::GetAtt': [Match.stringLikeRegexp('^BackupVault'), 'BackupVaultName'] },
        }],
      },
    });
  });

  test('the selection names the cluster by its ARN (BackupResource.fromArn), with backup and restore policies', () => {
    prod.t.hasResourceProperties('AWS::Backup::BackupSelection', {
      BackupSelection: {
        SelectionName: 'Cluster',
        Resources: [{ 'Fn::GetAtt': [prod.clusterId, 'ResourceArn'] }],
      },
    });
    prod.t.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 'backup.amazonaws.com' } })] },
      ManagedPolicyArns: [
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup']] },
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores']] },
      ],
    });
  });

  test('prod vault: retained (except by a rolled-back create: its name is fixed), AWS Backup key when no DSQL key is configured', () => {
    prod.t.hasResource('AWS::Backup::BackupVault', {
      DeletionPolicy: 'RetainExceptOnCreate',
      Properties: { BackupVaultName: 'temporal-prod-dsql', EncryptionKeyArn: Match.absent() },
    });
  });

  test('vault encrypted with dsql.kmsKeyArn when it is set', () => {
    const key = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    const { t } = template('prod', { dsql: { ...ENVIRONMENTS.prod.dsql, kmsKeyArn: key } });
    t.hasResourceProperties('AWS::Backup::BackupVault', { EncryptionKeyArn: key });
  });

  test('dev: kept 7 days, vault deleted with the stack like the cluster', () => {
    const dev = template('dev');
    dev.t.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: { BackupPlanRule: [Match.objectLike({ ScheduleExpression: 'cron(0 5 * * ? *)', Lifecycle: { DeleteAfterDays: 7 } })] },
    });
    dev.t.hasResource('AWS::Backup::BackupVault', { DeletionPolicy: 'Delete' });
  });

  test('backup.enabled false: no vault, plan or selection', () => {
    const { t } = template('dev', { backup: { enabled: false } });
    t.resourceCountIs('AWS::Backup::BackupVault', 0);
    t.resourceCountIs('AWS::Backup::BackupPlan', 0);
    t.resourceCountIs('AWS::Backup::BackupSelection', 0);
  });
});

describe('backup configuration', () => {
  const base = { numHistoryShards: 4, security: { allowNoAuth: true } };

  test('defaults: on, daily at 05:00 UTC, 35 days', () => {
    expect(resolveConfig('dev', base).backup).toEqual({ enabled: true, schedule: 'cron(0 5 * * ? *)', retentionDays: 35 });
  });

  test('an hourly schedule and a retention of 1 day are accepted', () => {
    expect(resolveConfig('dev', { ...base, backup: { schedule: 'cron(0 * * * ? *)', retentionDays: 1 } }).backup)
      .toEqual({ enabled: true, schedule: 'cron(0 * * * ? *)', retentionDays: 1 });
  });

  test.each([
    [{ retentionDays: 0 }, 'Invalid configuration: dev.backup.retentionDays = 0; allowed: an integer from 1 to 36500'],
    [{ retentionDays: 7.5 }, 'Invalid configuration: dev.backup.retentionDays = 7.5; allowed: an integer from 1 to 36500'],
    [{ schedule: 'rate(1 day)' }, 'Invalid configuration: dev.backup.schedule = "rate(1 day)"; allowed: an EventBridge cron expression in UTC with six fields, e.g. cron(0 5 * * ? *) for daily at 05:00'],
    [{ schedule: 'cron(0 5 * * * *)' }, 'Invalid configuration: dev.backup.schedule = "cron(0 5 * * * *)"; allowed: exactly one of day-of-month and day-of-week set to ? (EventBridge cron rule)'],
    [{ enabled: 'yes' }, 'Invalid configuration: dev.backup.enabled = "yes"; allowed:'],
    [{ vault: 'x' }, 'Invalid configuration: dev.backup.vault = "x"; allowed: one of the known fields enabled, schedule, retentionDays'],
  ])('refuses %j', (backup, message) => {
    expect(() => resolveConfig('dev', { ...base, backup } as any)).toThrow(message);
  });
});
