/**
 * Custom resource `Custom::TemporalBackupOptIn` (lib/dsql/backup-opt-in.ts): checks, during
 * `cdk deploy`, that AWS Backup in the stack's Region is opted in to Aurora DSQL, so that the
 * backup plan's jobs for the cluster can run. AWS Backup's `DescribeRegionSettings` reports the
 * opt-in per resource type in `ResourceTypeOptInPreference`; Aurora DSQL's key is `DSQL` (AWS
 * Backup API reference, UpdateRegionSettings; the same key the AWS provider's
 * `aws_backup_region_settings` examples use).
 *
 * Mode `fail` fails the deploy with the command that fixes it (before the backup plan exists: the
 * plan depends on this resource); mode `warn` succeeds and returns the same message as the
 * attribute `Message` (the stack's `BackupOptIn` output shows it). Delete does nothing.
 */
import { BackupClient, DescribeRegionSettingsCommand } from '@aws-sdk/client-backup';
import { ProviderResponse, shortError } from '../../shared/custom-resource';

/** The resource type key of Aurora DSQL in AWS Backup's Region settings. */
export const DSQL_RESOURCE_TYPE = 'DSQL';

/** The custom resource's properties. */
export interface BackupOptInProperties {
  /** `fail`: the deploy fails when DSQL is not opted in; `warn`: it goes on and says so. */
  readonly Mode: 'fail' | 'warn';
}

/** The Provider framework's event (the fields used here). */
export interface BackupOptInEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly PhysicalResourceId?: string;
  readonly ResourceProperties: BackupOptInProperties;
}

/** `Data` of the response: `OptedIn` is `true` or `false`; `Message` says what was found. */
export type BackupOptInData = { OptedIn: 'true' | 'false'; Message: string };

const PHYSICAL_ID = 'aws-backup-opt-in-dsql';

/**
 * Handles one event.
 * @param client the Backup client (tests pass one aimed at a stand-in for the API)
 * @throws Error (short, for CloudFormation) in mode `fail` when DSQL is not opted in, when the
 *   mode is not `fail` or `warn`, or when DescribeRegionSettings fails (e.g. AccessDenied)
 */
export async function handler(event: BackupOptInEvent, client: BackupClient = new BackupClient({})): Promise<ProviderResponse<BackupOptInData>> {
  if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId ?? PHYSICAL_ID };
  const mode = event.ResourceProperties.Mode;
  if (mode !== 'fail' && mode !== 'warn') throw shortError(`Mode = ${JSON.stringify(mode)}; allowed: "fail" or "warn"`);
  const region = await client.config.region();
  let settings;
  try {
    settings = await client.send(new DescribeRegionSettingsCommand({}));
  } catch (e) {
    throw shortError(e, { prefix: `backup:DescribeRegionSettings in ${region} failed` });
  }
  const value = settings.ResourceTypeOptInPreference?.[DSQL_RESOURCE_TYPE];
  if (value === true) {
    const message = `AWS Backup in ${region} is opted in to Aurora DSQL`;
    console.log(JSON.stringify({ msg: 'opted in', region }));
    return { PhysicalResourceId: PHYSICAL_ID, Data: { OptedIn: 'true', Message: message } };
  }
  const found = value === undefined ? `no ${DSQL_RESOURCE_TYPE} entry` : `${DSQL_RESOURCE_TYPE} = ${value}`;
  const message = `AWS Backup in ${region} is not opted in to Aurora DSQL (DescribeRegionSettings: ResourceTypeOptInPreference has ${found}), ` +
    `so the backup jobs of the cluster would fail. Fix: aws backup update-region-settings --region ${region} ` +
    `--resource-type-opt-in-preference ${DSQL_RESOURCE_TYPE}=true, then deploy again (or set backup.optInCheck: 'warn' to deploy without backups working).`;
  if (mode === 'fail') throw shortError(message);
  console.warn(JSON.stringify({ msg: 'not opted in', region, found }));
  return { PhysicalResourceId: PHYSICAL_ID, Data: { OptedIn: 'false', Message: message } };
}
