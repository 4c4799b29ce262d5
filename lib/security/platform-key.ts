import { Aws, IAspect, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, IConstruct } from 'constructs';

/** Props of {@link TemporalPlatformKey}. */
export interface TemporalPlatformKeyProps {
  /**
   * Use this key instead of creating one (`arn:aws:kms:<region>:<account>:key/<id>`; checked by
   * `security.kmsKeyArn`'s config validation). Its policy is not changed: it must already allow
   * what the created key's policy allows (see {@link TemporalPlatformKey}).
   * @default - a key is created
   */
  readonly keyArn?: string;
  /** Environment name, for the alias `alias/temporal-<envName>` and the description. */
  readonly envName: string;
}

/**
 * The platform's customer managed KMS key (issue 24): created (symmetric, yearly automatic rotation,
 * retained on delete and replace, deleted by a rolled-back first deploy) or imported by ARN. Users of the key:
 * - the certificate secrets: Secrets Manager uses the key through grants on behalf of the caller,
 *   so callers need kms:Decrypt/GenerateDataKey with `kms:ViaService` (aws-cdk-lib's secret grants
 *   add it); the key policy's account-root statement (the aws-cdk-lib default) lets IAM decide.
 * - every log group: CloudWatch Logs calls KMS itself, so the key policy names
 *   `logs.<region>.amazonaws.com` with the encryption-context condition
 *   `kms:EncryptionContext:aws:logs:arn` on this account's log groups (CloudWatch Logs User Guide,
 *   "Encrypt log data in CloudWatch Logs using AWS Key Management Service", step 2).
 * - the alarm topic: CloudWatch alarms publish to an encrypted topic only when the key policy lets
 *   `cloudwatch.amazonaws.com` kms:Decrypt and kms:GenerateDataKey* (Amazon SNS Developer Guide,
 *   "Configure AWS KMS permissions for AWS services"); and the EventBridge rules that publish to it
 *   (failed backup jobs, failed certificate rotation) only when it lets `events.amazonaws.com` do the
 *   same: aws-cdk-lib's SnsTopic target adds that statement to a created key through `grantPublish`.
 * - the backup vault and the archival bucket: AWS Backup and S3 use the key for the calling role
 *   (backup selection role, task roles), through IAM under the account-root statement.
 */
export class TemporalPlatformKey extends Construct {
  /** The key. */
  public readonly key: kms.IKey;

  constructor(scope: Construct, id: string, props: TemporalPlatformKeyProps) {
    super(scope, id);
    if (props.keyArn) {
      this.key = kms.Key.fromKeyArn(this, 'Resource', props.keyArn);
      return;
    }
    const key = new kms.Key(this, 'Resource', {
      description: `Temporal ${props.envName}: certificate secrets, log groups, backup vault, archival bucket, alarm topic`,
      alias: `alias/temporal-${props.envName}`,
      enableKeyRotation: true,
      // Kept on replacement and stack deletion like the data it encrypts, but deleted (scheduled for
      // deletion, cancellable for 30 days) when a first deploy rolls back, as every kept resource of
      // the stack is (RetainExceptOnCreate, lib/platform-stack.ts `removal`): nothing that outlives
      // such a rollback is encrypted with it (the cluster uses dsql.kmsKeyArn, the access-logs bucket SSE-S3).
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
    key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchLogsOfThisAccount',
      principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
      actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
      resources: ['*'],
      conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*` } },
    }));
    key.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsToEncryptedTopic',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
    }));
    this.key = key;
  }
}

/**
 * Aspect: sets `KmsKeyId` on every `AWS::Logs::LogGroup` of the stack that has none, including the
 * ones aws-cdk-lib creates itself (provider frameworks, flow logs), so that "every log group" holds
 * by construction rather than by each construct remembering. Log writers need no KMS permission
 * (CloudWatch Logs encrypts with the key policy's service statement).
 */
export class EncryptLogGroups implements IAspect {
  constructor(private readonly key: kms.IKey) {}

  public visit(node: IConstruct): void {
    if (node instanceof logs.CfnLogGroup && node.kmsKeyId === undefined && Stack.of(node) === Stack.of(this.key)) {
      node.kmsKeyId = this.key.keyArn;
    }
  }
}

