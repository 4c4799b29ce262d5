/**
 * The `backup` section of the configuration: AWS Backup of the DSQL cluster (lib/dsql/backup.ts).
 * Checked here rather than in `lib/config.ts` (which is near its ~600-line split point).
 */
import { bool, checkKeys, ConfigError, int, isObject, oneOf, optObject, str } from '../config-checks';

/** AWS Backup of the DSQL cluster (full backups; a restore creates a new cluster: docs/operations.md). */
export interface BackupInput {
  /** Back the DSQL cluster up with an AWS Backup plan. @default true */
  readonly enabled?: boolean;
  /**
   * When backups run: an EventBridge cron expression in UTC, `cron(<min> <hour> <dom> <month> <dow> <year>)`.
   * @default 'cron(0 5 * * ? *)' (daily at 05:00 UTC)
   */
  readonly schedule?: string;
  /** Days a recovery point is kept (1-36500). @default 35 */
  readonly retentionDays?: number;
  /**
   * A vault access policy that denies `backup:DeleteRecoveryPoint` (and lifecycle and policy changes
   * of recovery points) to every principal: a stolen admin role cannot erase the backups; AWS
   * Backup's own retention still expires them. @default true in an environment marked `production`, else false
   */
  readonly blockRecoveryPointDeletion?: boolean;
  /**
   * AWS Backup Vault Lock on the vault. Governance mode while `changeableForDays` is unset (users
   * with `backup:DeleteBackupVaultLockConfiguration` can remove it); compliance mode, immutable even
   * for the account root, once `changeableForDays` (3-36500) has passed. `minRetentionDays` must not
   * exceed `retentionDays`, `maxRetentionDays` must not be below it (AWS Backup fails such jobs).
   * Source: AWS Backup Developer Guide, "AWS Backup Vault Lock". @default - no lock
   */
  readonly vaultLock?: { readonly minRetentionDays: number; readonly maxRetentionDays?: number; readonly changeableForDays?: number };
  /**
   * Copy every recovery point to another backup vault, in another Region and/or account
   * (`arn:<partition>:backup:<region>:<account>:backup-vault:<name>`), kept `retentionDays` there
   * (default: the same as here). A cross-account destination must allow `backup:CopyIntoBackupVault`
   * from this account in its vault access policy, and both accounts must be in one AWS Organization
   * with cross-account backup turned on (AWS Backup Developer Guide, "Creating backup copies across
   * AWS accounts"). @default - no copy
   */
  readonly copyTo?: { readonly vaultArn: string; readonly retentionDays?: number };
  /**
   * The alarm `BackupNoRecentRecoveryPoint` fires when no backup job of the vault completed for this
   * many hours (2-168). @default 26 (a daily schedule plus two hours)
   */
  readonly alarmAfterHours?: number;
  /**
   * A deploy-time check that AWS Backup is opted in to Aurora DSQL in the stack's Region
   * (lib/dsql/backup-opt-in.ts): `fail` stops the deploy with the command that fixes it, `warn`
   * deploys and says so in the `BackupOptIn` output, `off` does not check.
   * @default 'fail' in an environment marked `production`, else 'warn'
   */
  readonly optInCheck?: 'fail' | 'warn' | 'off';
}

/** The resolved `backup` section. */
export interface BackupConfig {
  readonly enabled: boolean;
  readonly schedule: string;
  readonly retentionDays: number;
  readonly blockRecoveryPointDeletion: boolean;
  readonly vaultLock?: { readonly minRetentionDays: number; readonly maxRetentionDays?: number; readonly changeableForDays?: number };
  readonly copyTo?: { readonly vaultArn: string; readonly retentionDays: number };
  readonly alarmAfterHours: number;
  readonly optInCheck: 'fail' | 'warn' | 'off';
}

/** A backup vault ARN: partition, Region, account, vault name (2-50 letters, digits, hyphens, underscores). */
const VAULT_ARN = /^arn:aws(-cn|-us-gov)?:backup:[a-z]{2}(-[a-z]+)+-\d:\d{12}:backup-vault:[A-Za-z0-9_-]{2,50}$/;

/** Default backup schedule: daily at 05:00 UTC. */
export const DEFAULT_BACKUP_SCHEDULE = 'cron(0 5 * * ? *)';
/** Default retention of a recovery point, days. */
export const DEFAULT_BACKUP_RETENTION_DAYS = 35;

/**
 * Fills the defaults of the `backup` section and checks it. `p` prefixes a field with the environment name.
 * @throws ConfigError naming the field, the value and what is allowed
 */
export function resolveBackup(p: (f: string) => string, input: unknown, production = false): BackupConfig {
  const b = optObject(p('backup'), input);
  checkKeys(p('backup'), b, ['enabled', 'schedule', 'retentionDays', 'blockRecoveryPointDeletion', 'vaultLock', 'copyTo', 'alarmAfterHours', 'optInCheck']);
  const enabled = bool(p('backup.enabled'), b.enabled, true);
  const schedule = b.schedule === undefined ? DEFAULT_BACKUP_SCHEDULE
    : str(p('backup.schedule'), b.schedule, /^cron\(\S+ \S+ \S+ \S+ \S+ \S+\)$/,
      'an EventBridge cron expression in UTC with six fields, e.g. cron(0 5 * * ? *) for daily at 05:00');
  const retentionDays = int(p('backup.retentionDays'), b.retentionDays === undefined ? DEFAULT_BACKUP_RETENTION_DAYS : b.retentionDays, 1, 36500);
  if (b.schedule !== undefined && /^cron\(\S+ \S+ \S+ \S+ \S+ \S+\)$/.test(schedule)) {
    const [, , dom, , dow] = schedule.slice(5, -1).split(' ');
    if ((dom === '?') === (dow === '?')) {
      throw new ConfigError(p('backup.schedule'), schedule, 'exactly one of day-of-month and day-of-week set to ? (EventBridge cron rule)');
    }
  }
  const blockRecoveryPointDeletion = bool(p('backup.blockRecoveryPointDeletion'), b.blockRecoveryPointDeletion, production);
  const alarmAfterHours = int(p('backup.alarmAfterHours'), b.alarmAfterHours === undefined ? 26 : b.alarmAfterHours, 2, 168);

  let vaultLock: BackupConfig['vaultLock'];
  if (b.vaultLock !== undefined) {
    const l = optObject(p('backup.vaultLock'), b.vaultLock);
    checkKeys(p('backup.vaultLock'), l, ['minRetentionDays', 'maxRetentionDays', 'changeableForDays']);
    if (l.minRetentionDays === undefined) throw new ConfigError(p('backup.vaultLock.minRetentionDays'), undefined, 'a number of days (1-36500), required with vaultLock');
    const minRetentionDays = int(p('backup.vaultLock.minRetentionDays'), l.minRetentionDays, 1, 36500);
    const maxRetentionDays = l.maxRetentionDays === undefined ? undefined : int(p('backup.vaultLock.maxRetentionDays'), l.maxRetentionDays, 1, 36500);
    const changeableForDays = l.changeableForDays === undefined ? undefined : int(p('backup.vaultLock.changeableForDays'), l.changeableForDays, 3, 36500);
    if (minRetentionDays > retentionDays) {
      throw new ConfigError(p('backup.vaultLock.minRetentionDays'), minRetentionDays, `at most backup.retentionDays (${retentionDays}): the vault would fail every backup job`);
    }
    if (maxRetentionDays !== undefined && maxRetentionDays < retentionDays) {
      throw new ConfigError(p('backup.vaultLock.maxRetentionDays'), maxRetentionDays, `at least backup.retentionDays (${retentionDays}): the vault would fail every backup job`);
    }
    vaultLock = { minRetentionDays, maxRetentionDays, changeableForDays };
  }

  let copyTo: BackupConfig['copyTo'];
  if (b.copyTo !== undefined) {
    if (!isObject(b.copyTo)) throw new ConfigError(p('backup.copyTo'), b.copyTo, 'an object { vaultArn, retentionDays? }');
    checkKeys(p('backup.copyTo'), b.copyTo, ['vaultArn', 'retentionDays']);
    const vaultArn = str(p('backup.copyTo.vaultArn'), b.copyTo.vaultArn, VAULT_ARN, 'a backup vault ARN, arn:aws:backup:<region>:<account>:backup-vault:<name>');
    const copyDays = int(p('backup.copyTo.retentionDays'), b.copyTo.retentionDays === undefined ? retentionDays : b.copyTo.retentionDays, 1, 36500);
    copyTo = { vaultArn, retentionDays: copyDays };
  }
  const optInCheck = oneOf(p('backup.optInCheck'), b.optInCheck, ['fail', 'warn', 'off'] as const, production ? 'fail' : 'warn');
  return { enabled, schedule, retentionDays, blockRecoveryPointDeletion, vaultLock, copyTo, alarmAfterHours, optInCheck };
}
