/**
 * The `backup` section of the configuration: AWS Backup of the DSQL cluster (lib/dsql/backup.ts).
 * Checked here rather than in `lib/config.ts` (which is near its ~600-line split point).
 */
import { bool, checkKeys, ConfigError, int, optObject, str } from '../config-checks';

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
}

/** The resolved `backup` section. */
export interface BackupConfig {
  readonly enabled: boolean;
  readonly schedule: string;
  readonly retentionDays: number;
}

/** Default backup schedule: daily at 05:00 UTC. */
export const DEFAULT_BACKUP_SCHEDULE = 'cron(0 5 * * ? *)';
/** Default retention of a recovery point, days. */
export const DEFAULT_BACKUP_RETENTION_DAYS = 35;

/** Fills the defaults of the `backup` section and checks it. `p` prefixes a field with the environment name. */
export function resolveBackup(p: (f: string) => string, input: unknown): BackupConfig {
  const b = optObject(p('backup'), input);
  checkKeys(p('backup'), b, ['enabled', 'schedule', 'retentionDays']);
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
  return { enabled, schedule, retentionDays };
}
