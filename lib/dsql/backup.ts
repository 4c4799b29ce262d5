import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { TemporalBackupOptInCheck } from './backup-opt-in';

/** Properties of {@link TemporalDsqlBackup}. */
export interface TemporalDsqlBackupProps {
  /** ARN of the DSQL cluster to back up, `arn:<partition>:dsql:<region>:<account>:cluster/<id>`. */
  readonly clusterArn: string;
  /** Name of the backup vault (1-50 letters, digits, hyphens, underscores). */
  readonly vaultName: string;
  /** When backups run: an EventBridge cron expression in UTC. @default 'cron(0 5 * * ? *)' (daily 05:00 UTC) */
  readonly schedule?: string;
  /** How long a recovery point is kept. @default Duration.days(35) */
  readonly retention?: Duration;
  /** Customer managed KMS key ARN the vault encrypts recovery points with. @default - the AWS Backup managed key */
  readonly kmsKeyArn?: string;
  /**
   * What happens to the vault when it leaves the stack. A vault holding recovery points cannot be
   * deleted, so `DESTROY` only succeeds once its recovery points are gone. @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Deny `backup:DeleteRecoveryPoint`, `backup:UpdateRecoveryPointLifecycle` and
   * `backup:PutBackupVaultAccessPolicy` to every principal in the vault's access policy (CDK's
   * `blockRecoveryPointDeletion`); AWS Backup's retention still expires recovery points. @default false
   */
  readonly blockRecoveryPointDeletion?: boolean;
  /** AWS Backup Vault Lock (lib/dsql/backup-config.ts, `backup.vaultLock`). @default - no lock */
  readonly vaultLock?: { readonly minRetention: Duration; readonly maxRetention?: Duration; readonly changeableFor?: Duration };
  /** Copy each recovery point to this vault (another Region or account), kept `retention` there. @default - no copy */
  readonly copyTo?: { readonly vaultArn: string; readonly retention: Duration };
  /** Check at deploy time that AWS Backup is opted in to Aurora DSQL (lib/dsql/backup-opt-in.ts). @default 'warn' */
  readonly optInCheck?: 'fail' | 'warn' | 'off';
  /** Retention of the opt-in check's log groups. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** Removal policy of the opt-in check's log groups. @default RemovalPolicy.DESTROY */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * AWS Backup of the Aurora DSQL cluster: a vault (encrypted with the DSQL key when one is given),
 * a plan with one rule (schedule, retention) and a selection naming the cluster by its ARN.
 * DSQL backups are always full backups; a restore always creates a new cluster
 * (docs/operations.md, "Restore the DSQL cluster from a backup"). The account must have opted in
 * to AWS Backup for Aurora DSQL (AWS Backup "Service opt-in").
 */
export class TemporalDsqlBackup extends Construct {
  /** The backup vault. */
  public readonly vault: backup.BackupVault;
  /** The vault's name as configured (a plain string, for alarm dimensions and descriptions). */
  public readonly vaultName: string;
  /** The backup plan. */
  public readonly plan: backup.BackupPlan;
  /** The selection (and its IAM role) that puts the cluster in the plan. */
  public readonly selection: backup.BackupSelection;
  /** The deploy-time opt-in check, unless `optInCheck` is `off`. */
  public readonly optInCheck?: TemporalBackupOptInCheck;

  constructor(scope: Construct, id: string, props: TemporalDsqlBackupProps) {
    super(scope, id);
    this.vaultName = props.vaultName;
    this.vault = new backup.BackupVault(this, 'Vault', {
      backupVaultName: props.vaultName,
      encryptionKey: props.kmsKeyArn ? kms.Key.fromKeyArn(this, 'VaultKey', props.kmsKeyArn) : undefined,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      blockRecoveryPointDeletion: props.blockRecoveryPointDeletion ?? false,
      lockConfiguration: props.vaultLock,
    });
    const copyActions = props.copyTo ? [{
      destinationBackupVault: backup.BackupVault.fromBackupVaultArn(this, 'CopyDestination', props.copyTo.vaultArn),
      deleteAfter: props.copyTo.retention,
    }] : undefined;
    this.plan = new backup.BackupPlan(this, 'Plan', {
      backupPlanName: props.vaultName,
      backupVault: this.vault,
      backupPlanRules: [new backup.BackupPlanRule({
        ruleName: 'Scheduled',
        scheduleExpression: events.Schedule.expression(props.schedule ?? 'cron(0 5 * * ? *)'),
        deleteAfter: props.retention ?? Duration.days(35),
        copyActions,
      })],
    });
    const mode = props.optInCheck ?? 'warn';
    if (mode !== 'off') {
      this.optInCheck = new TemporalBackupOptInCheck(this, 'OptInCheck', { mode, logRetention: props.logRetention, logRemovalPolicy: props.logRemovalPolicy });
      // In mode fail, the plan is never created while its jobs could not run.
      this.plan.node.addDependency(this.optInCheck.resource);
    }
    this.selection = this.plan.addSelection('Cluster', {
      resources: [backup.BackupResource.fromArn(props.clusterArn)],
      allowRestores: true,
    });
    // cdk-nag (AwsSolutions) acknowledgement, next to what it excuses.
    const reason = 'AWS Backup documents its service-role managed policies as the permissions of a backup selection role; AWS keeps them current as services such as Aurora DSQL are added.';
    for (const policy of ['AWSBackupServiceRolePolicyForBackup', 'AWSBackupServiceRolePolicyForRestores']) {
      Validations.of(this.selection).acknowledge({
        id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/${policy}]`,
        reason,
      });
    }
  }
}
