/**
 * Every AWS CloudWatch metric the platform's alarms and dashboard use: namespace, metric name,
 * dimension names and where AWS documents it. test/cdk/observability.test.ts checks every alarm and
 * dashboard widget of the synthesized templates against this table, so a metric enters the
 * platform only through a row here, with its source.
 *
 * Left out because no source here confirms the exact name: the DSQL DPU metrics (the user guide
 * publishes them in the `AWS/Usage` namespace; the excerpts available here do not name them). The
 * work they bill is on the dashboard through `BytesRead` (Read DPUs), `BytesWritten` (Write DPUs) and
 * `ComputeTime` (Compute DPUs), which the guide's observability table lists in `AWS/AuroraDSQL`.
 */

/** One documented CloudWatch metric. */
export interface AwsMetricSpec {
  /** CloudWatch namespace, e.g. `AWS/AuroraDSQL`. */
  readonly namespace: string;
  /** Metric name as AWS publishes it. */
  readonly metricName: string;
  /** Dimension names the platform uses with it, in a fixed order. */
  readonly dimensions: readonly string[];
  /** Unit as documented (for readers of the table). */
  readonly unit: string;
  /** The AWS documentation page (title) that lists the metric with these dimensions. */
  readonly source: string;
}

const DSQL_SRC = 'Aurora DSQL User Guide, "Monitoring Aurora DSQL with Amazon CloudWatch" (and shared/DSQL.md, Monitoring)';
const CI_SRC = 'Amazon CloudWatch User Guide, "Amazon ECS Container Insights metrics" (ECS/ContainerInsights, ClusterName + ServiceName)';
const ECS_SRC = 'Amazon ECS Developer Guide, "Amazon ECS CloudWatch metrics" / "Amazon ECS service utilization metrics" (AWS/ECS, ClusterName + ServiceName)';
const NLB_SRC = 'Elastic Load Balancing, Network Load Balancers, "CloudWatch metrics for your Network Load Balancer" (AWS/NetworkELB, LoadBalancer + TargetGroup)';
const ALB_SRC = 'Elastic Load Balancing, Application Load Balancers, "CloudWatch metrics for your Application Load Balancer" (AWS/ApplicationELB)';
const OS_SRC = 'Amazon OpenSearch Service Developer Guide, "Recommended CloudWatch alarms for Amazon OpenSearch Service" and "Monitoring OpenSearch cluster metrics with Amazon CloudWatch" (AWS/ES, DomainName + ClientId)';

const dsql = (metricName: string, unit: string): AwsMetricSpec => ({ namespace: 'AWS/AuroraDSQL', metricName, dimensions: ['ClusterId'], unit, source: DSQL_SRC });
const os = (metricName: string, unit: string): AwsMetricSpec => ({ namespace: 'AWS/ES', metricName, dimensions: ['ClientId', 'DomainName'], unit, source: OS_SRC });

/** The table. Keys are how the code refers to a metric. */
export const AWS_METRICS = {
  dsqlTotalTransactions: dsql('TotalTransactions', 'none (count)'),
  dsqlReadOnlyTransactions: dsql('ReadOnlyTransactions', 'none (count)'),
  dsqlOccConflicts: dsql('OccConflicts', 'none (count)'),
  dsqlCommitLatency: dsql('CommitLatency', 'milliseconds (P50 of the commit phase)'),
  dsqlQueryTimeouts: dsql('QueryTimeouts', 'none (count)'),
  dsqlClusterStorageSize: dsql('ClusterStorageSize', 'bytes'),
  dsqlBytesRead: dsql('BytesRead', 'bytes (read from storage; Read DPUs)'),
  dsqlBytesWritten: dsql('BytesWritten', 'bytes (written to storage; Write DPUs)'),
  dsqlComputeTime: dsql('ComputeTime', 'milliseconds (query processor wall clock; Compute DPUs)'),

  ecsRunningTaskCount: { namespace: 'ECS/ContainerInsights', metricName: 'RunningTaskCount', dimensions: ['ClusterName', 'ServiceName'], unit: 'count', source: CI_SRC },
  ecsDesiredTaskCount: { namespace: 'ECS/ContainerInsights', metricName: 'DesiredTaskCount', dimensions: ['ClusterName', 'ServiceName'], unit: 'count', source: CI_SRC },
  ecsCpuUtilization: { namespace: 'AWS/ECS', metricName: 'CPUUtilization', dimensions: ['ClusterName', 'ServiceName'], unit: 'percent', source: ECS_SRC },
  ecsMemoryUtilization: { namespace: 'AWS/ECS', metricName: 'MemoryUtilization', dimensions: ['ClusterName', 'ServiceName'], unit: 'percent', source: ECS_SRC },

  nlbUnHealthyHostCount: { namespace: 'AWS/NetworkELB', metricName: 'UnHealthyHostCount', dimensions: ['LoadBalancer', 'TargetGroup'], unit: 'count', source: NLB_SRC },
  nlbHealthyHostCount: { namespace: 'AWS/NetworkELB', metricName: 'HealthyHostCount', dimensions: ['LoadBalancer', 'TargetGroup'], unit: 'count', source: NLB_SRC },
  albUnHealthyHostCount: { namespace: 'AWS/ApplicationELB', metricName: 'UnHealthyHostCount', dimensions: ['LoadBalancer', 'TargetGroup'], unit: 'count', source: ALB_SRC },
  albHealthyHostCount: { namespace: 'AWS/ApplicationELB', metricName: 'HealthyHostCount', dimensions: ['LoadBalancer', 'TargetGroup'], unit: 'count', source: ALB_SRC },
  albElb5xx: { namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_ELB_5XX_Count', dimensions: ['LoadBalancer'], unit: 'count', source: ALB_SRC },

  acmDaysToExpiry: {
    namespace: 'AWS/CertificateManager', metricName: 'DaysToExpiry', dimensions: ['CertificateArn'], unit: 'days',
    source: 'AWS Certificate Manager User Guide, "Supported CloudWatch metrics" (AWS/CertificateManager, CertificateArn; published daily)',
  },
  backupJobsCompleted: {
    namespace: 'AWS/Backup', metricName: 'NumberOfBackupJobsCompleted', dimensions: ['BackupVaultName'], unit: 'count',
    source: 'AWS Backup Developer Guide, "AWS Backup metrics with Amazon CloudWatch" (AWS/Backup, per backup vault; published about every 5 minutes, best effort)',
  },

  osClusterStatusRed: os('ClusterStatus.red', '0/1'),
  osClusterStatusYellow: os('ClusterStatus.yellow', '0/1'),
  osFreeStorageSpace: os('FreeStorageSpace', 'MiB'),
  osClusterIndexWritesBlocked: os('ClusterIndexWritesBlocked', '0/1'),
  osNodes: os('Nodes', 'count'),
  osAutomatedSnapshotFailure: os('AutomatedSnapshotFailure', '0/1'),
  osCpuUtilization: os('CPUUtilization', 'percent'),
  osJvmMemoryPressure: os('JVMMemoryPressure', 'percent'),
  osMasterCpuUtilization: os('MasterCPUUtilization', 'percent'),
  osMasterJvmMemoryPressure: os('MasterJVMMemoryPressure', 'percent'),
  osMasterReachableFromNode: { ...os('MasterReachableFromNode', '0/1'), source: 'AWS Knowledge Center, "How do I use CloudWatch alarms to monitor my Amazon OpenSearch Service cluster?" (AWS/ES, MasterReachableFromNode: leader node down), and the OpenSearch cluster metrics page' },
} as const satisfies Record<string, AwsMetricSpec>;

/** Key of a row of {@link AWS_METRICS}. */
export type AwsMetricKey = keyof typeof AWS_METRICS;
