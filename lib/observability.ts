import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { AWS_METRICS, AwsMetricKey } from './aws-metrics';
import { PlatformService } from './config';

/** Where the runbook lives; every alarm description ends with a link to one of its sections. */
export const RUNBOOK = 'docs/operations.md';

/** Properties of {@link TemporalObservability}. */
export interface TemporalObservabilityProps {
  /** Environment name: names the dashboard `temporal-<envName>` and prefixes alarm names. */
  readonly envName: string;
  /** E-mail addresses subscribed to the alarm topic. @default - none (subscribe later, e.g. a chat integration) */
  readonly alarmEmails?: string[];
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
} as const;

/**
 * The platform's alarms, their SNS topic and the environment's CloudWatch dashboard, built only
 * from AWS metrics listed in `lib/aws-metrics.ts` (DSQL, ECS Container Insights and service
 * utilisation, NLB/ALB target health, OpenSearch). Temporal's own Prometheus metrics (request
 * errors, persistence latency, schedule-to-start) need the metrics collector, which is not built
 * yet: none of its alarms or widgets exist. Every alarm description links to its runbook section.
 */
export class TemporalObservability extends Construct {
  /** The topic every alarm notifies (alarm and OK). */
  public readonly topic: sns.Topic;
  /** The alarms by name suffix, e.g. `DsqlOccConflicts`, `EcsFrontendBelowDesired`. */
  public readonly alarms: Record<string, cloudwatch.Alarm>;
  /** The dashboard `temporal-<env>`. */
  public readonly dashboard: cloudwatch.Dashboard;

  private readonly envName: string;

  constructor(scope: Construct, id: string, props: TemporalObservabilityProps) {
    super(scope, id);
    this.envName = props.envName;
    this.alarms = {};
    this.topic = new sns.Topic(this, 'AlarmTopic', { displayName: `Temporal ${props.envName} alarms`, enforceSSL: true });
    Validations.of(this.topic).acknowledge({
      id: 'AwsSolutions-SNS2',
      reason: 'Alarm notifications carry no data beyond alarm names and states; CloudWatch cannot publish to a topic encrypted with the AWS managed SNS key, and a customer key only for this is not worth its cost.',
    });
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

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `temporal-${props.envName}`,
      defaultInterval: Duration.hours(3),
      widgets: [
        [new cloudwatch.TextWidget({
          markdown: `# Temporal ${props.envName}\nAWS metrics only (lib/aws-metrics.ts). Temporal's own metrics (requests, errors, persistence and schedule-to-start latency) need the metrics collector, not deployed yet. Runbook: ${RUNBOOK}`,
          width: 24, height: 2,
        })],
        [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(this.alarms), width: 24, height: 4 })],
        [
          new cloudwatch.GraphWidget({ title: 'DSQL transactions and OCC conflicts', left: [tx, m('dsqlReadOnlyTransactions', dsqlDims, 'Sum', five, 'read-only'), occ], right: [occPercent], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'DSQL commit latency (ms) and query timeouts', left: [commit], right: [timeouts], width: 8 }),
          new cloudwatch.GraphWidget({ title: 'DSQL storage (bytes)', left: [m('dsqlClusterStorageSize', dsqlDims, 'Maximum', Duration.hours(1), 'storage')], width: 8 }),
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

  private alarm(name: string, metric: cloudwatch.IMetric, threshold: number, evaluationPeriods: number,
    comparisonOperator: cloudwatch.ComparisonOperator, what: string, anchor: string): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, name, {
      alarmName: `temporal-${this.envName}-${name}`,
      alarmDescription: `${what}. Runbook: ${RUNBOOK}#${anchor}`,
      metric,
      threshold,
      evaluationPeriods,
      comparisonOperator,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new cwActions.SnsAction(this.topic));
    alarm.addOkAction(new cwActions.SnsAction(this.topic));
    this.alarms[name] = alarm;
    return alarm;
  }
}

/**
 * A metric from the table in lib/aws-metrics.ts; the dimensions given must be exactly the table's.
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

function pascal(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
