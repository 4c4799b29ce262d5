import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Properties of {@link TemporalAccessLogs}. */
export interface TemporalAccessLogsProps {
  /** The load balancer whose access logs go to the bucket. */
  readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  /** Key prefix of the log objects. @default 'ui-alb' */
  readonly prefix?: string;
  /** Days a log object is kept before it expires. @default 30 */
  readonly retentionDays?: number;
  /**
   * What happens to the bucket when it leaves the stack. With `DESTROY` the bucket is only deleted
   * once empty (no auto-delete function is added). @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Access logs of the UI's ALB in an S3 bucket: SSE-S3 (the only server-side encryption ALB access
 * logs support), all public access blocked, SSL-only bucket policy, objects expiring after
 * `retentionDays`. `logAccessLogs` adds the bucket policy for the Region's log delivery.
 */
export class TemporalAccessLogs extends Construct {
  /** The log bucket. */
  public readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: TemporalAccessLogsProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'Expire', expiration: Duration.days(props.retentionDays ?? 30) }],
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This bucket holds access logs itself; logging its own accesses would need another bucket and adds nothing for an internal ALB\'s logs.',
    });
    props.loadBalancer.logAccessLogs(this.bucket, props.prefix ?? 'ui-alb');
  }
}
