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
  const clusterId = stack.getLogicalId(stack.dsqlCluster.resource!);
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

  test('prod vault: retained (except by a rolled-back create: its name is fixed), the platform key when no DSQL key is configured', () => {
    prod.t.hasResource('AWS::Backup::BackupVault', {
      DeletionPolicy: 'RetainExceptOnCreate',
      Properties: { BackupVaultName: 'temporal-prod-dsql', EncryptionKeyArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^PlatformKey'), 'Arn'] } },
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

describe('backups you cannot miss', () => {
  const prod = template('prod');
  const res = () => prod.t.toJSON().Resources as Record<string, any>;

  test('prod: the vault access policy denies deleting recovery points to everyone; dev has none', () => {
    const vault = Object.values(res()).find((r) => r.Type === 'AWS::Backup::BackupVault');
    const st = vault.Properties.AccessPolicy.Statement;
    expect(st).toEqual([expect.objectContaining({ Effect: 'Deny', Principal: { AWS: '*' }, Action: expect.arrayContaining(['backup:DeleteRecoveryPoint']) })]);
    const dev = template('dev');
    const devVault = Object.values(dev.t.toJSON().Resources as Record<string, any>).find((r) => r.Type === 'AWS::Backup::BackupVault');
    expect(devVault.Properties.AccessPolicy).toBeUndefined();
  });

  test('vault lock and a copy to another Region, as configured', () => {
    const dr = 'arn:aws:backup:us-west-2:210987654321:backup-vault:temporal-dr';
    const { t } = template('prod', { backup: { retentionDays: 35, vaultLock: { minRetentionDays: 7, maxRetentionDays: 400, changeableForDays: 3 }, copyTo: { vaultArn: dr, retentionDays: 90 } } });
    t.hasResourceProperties('AWS::Backup::BackupVault', { LockConfiguration: { MinRetentionDays: 7, MaxRetentionDays: 400, ChangeableForDays: 3 } });
    t.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: { BackupPlanRule: [Match.objectLike({ CopyActions: [{ DestinationBackupVaultArn: dr, Lifecycle: { DeleteAfterDays: 90 } }] })] },
    });
    prod.t.hasResourceProperties('AWS::Backup::BackupVault', { LockConfiguration: Match.absent() });
    prod.t.hasResourceProperties('AWS::Backup::BackupPlan', { BackupPlan: { BackupPlanRule: [Match.objectLike({ CopyActions: Match.absent() })] } });
  });

  test('no completed backup job in 26 h: AWS/Backup NumberOfBackupJobsCompleted of the vault, hourly, missing data breaching', () => {
    const alarm = Object.values(res()).find((r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.AlarmName === 'temporal-prod-BackupNoRecentRecoveryPoint').Properties;
    const q = alarm.Metrics[0].MetricStat;
    expect([q.Metric.Namespace, q.Metric.MetricName, q.Stat, q.Period]).toEqual(['AWS/Backup', 'NumberOfBackupJobsCompleted', 'Sum', 3600]);
    expect(q.Metric.Dimensions).toEqual([{ Name: 'BackupVaultName', Value: 'temporal-prod-dsql' }]);
    expect([alarm.EvaluationPeriods, alarm.DatapointsToAlarm, alarm.ComparisonOperator, alarm.Threshold, alarm.TreatMissingData])
      .toEqual([26, undefined, 'LessThanThreshold', 1, 'breaching']);
    const { t } = template('prod', { backup: { alarmAfterHours: 170 - 2 } });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'temporal-prod-BackupNoRecentRecoveryPoint', EvaluationPeriods: 168 });
  });

  test('failed, aborted and expired backup and copy jobs of this cluster go to the alarm topic, which lets EventBridge publish', () => {
    const rule = Object.values(res()).find((r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties.EventPattern).includes('aws.backup')).Properties;
    expect(rule.EventPattern).toEqual({
      source: ['aws.backup'],
      'detail-type': ['Backup Job State Change', 'Copy Job State Change'],
      detail: { state: ['FAILED', 'ABORTED', 'EXPIRED'], resourceArn: [{ 'Fn::GetAtt': [prod.clusterId, 'ResourceArn'] }] },
    });
    expect(rule.Targets).toHaveLength(1);
    expect(rule.Targets[0].Arn).toEqual({ Ref: expect.stringMatching(/^ObservabilityAlarmTopic/) });
    expect(rule.Targets[0].InputTransformer.InputTemplate).toContain('Runbook: docs/operations.md#backup-job-failed');
    const policy = Object.values(res()).find((r) => r.Type === 'AWS::SNS::TopicPolicy').Properties.PolicyDocument.Statement;
    expect(policy).toEqual(expect.arrayContaining([expect.objectContaining({ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sns:Publish' })]));
  });

  test('the opt-in check runs before the plan exists: prod fails the deploy, dev warns, off has none', () => {
    const check = Object.entries(res()).filter(([, r]) => r.Type === 'Custom::TemporalBackupOptIn');
    expect(check).toHaveLength(1);
    expect(check[0][1].Properties.Mode).toBe('fail');
    const plan = Object.values(res()).find((r) => r.Type === 'AWS::Backup::BackupPlan');
    expect(plan.DependsOn).toContain(check[0][0]);
    const fn = Object.values(res()).find((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.PolicyDocument).includes('backup:DescribeRegionSettings'));
    expect(fn.Properties.PolicyDocument.Statement).toEqual(expect.arrayContaining([{ Action: 'backup:DescribeRegionSettings', Effect: 'Allow', Resource: '*' }]));
    expect(prod.t.toJSON().Outputs.BackupOptIn.Value).toEqual({ 'Fn::GetAtt': [check[0][0], 'Message'] });
    const dev = template('dev');
    dev.t.hasResourceProperties('Custom::TemporalBackupOptIn', { Mode: 'warn' });
    const off = template('prod', { backup: { optInCheck: 'off' } });
    off.t.resourceCountIs('Custom::TemporalBackupOptIn', 0);
    expect(off.t.toJSON().Outputs.BackupOptIn).toBeUndefined();
  });

  test('backup.enabled false: neither the alarm nor the rule', () => {
    const { t } = template('dev', { backup: { enabled: false } });
    expect(Object.values(t.toJSON().Resources as Record<string, any>).filter((r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties.EventPattern).includes('aws.backup'))).toEqual([]);
    expect(JSON.stringify(t.toJSON())).not.toContain('BackupNoRecentRecoveryPoint');
  });
});

describe('backup configuration', () => {
  const base = { numHistoryShards: 4, security: { allowNoAuth: true } };

  test('defaults: on, daily at 05:00 UTC, 35 days', () => {
    expect(resolveConfig('dev', base).backup).toEqual({ enabled: true, schedule: 'cron(0 5 * * ? *)', retentionDays: 35, blockRecoveryPointDeletion: false, alarmAfterHours: 26, optInCheck: 'warn' });
    expect(resolveConfig('prod', ENVIRONMENTS.prod).backup.blockRecoveryPointDeletion).toBe(true);
    expect(resolveConfig('prod', ENVIRONMENTS.prod).backup.optInCheck).toBe('fail');
  });

  test('an hourly schedule and a retention of 1 day are accepted', () => {
    expect(resolveConfig('dev', { ...base, backup: { schedule: 'cron(0 * * * ? *)', retentionDays: 1 } }).backup)
      .toEqual({ enabled: true, schedule: 'cron(0 * * * ? *)', retentionDays: 1, blockRecoveryPointDeletion: false, alarmAfterHours: 26, optInCheck: 'warn' });
  });

  test.each([
    [{ retentionDays: 0 }, 'Invalid configuration: dev.backup.retentionDays = 0; allowed: an integer from 1 to 36500'],
    [{ retentionDays: 7.5 }, 'Invalid configuration: dev.backup.retentionDays = 7.5; allowed: an integer from 1 to 36500'],
    [{ schedule: 'rate(1 day)' }, 'Invalid configuration: dev.backup.schedule = "rate(1 day)"; allowed: an EventBridge cron expression in UTC with six fields, e.g. cron(0 5 * * ? *) for daily at 05:00'],
    [{ schedule: 'cron(0 5 * * * *)' }, 'Invalid configuration: dev.backup.schedule = "cron(0 5 * * * *)"; allowed: exactly one of day-of-month and day-of-week set to ? (EventBridge cron rule)'],
    [{ enabled: 'yes' }, 'Invalid configuration: dev.backup.enabled = "yes"; allowed:'],
    [{ vault: 'x' }, 'Invalid configuration: dev.backup.vault = "x"; allowed: one of the known fields enabled, schedule, retentionDays'],
    [{ retentionDays: 35, vaultLock: { minRetentionDays: 40 } }, 'Invalid configuration: dev.backup.vaultLock.minRetentionDays = 40; allowed: at most backup.retentionDays (35): the vault would fail every backup job'],
    [{ retentionDays: 35, vaultLock: { minRetentionDays: 7, maxRetentionDays: 30 } }, 'Invalid configuration: dev.backup.vaultLock.maxRetentionDays = 30; allowed: at least backup.retentionDays (35)'],
    [{ vaultLock: { minRetentionDays: 7, changeableForDays: 1 } }, 'Invalid configuration: dev.backup.vaultLock.changeableForDays = 1; allowed: an integer from 3 to 36500'],
    [{ vaultLock: {} }, 'Invalid configuration: dev.backup.vaultLock.minRetentionDays = undefined; allowed: a number of days (1-36500), required with vaultLock'],
    [{ copyTo: { vaultArn: 'temporal-dr' } }, 'Invalid configuration: dev.backup.copyTo.vaultArn = "temporal-dr"; allowed: a backup vault ARN, arn:aws:backup:<region>:<account>:backup-vault:<name>'],
    [{ copyTo: 'arn:aws:backup:us-west-2:210987654321:backup-vault:dr' }, 'Invalid configuration: dev.backup.copyTo = "arn:aws:backup:us-west-2:210987654321:backup-vault:dr"; allowed: an object { vaultArn, retentionDays? }'],
    [{ alarmAfterHours: 200 }, 'Invalid configuration: dev.backup.alarmAfterHours = 200; allowed: an integer from 2 to 168'],
    [{ optInCheck: 'strict' }, 'Invalid configuration: dev.backup.optInCheck = "strict"; allowed: \'fail\' or \'warn\' or \'off\''],
  ])('refuses %j', (backup, message) => {
    expect(() => resolveConfig('dev', { ...base, backup } as any)).toThrow(message);
  });
});
