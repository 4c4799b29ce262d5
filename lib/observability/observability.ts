import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { AWS_METRICS, AwsMetricKey } from './aws-metrics';
import { PlatformService, TEMPORAL_ROLES, TemporalRole } from '../services/roles';
import { EMF_METRICS, EmfMetricKey } from './otel-collector';

/** Where the runbook lives; every alarm description ends with a link to one of its sections. */
export const RUNBOOK = 'docs/operations.md';

/** Properties of {@link TemporalObservability}. */
export interface TemporalObservabilityProps {
  /** Environment name: names the dashboard `temporal-<envName>` and prefixes alarm names. */
  readonly envName: string;
  /** E-mail addresses subscribed to the alarm topic. @default - none (subscribe later, e.g. a chat integration) */
  readonly alarmEmails?: string[];
  /** An existing SNS topic for the alarms (in the stack's Region) instead of one created here. @default - a new topic */
  readonly alarmTopicArn?: string;
  /**
   * KMS key of the created topic; its policy must let cloudwatch.amazonaws.com (the alarms) and
   * events.amazonaws.com (the EventBridge rules below; aws-cdk-lib adds this one to a created key)
   * kms:Decrypt and kms:GenerateDataKey* (lib/security/platform-key.ts). @default - the topic is not encrypted
   */
  readonly alarmTopicKey?: kms.IKey;
  /** DSQL cluster identifier (dimension `ClusterId`). */
  readonly dsqlClusterId: string;
  /** The ECS cluster of the services (dimension `ClusterName`; Container Insights must be on). */
  readonly ecsCluster: ecs.ICluster;
  /** The ECS services to watch, by role (dimension `ServiceName`). */
  readonly services: Readonly<Partial<Record<PlatformService, ecs.BaseService>>>;
  /** The frontend NLB (internal, TCP 7233). */
  readonly frontendLoadBalancer: elbv2.NetworkLoadBalancer;
  /** The frontend NLB's target group. */
  readonly frontendTargetGroup: elbv2.NetworkTargetGroup;
  /** The UI ALB. */
  readonly uiLoadBalancer: elbv2.ApplicationLoadBalancer;
  /** The UI ALB's target group. */
  readonly uiTargetGroup: elbv2.ApplicationTargetGroup;
  /** OpenSearch domain name (dimension `DomainName`). */
  readonly openSearchDomainName: string;
  /** OpenSearch data node count plus dedicated master count (the `Nodes` alarm fires below it). */
  readonly openSearchNodeCount: number;
  /** EBS volume per data node, GiB (the free-storage alarm fires at 25 % of it). */
  readonly openSearchVolumeGiB: number;
  /** Whether the domain has dedicated master nodes (adds the master CPU and JVM alarms). */
  readonly openSearchDedicatedMasters: boolean;
  /**
   * CloudWatch namespace of the Temporal server metrics the collector sidecar sends as EMF
   * (lib/observability/otel-collector.ts, `Temporal/<env>`): adds the Temporal-metric alarms and widgets.
   * @default - none: no collector, no Temporal-metric alarms or widgets
   */
  readonly temporalMetricsNamespace?: string;
  /**
   * AWS Backup of the DSQL cluster to watch: failed, aborted and expired backup and copy jobs of
   * the cluster go to the alarm topic as EventBridge events, and the alarm
   * `BackupNoRecentRecoveryPoint` fires when no backup job of `vaultName` completed in
   * `alarmAfterHours` hours. An existing `alarmTopicArn` must allow `events.amazonaws.com` to
   * publish (a topic created here gets that policy). @default - no backup watch
   */
  readonly backup?: { readonly vaultName: string; readonly clusterArn: string; readonly alarmAfterHours: number };
  /** History shard count (the shard-movement alarm's threshold is a fraction of it). @default 512 */
  readonly numHistoryShards?: number;
  /**
   * Secrets Manager secrets whose rotation renews the TLS certificates: a `RotationFailed` event of
   * any of them goes to the alarm topic (EventBridge, CloudTrail events of Secrets Manager). @default - none
   */
  readonly certificateSecretArns?: string[];
  /** The UI's ACM certificate: `UiCertificateExpiry` fires 30 days before it expires. @default - none */
  readonly uiCertificateArn?: string;
}

/** Thresholds of the alarms (documented in docs/operations.md). */
export const ALARM_THRESHOLDS = {
  /** OCC conflicts as a percentage of all transactions, over 5 minutes, 3 periods in a row. */
  dsqlOccConflictPercent: 5,
  /** DSQL CommitLatency (P50 as published), average over 5 minutes, ms, 3 periods in a row. */
  dsqlCommitLatencyMs: 100,
  /** DSQL QueryTimeouts in 5 minutes (any). */
  dsqlQueryTimeouts: 1,
  /** Running tasks below desired for this many 5-minute periods. */
  ecsBelowDesiredPeriods: 3,
  /** OpenSearch CPUUtilization maximum, percent (AWS: 80 % for 15 min, 3 times). */
  osCpuPercent: 80,
  /** OpenSearch JVMMemoryPressure maximum, percent (AWS: 95 % for 1 min, 3 times). */
  osJvmPercent: 95,
  /** OpenSearch MasterCPUUtilization maximum, percent (AWS: 50 % for 15 min, 3 times). */
  osMasterCpuPercent: 50,
  /** OpenSearch MasterJVMMemoryPressure maximum, percent (AWS: 95 % for 1 min, 1 time). */
  osMasterJvmPercent: 95,
  /** OpenSearch FreeStorageSpace minimum as a fraction of one node's volume (AWS: 25 %). */
  osFreeStorageFraction: 0.25,
  /** Temporal service_errors as a percentage of service_requests of one role, 5 minutes, 3 periods in a row. */
  temporalServiceErrorPercent: 5,
  /** Temporal persistence_errors as a percentage of persistence_requests (all roles), 5 minutes, 3 periods in a row. */
  temporalPersistenceErrorPercent: 2,
  /** ResourceExhausted refusals (all roles) in 5 minutes, 3 periods in a row. */
  temporalResourceExhaustedPer5Min: 10,
  /** Average schedule-to-start latency of a task type, seconds, 5 minutes, 3 periods in a row. */
  temporalScheduleToStartSeconds: 10,
  /** Average wait for the shard lock or a shard's IO semaphore, seconds, 5 minutes, 3 periods in a row. */
  temporalShardLockSeconds: 1,
  /** Average persistence latency of history, seconds, 5 minutes, 3 periods in a row. */
  temporalPersistenceLatencySeconds: 0.5,
  /** Average wait of history queue tasks (transfer, timer, visibility) past their time, seconds, 5 minutes, 3 periods in a row. */
  temporalHistoryQueueLatencySeconds: 30,
  /** History shards acquired per 15 minutes, as a fraction of numHistoryShards, 2 periods in a row (a deploy moves each shard about once). */
  temporalShardMovementFraction: 0.5,
  /** DSQL connection refusals (53400/53300) retried by the plugin, all roles, per 5 minutes, 2 periods in a row. */
  dsqlConnectionRefusalsPer5Min: 10,
} as const;

/**
 * Roles that serve gRPC requests (`service_*` metrics): the internal worker role serves none, so it
 * has no `service_requests`; it does have persistence metrics.
 */
export const GRPC_ROLES: readonly TemporalRole[] = ['frontend', 'history', 'matching'];

/** Task types of `task_schedule_to_start_latency` (its `task_type` label). */
export const SCHEDULE_TO_START_TASK_TYPES = ['Workflow', 'Activity'] as const;

/**
 * Every value a Temporal-metric dimension takes in the alarms and widgets, by dimension name;
 * test/e2e/metrics.test.ts checks each exists in the live data.
 */
export const TEMPORAL_DIMENSION_VALUES: Readonly<Record<string, readonly string[]>> = {
  service_name: TEMPORAL_ROLES,
  task_type: SCHEDULE_TO_START_TASK_TYPES,
};

/**
 * The platform's alarms, their SNS topic and the environment's CloudWatch dashboard: AWS metrics
 * listed in `lib/observability/aws-metrics.ts` (DSQL, ECS Container Insights and service utilisation, NLB/ALB
 * target health, OpenSearch) and, with `temporalMetricsNamespace`, the Temporal server metrics the
 * collector sidecar sends as EMF, listed in `EMF_METRICS` (lib/observability/otel-collector.ts): error ratios,
 * resource-exhausted refusals, request, persistence, schedule-to-start and shard lock latencies.
 * Every alarm description links to its runbook section.
 */
export class TemporalObservability extends Construct {
  /** The topic every alarm notifies (alarm and OK): created here, or `alarmTopicArn`. */
  public readonly topic: sns.ITopic;
  /** The alarms by name suffix, e.g. `DsqlOccConflicts`, `EcsFrontendBelowDesired`. */
  public readonly alarms: Record<string, cloudwatch.Alarm>;
  /** The dashboard `temporal-<env>`. */
  public readonly dashboard: cloudwatch.Dashboard;
  /** The EventBridge rule sending failed backup and copy jobs of the DSQL cluster to the topic (with `backup`). */
  public readonly backupFailures?: events.Rule;

  private readonly envName: string;
  private readonly numHistoryShards: number;

  constructor(scope: Construct, id: string, props: TemporalObservabilityProps) {
    super(scope, id);
    this.envName = props.envName;
    this.numHistoryShards = props.numHistoryShards ?? 512;
    this.alarms = {};
    if (props.alarmTopicArn) {
      this.topic = sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn);
    } else {
      const topic = new sns.Topic(this, 'AlarmTopic', { displayName: `Temporal ${props.envName} alarms`, enforceSSL: true, masterKey: props.alarmTopicKey });
      Validations.of(topic).acknowledge({
        id: 'AwsSolutions-SNS2',
        reason: 'Alarm notifications carry no data beyond alarm names and states; CloudWatch cannot publish to a topic encrypted with the AWS managed SNS key, and a customer key only for this is not worth its cost.',
      });
      this.topic = topic;
    }
    for (const email of props.alarmEmails ?? []) this.topic.addSubscription(new subs.EmailSubscription(email));

    const account = Stack.of(this).account;
    const dsqlDims = { ClusterId: props.dsqlClusterId };
    const osDims = { ClientId: account, DomainName: props.openSearchDomainName };
    const m = (key: AwsMetricKey, dims: Record<string, string>, statistic: string, period: Duration, label?: string) =>
      awsMetric(key, dims, { statistic, period, label });
    const five = Duration.minutes(5);
    const one = Duration.minutes(1);

    // DSQL
    const tx = m('dsqlTotalTransactions', dsqlDims, 'Sum', five, 'transactions');
    const occ = m('dsqlOccConflicts', dsqlDims, 'Sum', five, 'OCC conflicts');
    const occPercent = new cloudwatch.MathExpression({
      expression: 'IF(tx > 0, 100 * occ / tx, 0)', usingMetrics: { tx, occ }, period: five, label: 'OCC conflicts, % of transactions',
    });
    this.alarm('DsqlOccConflicts', occPercent, ALARM_THRESHOLDS.dsqlOccConflictPercent, 3, cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      `DSQL OCC conflicts are >= ${ALARM_THRESHOLDS.dsqlOccConflictPercent} % of transactions for 15 min (OCC storm)`, 'dsql-occ-conflicts');
    const commit = m('dsqlCommitLatency', dsqlDims, 'Average', five, 'commit latency (ms)');
    this.alarm('DsqlCommitLatency', commit, ALARM_THRESHOLDS.dsqlCommitLatencyMs, 3, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      `DSQL CommitLatency average > ${ALARM_THRESHOLDS.dsqlCommitLatencyMs} ms for 15 min`, 'dsql-commit-latency');
    const timeouts = m('dsqlQueryTimeouts', dsqlDims, 'Sum', five, 'query timeouts');
    this.alarm('DsqlQueryTimeouts', timeouts, ALARM_THRESHOLDS.dsqlQueryTimeouts, 1, cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      'DSQL queries timed out (transaction hit the 5 min limit)', 'dsql-query-timeouts');

    // ECS: running below desired, per service (Container Insights)
    const clusterName = props.ecsCluster.clusterName;
    const ecsWidgets: cloudwatch.IWidget[] = [];
    for (const [role, service] of Object.entries(props.services) as [PlatformService, ecs.BaseService][]) {
      const dims = { ClusterName: clusterName, ServiceName: service.serviceName };
      const running = m('ecsRunningTaskCount', dims, 'Average', five, `${role} running`);
      const desired = m('ecsDesiredTaskCount', dims, 'Average', five, `${role} desired`);
      const missing = new cloudwatch.MathExpression({ expression: 'desired - running', usingMetrics: { desired, running }, period: five, label: `${role} tasks missing` });
      this.alarm(`Ecs${pascal(role)}BelowDesired`, missing, 1, ALARM_THRESHOLDS.ecsBelowDesiredPeriods, cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        `ECS service ${role}: running tasks below desired for 15 min`, 'ecs-tasks-below-desired');
      ecsWidgets.push(new cloudwatch.GraphWidget({
        title: `${role}: tasks, CPU and memory`,
        left: [running, desired],
        right: [m('ecsCpuUtilization', dims, 'Average', five, 'CPU %'), m('ecsMemoryUtilization', dims, 'Average', five, 'memory %')],
        width: 8,
      }));
    }

    // Load balancers
    const nlbDims = { LoadBalancer: props.frontendLoadBalancer.loadBalancerFullName, TargetGroup: props.frontendTargetGroup.targetGroupFullName };
    const nlbUnhealthy = m('nlbUnHealthyHostCount', nlbDims, 'Maximum', one, 'frontend NLB unhealthy');
    this.alarm('NlbUnhealthyHosts', nlbUnhealthy, 1, 5, cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      'Frontend NLB has unhealthy targets for 5 min', 'nlb-unhealthy-hosts');
    const albDims = { LoadBalancer: props.uiLoadBalancer.loadBalancerFullName, TargetGroup: props.uiTargetGroup.targetGroupFullName };
    const albUnhealthy = m('albUnHealthyHostCount', albDims, 'Maximum', one, 'UI ALB unhealthy');
    this.alarm('AlbUnhealthyHosts', albUnhealthy, 1, 5, cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      'UI ALB has unhealthy targets for 5 min', 'alb-unhealthy-hosts');
    // No healthy target at all: the unhealthy-count alarms stay quiet when the targets are gone (a
    // service at 0 tasks reports no unhealthy hosts), so these count the healthy ones, and a period
    // without data (no target group metrics) counts as breaching.
    this.alarm('NlbNoHealthyHosts', m('nlbHealthyHostCount', nlbDims, 'Minimum', one, 'frontend NLB healthy'), 1, 2,
      cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD, 'Frontend NLB has no healthy target for 2 min: no client reaches Temporal', 'nlb-no-healthy-hosts',
      cloudwatch.TreatMissingData.BREACHING);
    this.alarm('AlbNoHealthyHosts', m('albHealthyHostCount', albDims, 'Minimum', one, 'UI ALB healthy'), 1, 2,
      cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD, 'UI ALB has no healthy target for 2 min: the UI is down', 'alb-no-healthy-hosts',
      cloudwatch.TreatMissingData.BREACHING);

    // AWS Backup of the DSQL cluster: a job that fails says so at once (EventBridge); a job that
    // never runs (schedule removed, opt-in missing, plan deleted) says nothing, so the absence of
    // completed jobs is an alarm with missing data breaching.
    if (props.backup) {
      const completed = m('backupJobsCompleted', { BackupVaultName: props.backup.vaultName }, 'Sum', Duration.hours(1), 'backup jobs completed');
      this.alarm('BackupNoRecentRecoveryPoint', completed, 1, props.backup.alarmAfterHours, cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        `No backup job of vault ${props.backup.vaultName} completed for ${props.backup.alarmAfterHours} h: the DSQL cluster has no fresh recovery point`,
        'backup-no-recent-recovery-point', cloudwatch.TreatMissingData.BREACHING);
      this.backupFailures = new events.Rule(this, 'BackupJobFailures', {
        description: `Temporal ${props.envName}: failed, aborted or expired AWS Backup backup and copy jobs of the DSQL cluster, to the alarm topic`,
        eventPattern: {
          source: ['aws.backup'],
          detailType: ['Backup Job State Change', 'Copy Job State Change'],
          detail: { state: ['FAILED', 'ABORTED', 'EXPIRED'], resourceArn: [props.backup.clusterArn] },
        },
        targets: [new targets.SnsTopic(this.topic, {
          message: events.RuleTargetInput.fromText(
            `Temporal ${props.envName}: AWS Backup ${events.EventField.fromPath('$.detail-type')} is ${events.EventField.fromPath('$.detail.state')} ` +
            `for ${events.EventField.fromPath('$.detail.resourceArn')}: ${events.EventField.fromPath('$.detail.statusMessage')}. Runbook: ${RUNBOOK}#backup-job-failed`),
        })],
      });
    }

    // Certificates: a failed rotation of the TLS secrets (CloudTrail's RotationFailed event of
    // Secrets Manager), and the UI's ACM certificate close to expiry (ACM stops renewing an
    // imported certificate, and a DNS-validated one whose validation record went away).
    if (props.certificateSecretArns && props.certificateSecretArns.length > 0) {
      new events.Rule(this, 'CertificateRotationFailures', {
        description: `Temporal ${props.envName}: failed rotation of the TLS certificate secrets, to the alarm topic`,
        eventPattern: {
          source: ['aws.secretsmanager'],
          detailType: ['AWS Service Event via CloudTrail'],
          detail: { eventName: ['RotationFailed'], additionalEventData: { SecretId: props.certificateSecretArns } },
        },
        targets: [new targets.SnsTopic(this.topic, {
          message: events.RuleTargetInput.fromText(
            `Temporal ${props.envName}: rotation of TLS certificate secret ${events.EventField.fromPath('$.detail.additionalEventData.SecretId')} failed. ` +
            `Runbook: ${RUNBOOK}#certificate-rotation-failed`),
        })],
      });
    }
    if (props.uiCertificateArn) {
      this.alarm('UiCertificateExpiry', m('acmDaysToExpiry', { CertificateArn: props.uiCertificateArn }, 'Minimum', Duration.days(1), 'UI certificate days to expiry'), 30, 1,
        cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD, 'The UI certificate (ACM) expires in less than 30 days', 'ui-certificate-expiry');
    }

    // OpenSearch: AWS's recommended alarms
    const ge = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD;
    const red = m('osClusterStatusRed', osDims, 'Maximum', one, 'red');
    this.alarm('OpenSearchClusterRed', red, 1, 1, ge, 'OpenSearch cluster status red for 1 min', 'opensearch-cluster-red');
    const yellow = m('osClusterStatusYellow', osDims, 'Maximum', one, 'yellow');
    this.alarm('OpenSearchClusterYellow', yellow, 1, 5, ge, 'OpenSearch cluster status yellow for 5 min', 'opensearch-cluster-yellow');
    const freeMiB = Math.floor(props.openSearchVolumeGiB * 1024 * ALARM_THRESHOLDS.osFreeStorageFraction);
    const free = m('osFreeStorageSpace', osDims, 'Minimum', one, 'free storage (MiB)');
    this.alarm('OpenSearchFreeStorage', free, freeMiB, 1, cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
      `OpenSearch node free storage <= ${freeMiB} MiB (25 % of ${props.openSearchVolumeGiB} GiB)`, 'opensearch-free-storage');
    const blocked = m('osClusterIndexWritesBlocked', osDims, 'Maximum', five, 'writes blocked');
    this.alarm('OpenSearchWritesBlocked', blocked, 1, 1, ge, 'OpenSearch is blocking index writes (visibility records are not written)', 'opensearch-writes-blocked');
    const nodes = m('osNodes', osDims, 'Minimum', Duration.days(1), 'nodes');
    this.alarm('OpenSearchNodes', nodes, props.openSearchNodeCount, 1, cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      `OpenSearch had fewer than ${props.openSearchNodeCount} nodes for a day`, 'opensearch-nodes');
    const snap = m('osAutomatedSnapshotFailure', osDims, 'Maximum', one, 'snapshot failure');
    this.alarm('OpenSearchSnapshotFailure', snap, 1, 1, ge, 'OpenSearch automated snapshot failed', 'opensearch-snapshot-failure');
    const cpu = m('osCpuUtilization', osDims, 'Maximum', Duration.minutes(15), 'data CPU %');
    this.alarm('OpenSearchCpu', cpu, ALARM_THRESHOLDS.osCpuPercent, 3, ge, `OpenSearch data node CPU >= ${ALARM_THRESHOLDS.osCpuPercent} % for 45 min`, 'opensearch-cpu-and-jvm');
    const jvm = m('osJvmMemoryPressure', osDims, 'Maximum', one, 'data JVM %');
    this.alarm('OpenSearchJvmPressure', jvm, ALARM_THRESHOLDS.osJvmPercent, 3, ge, `OpenSearch data node JVM memory pressure >= ${ALARM_THRESHOLDS.osJvmPercent} % for 3 min`, 'opensearch-cpu-and-jvm');
    const reach = m('osMasterReachableFromNode', osDims, 'Maximum', Duration.days(1), 'master reachable');
    this.alarm('OpenSearchMasterUnreachable', reach, 1, 1, cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      'OpenSearch master node unreachable from nodes for a day', 'opensearch-master-nodes');
    const osRight: cloudwatch.IMetric[] = [cpu, jvm];
    if (props.openSearchDedicatedMasters) {
      const mcpu = m('osMasterCpuUtilization', osDims, 'Maximum', Duration.minutes(15), 'master CPU %');
      this.alarm('OpenSearchMasterCpu', mcpu, ALARM_THRESHOLDS.osMasterCpuPercent, 3, ge, `OpenSearch master CPU >= ${ALARM_THRESHOLDS.osMasterCpuPercent} % for 45 min`, 'opensearch-master-nodes');
      const mjvm = m('osMasterJvmMemoryPressure', osDims, 'Maximum', one, 'master JVM %');
      this.alarm('OpenSearchMasterJvmPressure', mjvm, ALARM_THRESHOLDS.osMasterJvmPercent, 1, ge, `OpenSearch master JVM memory pressure >= ${ALARM_THRESHOLDS.osMasterJvmPercent} %`, 'opensearch-master-nodes');
      osRight.push(mcpu, mjvm);
    }

    const temporalRows = props.temporalMetricsNamespace ? this.temporalAlarmsAndWidgets(props.temporalMetricsNamespace) : [];

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `temporal-${props.envName}`,
      defaultInterval: Duration.hours(3),
      widgets: [
        [new cloudwatch.TextWidget({
          markdown: props.temporalMetricsNamespace
            ? `# Temporal ${props.envName}\nTemporal server metrics (namespace ${props.temporalMetricsNamespace}, from the collector sidecar; latencies are averages in seconds, percentiles are in Prometheus/Grafana) and AWS metrics (lib/aws-metrics.ts). Runbook: ${RUNBOOK}`
            : `# Temporal ${props.envName}\nAWS metrics only (lib/aws-metrics.ts): the metrics collector is off (observability.metricsCollector). Runbook: ${RUNBOOK}`,
          width: 24, height: 2,
        })],
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(this.alarms), width: 24, height: 4 })],
        ...temporalRows,
        [
          new cloudwatch.GraphWidget({ title: 'DSQL transactions and OCC conflicts', left: [tx, m('dsqlReadOnlyTransactions', dsqlDims, 'Sum', five, 'read-only'), occ], right: [occPercent], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'DSQL commit latency (ms) and query timeouts', left: [commit], right: [timeouts], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'DSQL storage (bytes)', left: [m('dsqlClusterStorageSize', dsqlDims, 'Maximum', Duration.hours(1), 'storage')], width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'DSQL work billed as DPUs: bytes read and written (per 5 min), compute time (ms)',
            left: [m('dsqlBytesRead', dsqlDims, 'Sum', five, 'bytes read'), m('dsqlBytesWritten', dsqlDims, 'Sum', five, 'bytes written')],
            right: [m('dsqlComputeTime', dsqlDims, 'Sum', five, 'compute time (ms)')],
            width: 24,
          }),
        ],
        ecsWidgets,
        [
          new cloudwatch.GraphWidget({ title: 'Frontend NLB targets', left: [m('nlbHealthyHostCount', nlbDims, 'Minimum', one, 'healthy'), nlbUnhealthy], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'UI ALB targets and 5xx', left: [m('albHealthyHostCount', albDims, 'Minimum', one, 'healthy'), albUnhealthy],
            right: [m('albElb5xx', { LoadBalancer: props.uiLoadBalancer.loadBalancerFullName }, 'Sum', five, 'ELB 5xx')], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'OpenSearch status', left: [red, yellow, blocked, snap], right: [nodes], width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'OpenSearch CPU and JVM (%)', left: osRight, width: 12 }),
          new cloudwatch.GraphWidget({ title: 'OpenSearch free storage (MiB)', left: [free], width: 12 }),
        ],
      ],
    });
  }

  /** The Temporal-metric alarms; returns the dashboard rows of the Temporal metrics. */
  private temporalAlarmsAndWidgets(namespace: string): cloudwatch.IWidget[][] {
    const five = Duration.minutes(5);
    const ge = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD;
    const t = (key: EmfMetricKey, dims: Record<string, string>, statistic: string, label: string) =>
      temporalMetric(namespace, key, dims, { statistic, period: five, label });
    const perRole = (key: EmfMetricKey, statistic: string, suffix: string, roles: readonly TemporalRole[] = TEMPORAL_ROLES) =>
      roles.map((r) => t(key, { service_name: r }, statistic, `${r} ${suffix}`));

    // Service error ratio per role.
    const errorPercents: cloudwatch.IMetric[] = [];
    for (const r of GRPC_ROLES) {
      const req = t('serviceRequests', { service_name: r }, 'Sum', `${r} requests`);
      const err = t('serviceErrors', { service_name: r }, 'Sum', `${r} errors`);
      // Ids unique per role: the three ratios share one graph.
      const pct = new cloudwatch.MathExpression({
        expression: `IF(req_${r} > 0, 100 * FILL(err_${r}, 0) / req_${r}, 0)`, usingMetrics: { [`req_${r}`]: req, [`err_${r}`]: err }, period: five, label: `${r} errors, % of requests`,
      });
      errorPercents.push(pct);
      this.alarm(`Temporal${pascal(r)}ServiceErrors`, pct, ALARM_THRESHOLDS.temporalServiceErrorPercent, 3, ge,
        `Temporal ${r}: service_errors >= ${ALARM_THRESHOLDS.temporalServiceErrorPercent} % of requests for 15 min`, 'temporal-service-errors');
    }

    // The metrics pipeline's heartbeat: a frontend always serves requests (the worker role's system
    // workflows poll it), so no frontend request count for 15 min means the frontend or the collector
    // sidecars are gone, which would silence every Temporal-metric alarm above: missing is breaching.
    this.alarm('TemporalMetricsMissing', t('serviceRequests', { service_name: 'frontend' }, 'SampleCount', 'frontend request samples'), 1, 3,
      cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD, 'No Temporal frontend request metrics for 15 min: the frontend or the collector sidecars are down',
      'temporal-metrics-missing', cloudwatch.TreatMissingData.BREACHING);

    // Persistence error ratio, all roles.
    const sumOf = (key: EmfMetricKey, prefix: string, roles: readonly TemporalRole[] = TEMPORAL_ROLES) => {
      const ms = Object.fromEntries(roles.map((r) => [`${prefix}${r}`, t(key, { service_name: r }, 'Sum', `${r}`)]));
      return { ms, expr: Object.keys(ms).map((k) => `FILL(${k}, 0)`).join(' + ') };
    };
    const pReq = sumOf('persistenceRequests', 'preq_');
    const pErr = sumOf('persistenceErrors', 'perr_');
    const persistencePct = new cloudwatch.MathExpression({
      expression: `IF((${pReq.expr}) > 0, 100 * (${pErr.expr}) / (${pReq.expr}), 0)`,
      usingMetrics: { ...pReq.ms, ...pErr.ms }, period: five, label: 'persistence errors, % of operations',
    });
    this.alarm('TemporalPersistenceErrors', persistencePct, ALARM_THRESHOLDS.temporalPersistenceErrorPercent, 3, ge,
      `Temporal persistence_errors >= ${ALARM_THRESHOLDS.temporalPersistenceErrorPercent} % of persistence operations for 15 min`, 'temporal-persistence-errors');

    // Resource exhausted, the gRPC roles.
    const rex = sumOf('serviceResourceExhausted', 'rex_', GRPC_ROLES);
    const rexTotal = new cloudwatch.MathExpression({ expression: rex.expr, usingMetrics: rex.ms, period: five, label: 'ResourceExhausted (frontend, history, matching)' });
    this.alarm('TemporalResourceExhausted', rexTotal, ALARM_THRESHOLDS.temporalResourceExhaustedPer5Min, 3, ge,
      `Temporal refused >= ${ALARM_THRESHOLDS.temporalResourceExhaustedPer5Min} requests per 5 min with ResourceExhausted for 15 min`, 'temporal-resource-exhausted');

    // Schedule-to-start, per task type (average: CloudWatch gets statistic sets, no percentiles).
    const s2s = SCHEDULE_TO_START_TASK_TYPES.map((tt) => {
      const m = t('scheduleToStart', { task_type: tt }, 'Average', `${tt} schedule-to-start (s)`);
      this.alarm(`Temporal${tt}ScheduleToStart`, m, ALARM_THRESHOLDS.temporalScheduleToStartSeconds, 3, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        `Temporal ${tt.toLowerCase()} tasks wait > ${ALARM_THRESHOLDS.temporalScheduleToStartSeconds} s on average before a worker takes them, for 15 min`, 'temporal-schedule-to-start');
      return m;
    });

    // Shard lock and shard IO semaphore (history).
    const lock = t('shardLockLatency', { service_name: 'history' }, 'Average', 'shard lock wait (s)');
    this.alarm('TemporalShardLockLatency', lock, ALARM_THRESHOLDS.temporalShardLockSeconds, 3, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      `Temporal history waits > ${ALARM_THRESHOLDS.temporalShardLockSeconds} s on average for the shard lock, for 15 min`, 'temporal-shard-lock-latency');
    const sem = t('shardSemaphoreLatency', { service_name: 'history' }, 'Average', 'shard IO semaphore wait (s)');
    this.alarm('TemporalShardSemaphoreLatency', sem, ALARM_THRESHOLDS.temporalShardLockSeconds, 3, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      `Temporal history waits > ${ALARM_THRESHOLDS.temporalShardLockSeconds} s on average for a shard's IO semaphore, for 15 min`, 'temporal-shard-lock-latency');

    // Persistence latency (history: every workflow transaction), queue lag, shard movement.
    const pLat = t('persistenceLatency', { service_name: 'history' }, 'Average', 'history persistence latency (s)');
    this.alarm('TemporalPersistenceLatency', pLat, ALARM_THRESHOLDS.temporalPersistenceLatencySeconds, 3, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      `Temporal history persistence operations take > ${ALARM_THRESHOLDS.temporalPersistenceLatencySeconds} s on average, for 15 min`, 'temporal-persistence-latency');
    const qLat = t('historyQueueLatency', { service_name: 'history' }, 'Average', 'history queue task lag (s)');
    this.alarm('TemporalHistoryQueueLatency', qLat, ALARM_THRESHOLDS.temporalHistoryQueueLatencySeconds, 3, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      `Temporal history queue tasks (transfer, timer, visibility) run > ${ALARM_THRESHOLDS.temporalHistoryQueueLatencySeconds} s after their time on average, for 15 min`, 'temporal-history-queue-latency');
    const moved = temporalMetric(namespace, 'shardsAcquired', { service_name: 'history' }, { statistic: 'Sum', period: Duration.minutes(15), label: 'shards acquired (per 15 min)' });
    const movedThreshold = Math.max(1, Math.ceil(this.numHistoryShards * ALARM_THRESHOLDS.temporalShardMovementFraction));
    this.alarm('TemporalShardMovement', moved, movedThreshold, 2, ge,
      `Temporal history hosts acquired >= ${movedThreshold} shards per 15 min for 30 min: shards keep moving between hosts`, 'temporal-shard-movement');

    // Events that are never normal: a recovered panic, a suspected deadlock (counters registered
    // only when they happen, so their absence is the healthy state).
    const panics = sumOf('servicePanics', 'panic_');
    this.alarm('TemporalServicePanics', new cloudwatch.MathExpression({ expression: panics.expr, usingMetrics: panics.ms, period: five, label: 'panics' }), 1, 1, ge,
      'The Temporal server recovered from a panic', 'temporal-service-panics');
    const dl = sumOf('suspectedDeadlocks', 'dl_');
    this.alarm('TemporalSuspectedDeadlocks', new cloudwatch.MathExpression({ expression: dl.expr, usingMetrics: dl.ms, period: five, label: 'suspected deadlocks' }), 1, 1, ge,
      "Temporal's deadlock detector found a lock held past its timeout", 'temporal-suspected-deadlocks');

    // DSQL connection refusals (rate 53400, count 53300), as the plugin retried them.
    const refused = sumOf('dsqlConnectRetries', 'cr_');
    const refusedTotal = new cloudwatch.MathExpression({ expression: refused.expr, usingMetrics: refused.ms, period: five, label: 'DSQL connection refusals retried' });
    this.alarm('DsqlConnectionRefusals', refusedTotal, ALARM_THRESHOLDS.dsqlConnectionRefusalsPer5Min, 2, ge,
      `DSQL refused >= ${ALARM_THRESHOLDS.dsqlConnectionRefusalsPer5Min} connections per 5 min (53400 rate or 53300 count limit) for 10 min`, 'connection-rate-errors-53400');

    // The DSQL plugin's own counters (docs/temporal-server.md, "Metrics"): no alarms, for diagnosis.
    const refusals = sumOf('dsqlLimitRefusals', 'lr_');
    const conflicts = sumOf('dsqlOccConflicts', 'oc_');
    const hits = sumOf('dsqlPrefetchHits', 'ph_');
    const misses = sumOf('dsqlPrefetchMisses', 'pm_');
    const waits = sumOf('dsqlPoolWaits', 'pw_');
    const waitMs = sumOf('dsqlPoolWaitMs', 'pwm_');
    const expr = (x: { expr: string; ms: Record<string, cloudwatch.IMetric> }, label: string) =>
      new cloudwatch.MathExpression({ expression: x.expr, usingMetrics: x.ms, period: five, label });
    const avgWait = new cloudwatch.MathExpression({
      expression: `IF((${waits.expr}) > 0, (${waitMs.expr}) / (${waits.expr}), 0)`, usingMetrics: { ...waits.ms, ...waitMs.ms }, period: five, label: 'average wait (ms)',
    });

    return [
      [
        new cloudwatch.GraphWidget({ title: 'Temporal requests per role (per 5 min)', left: perRole('serviceRequests', 'Sum', 'requests', GRPC_ROLES), width: 8 }),
        new cloudwatch.GraphWidget({ title: 'Temporal service errors, % of requests', left: errorPercents, width: 8 }),
        new cloudwatch.GraphWidget({ title: 'Temporal request latency per role, average (s, long polls left out)', left: perRole('serviceLatency', 'Average', 'latency', GRPC_ROLES), width: 8 }),
      ],
      [
        new cloudwatch.GraphWidget({ title: 'Persistence operations and errors (per 5 min)', left: perRole('persistenceRequests', 'Sum', 'operations'), right: perRole('persistenceErrors', 'Sum', 'errors'), width: 8 }),
        new cloudwatch.GraphWidget({ title: 'Persistence latency per role, average (s)', left: perRole('persistenceLatency', 'Average', 'latency'), right: [persistencePct], width: 8 }),
        new cloudwatch.GraphWidget({ title: 'ResourceExhausted refusals (per 5 min)', left: perRole('serviceResourceExhausted', 'Sum', 'refused', GRPC_ROLES), width: 8 }),
      ],
      [
        new cloudwatch.GraphWidget({ title: 'Schedule-to-start latency, average (s)', left: s2s, width: 12 }),
        new cloudwatch.GraphWidget({ title: 'History shard lock and IO semaphore wait, average (s)', left: [lock, sem], width: 12 }),
      ],
      [
        new cloudwatch.GraphWidget({ title: 'History queue task lag, average (s)', left: [qLat], right: [moved], width: 12 }),
        new cloudwatch.GraphWidget({ title: 'DSQL connection refusals, panics, suspected deadlocks (per 5 min)', left: [refusedTotal], width: 12 }),
      ],
      [
        new cloudwatch.GraphWidget({ title: 'DSQL plugin: writes refused at a DSQL limit, OCC conflicts (per 5 min)', left: [expr(refusals, 'limit refusals')], right: [expr(conflicts, 'OCC conflicts')], width: 8 }),
        new cloudwatch.GraphWidget({ title: 'DSQL plugin: mutable-state map reads, one-round-trip load hits and misses (per 5 min)', left: [expr(hits, 'hits'), expr(misses, 'misses')], width: 8 }),
        new cloudwatch.GraphWidget({ title: 'DSQL plugin: calls waiting for a pool connection (per 5 min), average wait (ms)', left: [expr(waits, 'pool waits')], right: [avgWait], width: 8 }),
      ],
    ];
  }

  /**
   * One alarm notifying the topic on ALARM and OK. `treatMissingData` is NOT_BREACHING unless the
   * alarm's silence itself means failure (no healthy target, no metrics from the collector).
   */
  private alarm(name: string, metric: cloudwatch.IMetric, threshold: number, evaluationPeriods: number,
    comparisonOperator: cloudwatch.ComparisonOperator, what: string, anchor: string,
    treatMissingData: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, name, {
      alarmName: `temporal-${this.envName}-${name}`,
      alarmDescription: `${what}. Runbook: ${RUNBOOK}#${anchor}`,
      metric,
      threshold,
      evaluationPeriods,
      comparisonOperator,
      treatMissingData,
    });
    alarm.addAlarmAction(new cwActions.SnsAction(this.topic));
    alarm.addOkAction(new cwActions.SnsAction(this.topic));
    this.alarms[name] = alarm;
    return alarm;
  }
}

/**
 * A metric from the table in lib/observability/aws-metrics.ts; the dimensions given must be exactly the table's.
 * @throws Error when the dimension names differ from the table's row
 */
export function awsMetric(key: AwsMetricKey, dimensions: Record<string, string>, props: Omit<cloudwatch.MetricProps, 'namespace' | 'metricName' | 'dimensionsMap'> = {}): cloudwatch.Metric {
  const spec = AWS_METRICS[key];
  const given = Object.keys(dimensions).sort().join(',');
  if (given !== [...spec.dimensions].sort().join(',')) {
    throw new Error(`Metric ${spec.namespace} ${spec.metricName} takes dimensions ${spec.dimensions.join(', ')}, got ${given}`);
  }
  return new cloudwatch.Metric({ ...props, namespace: spec.namespace, metricName: spec.metricName, dimensionsMap: dimensions });
}

/**
 * A Temporal server metric as the collector sends it to CloudWatch (lib/observability/otel-collector.ts
 * EMF_METRICS): namespace `namespace`, the server's metric name, exactly the row's dimensions.
 * @throws Error when the dimension names differ from the row's
 */
export function temporalMetric(namespace: string, key: EmfMetricKey, dimensions: Record<string, string>, props: Omit<cloudwatch.MetricProps, 'namespace' | 'metricName' | 'dimensionsMap'> = {}): cloudwatch.Metric {
  const spec = EMF_METRICS[key];
  const given = Object.keys(dimensions).sort().join(',');
  if (given !== [...spec.dimensions].sort().join(',')) {
    throw new Error(`Metric ${namespace} ${spec.name} takes dimensions ${spec.dimensions.join(', ')}, got ${given}`);
  }
  return new cloudwatch.Metric({ ...props, namespace, metricName: spec.name, dimensionsMap: dimensions });
}

function pascal(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
