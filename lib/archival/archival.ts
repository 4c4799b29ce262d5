import { CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ArchivalStorageClass, DEFAULT_ARCHIVAL_STORAGE_CLASS, DEFAULT_ARCHIVAL_TRANSITION_DAYS } from './config';

/**
 * The S3 requests upstream Temporal's `s3store` archiver makes (go.temporal.io/server v1.31.2,
 * common/archiver/s3store: `S3API` in s3iface.go and its callers) and the IAM actions that
 * authorise them (Amazon S3 API reference, "Actions, resources, and condition keys for Amazon S3"):
 * HeadBucket (URI validation when a namespace turns archival on) and ListObjectsV2 (latest version
 * of a run, visibility queries) need `s3:ListBucket` on the bucket; PutObject needs `s3:PutObject`;
 * GetObject and HeadObject (is a blob already archived?) need `s3:GetObject` on the objects.
 */
export const ARCHIVER_BUCKET_ACTIONS = ['s3:ListBucket'] as const;
/** Object-level actions of the archiver (see {@link ARCHIVER_BUCKET_ACTIONS}). */
export const ARCHIVER_OBJECT_ACTIONS = ['s3:GetObject', 's3:PutObject'] as const;
/**
 * KMS actions S3 makes on the caller's behalf with an SSE-KMS bucket: GenerateDataKey to write,
 * Decrypt to read (Amazon S3 user guide, "Using server-side encryption with AWS KMS keys",
 * permissions).
 */
export const ARCHIVER_KMS_ACTIONS = ['kms:Decrypt', 'kms:GenerateDataKey'] as const;

/** Properties of {@link TemporalArchival}. */
export interface TemporalArchivalProps {
  /**
   * Customer managed KMS key ARN for SSE-KMS (with an S3 Bucket Key). Its key policy must let
   * IAM policies of the account grant its use (the default key policy does).
   * @default - SSE-S3 (S3-managed keys)
   */
  readonly kmsKeyArn?: string;
  /** Days after an object is written before it moves to `storageClass`. @default 30 */
  readonly transitionDays?: number;
  /** Storage class archived objects move to (one S3 can read at once). @default 'GLACIER_IR' */
  readonly storageClass?: ArchivalStorageClass;
  /** Bucket that receives this bucket's S3 server access logs (prefix `archival/`). @default - no access logs (acknowledged in cdk-nag) */
  readonly accessLogsBucket?: s3.IBucket;
  /** What happens to the bucket when it leaves the stack. @default RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE (archives outlive the stack; a rolled-back first deploy deletes the still-empty bucket) */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The archive of closed workflows: one S3 bucket for upstream Temporal's S3 archiver (history and
 * visibility records of closed runs; key layout in upstream's common/archiver/s3store/README.md,
 * `<namespace-id>/history/...` and `<namespace-id>/visibility/...`).
 *
 * The bucket is encrypted (SSE-KMS with `kmsKeyArn`, else SSE-S3), versioned, closed to the
 * public, TLS only (bucket policy denies `aws:SecureTransport` false), bucket-owner-enforced, and
 * moves objects to a cheaper storage class after `transitionDays`; nothing ever expires (archived
 * history is kept until an operator removes it). Retained when the stack is deleted.
 *
 * Use {@link grantArchiver} for the server task role (exactly the archiver's requests) and
 * {@link serverEnvironment} for the server containers (docker/temporal-server/config/config_template.yaml).
 */
export class TemporalArchival extends Construct {
  /** The archive bucket. */
  public readonly bucket: s3.Bucket;
  /** The archiver URI of the bucket, `s3://<bucket name>` (history and visibility share it). */
  public readonly uri: string;
  /** The SSE-KMS key, when one was given. */
  public readonly encryptionKey?: kms.IKey;

  constructor(scope: Construct, id: string, props: TemporalArchivalProps = {}) {
    super(scope, id);
    this.encryptionKey = props.kmsKeyArn ? kms.Key.fromKeyArn(this, 'Key', props.kmsKeyArn) : undefined;
    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...(this.encryptionKey
        ? { encryption: s3.BucketEncryption.KMS, encryptionKey: this.encryptionKey, bucketKeyEnabled: true }
        : { encryption: s3.BucketEncryption.S3_MANAGED }),
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.accessLogsBucket,
      serverAccessLogsPrefix: props.accessLogsBucket ? 'archival/' : undefined,
      lifecycleRules: [{
        id: 'CheaperStorage',
        transitions: [{
          storageClass: new s3.StorageClass(props.storageClass ?? DEFAULT_ARCHIVAL_STORAGE_CLASS),
          transitionAfter: Duration.days(props.transitionDays ?? DEFAULT_ARCHIVAL_TRANSITION_DAYS),
        }],
        noncurrentVersionTransitions: [{
          storageClass: new s3.StorageClass(props.storageClass ?? DEFAULT_ARCHIVAL_STORAGE_CLASS),
          transitionAfter: Duration.days(props.transitionDays ?? DEFAULT_ARCHIVAL_TRANSITION_DAYS),
        }],
      }],
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
    if (!props.accessLogsBucket) {
      Validations.of(this.bucket).acknowledge({
        id: 'AwsSolutions-S1',
        reason: 'The stack has no access-log bucket (an environment-agnostic stack: set env.region to get one); only the server task role can read or write the archive, and CloudTrail data events can be enabled on it.',
      });
    }
    this.uri = `s3://${this.bucket.bucketName}`;
  }

  /**
   * Grants `grantee` the archiver's requests and nothing more: `s3:ListBucket` on the bucket,
   * `s3:GetObject` and `s3:PutObject` on its objects, and with a KMS key `kms:Decrypt` and
   * `kms:GenerateDataKey` on that key through S3 only (`kms:ViaService`).
   * @returns the combined grant
   */
  public grantArchiver(grantee: iam.IGrantable): iam.Grant {
    if (Construct.isConstruct(grantee.grantPrincipal)) {
      const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnElement);
      Validations.of(grantee.grantPrincipal).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
        reason: 'The archiver writes and reads one object per history blob and visibility record under keys it derives from namespace, workflow and run ids: the wildcard covers the objects of this one bucket, with GetObject and PutObject only (no delete).',
      });
    }
    let grant = iam.Grant.addToPrincipal({ grantee, actions: [...ARCHIVER_BUCKET_ACTIONS], resourceArns: [this.bucket.bucketArn] })
      .combine(iam.Grant.addToPrincipal({ grantee, actions: [...ARCHIVER_OBJECT_ACTIONS], resourceArns: [this.bucket.arnForObjects('*')] }));
    if (this.encryptionKey) {
      grant = grant.combine(iam.Grant.addToPrincipal({
        grantee,
        actions: [...ARCHIVER_KMS_ACTIONS],
        resourceArns: [this.encryptionKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
      }));
    }
    return grant;
  }

  /**
   * The server containers' archival settings (docs/server-container.md): `ARCHIVAL_S3_URI` (this
   * bucket) and `ARCHIVAL_S3_REGION` (the stack's Region). No endpoint: the servers reach S3
   * through the VPC's S3 gateway endpoint on the regional name.
   */
  public serverEnvironment(): Record<string, string> {
    return { ARCHIVAL_S3_URI: this.uri, ARCHIVAL_S3_REGION: Stack.of(this).region };
  }
}
