/**
 * Alarms, alarm topic and dashboard (lib/observability/observability.ts): every metric they use is a row of the
 * table in lib/observability/aws-metrics.ts, every alarm links to an existing runbook section, thresholds as
 * documented.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import { AWS_METRICS } from '../../lib/observability/aws-metrics';
import { DEFAULT_COLLECTOR_IMAGE } from '../../lib/observability/config';
import { awsMetric } from '../../lib/observability/observability';
import { buildApp, REPO } from './helpers';

type Resources = Record<string, { Type: string; Properties?: any }>;

function synth(envName: 'dev' | 'prod', overrides: Record<string, unknown> = {}): { t: Template; resources: Resources } {
  const { stack } = buildApp(envName, { ...ENVIRONMENTS, [envName]: { ...ENVIRONMENTS[envName], ...overrides } }, { quick: true });
  const t = Template.fromStack(stack);
  return { t, resources: t.toJSON().Resources };
}

/** "namespace|metric|dim1,dim2" (dimension names sorted) of every row of the table. */
const ALLOWED = new Set(Object.values(AWS_METRICS).map((s) => `${s.namespace}|${s.metricName}|${[...s.dimensions].sort().join(',')}`));

/** Every (namespace, metric, dimension names) an alarm uses, single metric or metric math. */
function alarmMetrics(resources: Resources): string[] {
  const out: string[] = [];
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::CloudWatch::Alarm') continue;
    const p = r.Properties;
    if (p.MetricName) out.push(`${p.Namespace}|${p.MetricName}|${(p.Dimensions ?? []).map((d: any) => d.Name).sort().join(',')}`);
    for (const q of p.Metrics ?? []) {
      if (q.MetricStat) {
        const mm = q.MetricStat.Metric;
        out.push(`${mm.Namespace}|${mm.MetricName}|${(mm.Dimensions ?? []).map((d: any) => d.Name).sort().join(',')}`);
      } else if (!q.Expression) {
        out.push(`unknown metric entry ${JSON.stringify(q)}`);
      }
    }
  }
  return out;
}

/** The dashboard body as JSON, CloudFormation tokens replaced by "TOKEN". */
function dashboardBody(resources: Resources): any {
  const dash = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Dashboard');
  expect(dash).toHaveLength(1);
  const body = dash[0].Properties.DashboardBody;
  const text = typeof body === 'string' ? body : body['Fn::Join'][1].map((part: unknown) => (typeof part === 'string' ? part : 'TOKEN')).join('');
  return JSON.parse(text);
}

/** Namespace of the Temporal server metrics (checked against the collector's EMF table in test/cdk/otel-collector.test.ts). */
const isTemporal = (key: string) => key.startsWith('Temporal/');

/** Every (namespace, metric, dimension names) a dashboard widget graphs. */
function widgetMetrics(body: any): string[] {
  const out: string[] = [];
  for (const w of body.widgets) {
    for (const row of w.properties?.metrics ?? []) {
      const parts = row.filter((x: unknown) => typeof x === 'string');
      if (parts.length === 0) continue; // a math expression: [{ expression, ... }]
      const [ns, name, ...dims] = parts;
      const names: string[] = [];
      for (let i = 0; i < dims.length; i += 2) names.push(dims[i]);
      out.push(`${ns}|${name}|${names.sort().join(',')}`);
    }
  }
  return out;
}

describe.each(['prod', 'dev'] as const)('%s: metrics only from lib/observability/aws-metrics.ts', (envName) => {
  const { resources } = synth(envName);

  test('every AWS alarm metric is a row of the table', () => {
    const used = alarmMetrics(resources).filter((u) => !isTemporal(u));
    expect(used.length).toBeGreaterThan(20);
    expect(used.filter((u) => !ALLOWED.has(u))).toEqual([]);
  });

  test('every AWS dashboard widget metric is a row of the table', () => {
    const used = widgetMetrics(dashboardBody(resources)).filter((u) => !isTemporal(u));
    expect(used.length).toBeGreaterThan(20);
    expect(used.filter((u) => !ALLOWED.has(u))).toEqual([]);
  });

  test('every alarm has a row in the alarm table of docs/operations.md, and every row names an alarm', () => {
    const doc = fs.readFileSync(path.join(REPO, 'docs', 'operations.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Alarms and dashboard'), doc.indexOf('## Metrics collector'));
    // First cell of each table row: the alarm names in backticks, `<Role>` standing for each role.
    const rows = [...section.matchAll(/^\| ([^|]+) \|/gm)].map((m) => m[1]).filter((c) => c.includes('`'));
    const documented = new Set(rows.flatMap((cell) => {
      const names = [...cell.matchAll(/`([A-Za-z<>]+)`/g)].map((m) => m[1]);
      const roles = /\(([a-z, ]+)\)/.exec(cell)?.[1].split(',').map((r) => r.trim()) ?? [];
      return names.flatMap((n) => (n.includes('<Role>') ? roles.map((r) => n.replace('<Role>', r.charAt(0).toUpperCase() + r.slice(1))) : [n]));
    }));
    const inTemplate = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
      .map((r) => String(r.Properties.AlarmName).replace(new RegExp(`^temporal-${envName}-`), ''));
    expect(inTemplate.filter((n) => !documented.has(n))).toEqual([]);
    if (envName === 'prod') expect([...documented].filter((n) => !inTemplate.includes(n)).sort()).toEqual([]);
  });

  test('every alarm links to an existing section of docs/operations.md and notifies the topic', () => {
    const doc = fs.readFileSync(path.join(REPO, 'docs', 'operations.md'), 'utf8');
    const anchors = new Set([...doc.matchAll(/^#{2,4} (.+)$/gm)].map((h) => h[1].trim().toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
    for (const r of Object.values(resources).filter((x) => x.Type === 'AWS::CloudWatch::Alarm')) {
      const m = /Runbook: docs\/operations\.md#([a-z0-9-]+)$/.exec(r.Properties.AlarmDescription);
      expect(m).not.toBeNull();
      expect(anchors).toContain(m![1]);
      expect(r.Properties.AlarmActions).toHaveLength(1);
      expect(r.Properties.AlarmActions[0]).toEqual({ Ref: expect.stringMatching(/^ObservabilityAlarmTopic/) });
    }
  });
});

describe('prod alarms and thresholds', () => {
  const { t, resources } = synth('prod', { observability: { alarmEmails: ['oncall@example.com', 'platform@example.com'] } });
  const alarms = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm').map((r) => r.Properties);
  const byName = (n: string) => alarms.find((a) => a.AlarmName === `temporal-prod-${n}`);

  test('the alarm set', () => {
    expect(alarms.map((a) => a.AlarmName).sort()).toEqual([
      'temporal-prod-AlbNoHealthyHosts',
      'temporal-prod-AlbUnhealthyHosts',
      'temporal-prod-BackupNoRecentRecoveryPoint',
      'temporal-prod-DsqlCommitLatency',
      'temporal-prod-DsqlConnectionRefusals',
      'temporal-prod-DsqlOccConflicts',
      'temporal-prod-DsqlQueryTimeouts',
      'temporal-prod-EcsFrontendBelowDesired',
      'temporal-prod-EcsHistoryBelowDesired',
      'temporal-prod-EcsMatchingBelowDesired',
      'temporal-prod-EcsUiBelowDesired',
      'temporal-prod-EcsWorkerBelowDesired',
      'temporal-prod-NlbNoHealthyHosts',
      'temporal-prod-NlbUnhealthyHosts',
      'temporal-prod-OpenSearchClusterRed',
      'temporal-prod-OpenSearchClusterYellow',
      'temporal-prod-OpenSearchCpu',
      'temporal-prod-OpenSearchFreeStorage',
      'temporal-prod-OpenSearchJvmPressure',
      'temporal-prod-OpenSearchMasterCpu',
      'temporal-prod-OpenSearchMasterJvmPressure',
      'temporal-prod-OpenSearchMasterUnreachable',
      'temporal-prod-OpenSearchNodes',
      'temporal-prod-OpenSearchSnapshotFailure',
      'temporal-prod-OpenSearchWritesBlocked',
      'temporal-prod-TemporalActivityScheduleToStart',
      'temporal-prod-TemporalFrontendServiceErrors',
      'temporal-prod-TemporalHistoryQueueLatency',
      'temporal-prod-TemporalHistoryServiceErrors',
      'temporal-prod-TemporalMatchingServiceErrors',
      'temporal-prod-TemporalMetricsMissing',
      'temporal-prod-TemporalPersistenceErrors',
      'temporal-prod-TemporalPersistenceLatency',
      'temporal-prod-TemporalResourceExhausted',
      'temporal-prod-TemporalServicePanics',
      'temporal-prod-TemporalShardLockLatency',
      'temporal-prod-TemporalShardMovement',
      'temporal-prod-TemporalShardSemaphoreLatency',
      'temporal-prod-TemporalSuspectedDeadlocks',
      'temporal-prod-TemporalWorkflowScheduleToStart',
      'temporal-prod-UiCertificateExpiry',
    ]);
  });

  test.each([
    // name, threshold, evaluation periods, comparison
    ['DsqlOccConflicts', 5, 3, 'GreaterThanOrEqualToThreshold'],
    ['DsqlCommitLatency', 100, 3, 'GreaterThanThreshold'],
    ['DsqlQueryTimeouts', 1, 1, 'GreaterThanOrEqualToThreshold'],
    ['EcsHistoryBelowDesired', 1, 3, 'GreaterThanOrEqualToThreshold'],
    ['NlbUnhealthyHosts', 1, 5, 'GreaterThanOrEqualToThreshold'],
    ['AlbUnhealthyHosts', 1, 5, 'GreaterThanOrEqualToThreshold'],
    ['NlbNoHealthyHosts', 1, 2, 'LessThanThreshold'],
    ['AlbNoHealthyHosts', 1, 2, 'LessThanThreshold'],
    ['TemporalMetricsMissing', 1, 3, 'LessThanThreshold'],
    ['OpenSearchClusterRed', 1, 1, 'GreaterThanOrEqualToThreshold'],
    ['OpenSearchClusterYellow', 1, 5, 'GreaterThanOrEqualToThreshold'],
    // 25 % of prod's 200 GiB volume, in MiB
    ['OpenSearchFreeStorage', 51200, 1, 'LessThanOrEqualToThreshold'],
    ['OpenSearchWritesBlocked', 1, 1, 'GreaterThanOrEqualToThreshold'],
    // 3 data nodes + 3 dedicated masters
    ['OpenSearchNodes', 6, 1, 'LessThanThreshold'],
    ['OpenSearchSnapshotFailure', 1, 1, 'GreaterThanOrEqualToThreshold'],
    ['OpenSearchCpu', 80, 3, 'GreaterThanOrEqualToThreshold'],
    ['OpenSearchJvmPressure', 95, 3, 'GreaterThanOrEqualToThreshold'],
    ['OpenSearchMasterCpu', 50, 3, 'GreaterThanOrEqualToThreshold'],
    ['OpenSearchMasterJvmPressure', 95, 1, 'GreaterThanOrEqualToThreshold'],
    ['OpenSearchMasterUnreachable', 1, 1, 'LessThanThreshold'],
  ])('%s: threshold %d, %d periods, %s', (name, threshold, periods, op) => {
    const a = byName(name as string);
    expect(a).toBeDefined();
    expect([a.Threshold, a.EvaluationPeriods, a.ComparisonOperator]).toEqual([threshold, periods, op]);
  });

  test('alarms whose silence means failure treat missing data as breaching; every other alarm as not breaching', () => {
    const breaching = ['NlbNoHealthyHosts', 'AlbNoHealthyHosts', 'TemporalMetricsMissing', 'BackupNoRecentRecoveryPoint'];
    for (const n of breaching) expect([n, byName(n).TreatMissingData]).toEqual([n, 'breaching']);
    const others = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm' && !breaching.some((n) => r.Properties.AlarmName.endsWith(`-${n}`)));
    expect(others.length).toBe(37);
    for (const r of others) expect([r.Properties.AlarmName, r.Properties.TreatMissingData]).toEqual([r.Properties.AlarmName, 'notBreaching']);
  });

  test('no healthy target: HealthyHostCount of the frontend NLB and the UI ALB target groups, minimum per minute', () => {
    for (const [n, ns] of [['NlbNoHealthyHosts', 'AWS/NetworkELB'], ['AlbNoHealthyHosts', 'AWS/ApplicationELB']]) {
      const q = byName(n).Metrics[0].MetricStat;
      expect([q.Metric.Namespace, q.Metric.MetricName, q.Stat, q.Period]).toEqual([ns, 'HealthyHostCount', 'Minimum', 60]);
      expect(q.Metric.Dimensions.map((d: any) => d.Name).sort()).toEqual(['LoadBalancer', 'TargetGroup']);
    }
  });

  test('the metrics heartbeat: frontend service_requests samples from the collector, 3 x 5 min', () => {
    const q = byName('TemporalMetricsMissing').Metrics[0].MetricStat;
    expect([q.Metric.Namespace, q.Metric.MetricName, q.Stat, q.Period]).toEqual(['Temporal/prod', 'service_requests', 'SampleCount', 300]);
    expect(q.Metric.Dimensions).toEqual([{ Name: 'service_name', Value: 'frontend' }]);
  });

  test('OCC conflicts alarm is a ratio of OccConflicts to TotalTransactions of this cluster', () => {
    const a = byName('DsqlOccConflicts');
    expect(a.Metrics.find((q: any) => q.Expression).Expression).toBe('IF(tx > 0, 100 * occ / tx, 0)');
    const names = a.Metrics.filter((q: any) => q.MetricStat).map((q: any) => q.MetricStat.Metric.MetricName).sort();
    expect(names).toEqual(['OccConflicts', 'TotalTransactions']);
    for (const q of a.Metrics.filter((x: any) => x.MetricStat)) {
      expect(q.MetricStat.Metric.Dimensions).toEqual([{ Name: 'ClusterId', Value: { 'Fn::GetAtt': [expect.stringMatching(/^Dsql/), 'Identifier'] } }]);
      expect(q.MetricStat.Period).toBe(300);
    }
  });

  test('running tasks below desired uses Container Insights DesiredTaskCount - RunningTaskCount of the service', () => {
    const a = byName('EcsFrontendBelowDesired');
    expect(a.Metrics.find((q: any) => q.Expression).Expression).toBe('desired - running');
    const stats = a.Metrics.filter((q: any) => q.MetricStat).map((q: any) => `${q.MetricStat.Metric.Namespace}/${q.MetricStat.Metric.MetricName}`).sort();
    expect(stats).toEqual(['ECS/ContainerInsights/DesiredTaskCount', 'ECS/ContainerInsights/RunningTaskCount']);
  });

  test('OpenSearch alarms carry DomainName temporal-prod and ClientId = the account', () => {
    const a = byName('OpenSearchClusterRed');
    expect(a.Metrics).toHaveLength(1);
    const stat = a.Metrics[0].MetricStat;
    expect({ ns: stat.Metric.Namespace, name: stat.Metric.MetricName, stat: stat.Stat, period: stat.Period })
      .toEqual({ ns: 'AWS/ES', name: 'ClusterStatus.red', stat: 'Maximum', period: 60 });
    expect(stat.Metric.Dimensions).toEqual([{ Name: 'ClientId', Value: { Ref: 'AWS::AccountId' } }, { Name: 'DomainName', Value: 'temporal-prod' }]);
  });

  test('topic: SSL enforced, one e-mail subscription per configured address', () => {
    t.resourceCountIs('AWS::SNS::Topic', 1);
    t.resourceCountIs('AWS::SNS::Subscription', 2);
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
    t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'platform@example.com' });
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('dashboard temporal-prod', () => {
    t.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'temporal-prod' });
  });
});

describe('dev and switches', () => {
  test('dev (no dedicated masters): no master CPU/JVM alarms, Nodes threshold = 2 data nodes', () => {
    const { resources } = synth('dev');
    const names = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm').map((r) => r.Properties.AlarmName);
    expect(names).not.toContain('temporal-dev-OpenSearchMasterCpu');
    expect(names).not.toContain('temporal-dev-OpenSearchMasterJvmPressure');
    expect(Object.values(resources).find((r) => r.Properties?.AlarmName === 'temporal-dev-OpenSearchNodes')!.Properties.Threshold).toBe(2);
    // 25 % of dev's 20 GiB
    expect(Object.values(resources).find((r) => r.Properties?.AlarmName === 'temporal-dev-OpenSearchFreeStorage')!.Properties.Threshold).toBe(5120);
  });

  test('observability.enabled false: no topic, alarm or dashboard', () => {
    const { t } = synth('dev', { observability: { enabled: false } });
    t.resourceCountIs('AWS::SNS::Topic', 0);
    t.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    t.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
  });

  test('awsMetric refuses dimensions the table does not list', () => {
    expect(() => awsMetric('dsqlOccConflicts', { ClusterName: 'x' }))
      .toThrow('Metric AWS/AuroraDSQL OccConflicts takes dimensions ClusterId, got ClusterName');
  });
});

describe('observability configuration', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { resolveConfig } = require('../../lib/config');
  test('defaults: on, no e-mail subscriptions, the metrics collector on', () => {
    expect(resolveConfig('dev', { numHistoryShards: 4, security: { allowNoAuth: true } }).observability).toEqual({ enabled: true, alarmEmails: [], metricsCollector: true, collectorImage: DEFAULT_COLLECTOR_IMAGE });
  });
  test.each([
    [{ alarmEmails: ['not-an-address'] }, 'Invalid configuration: dev.observability.alarmEmails[0] = "not-an-address"; allowed: an e-mail address such as oncall@example.com'],
    [{ alarmEmails: 'oncall@example.com' }, 'Invalid configuration: dev.observability.alarmEmails = "oncall@example.com"; allowed: a list of e-mail addresses'],
    [{ alarmEmails: ['a@example.com', 'a@example.com'] }, 'Invalid configuration: dev.observability.alarmEmails = ["a@example.com","a@example.com"]; allowed: distinct e-mail addresses'],
    [{ topic: 'x' }, 'Invalid configuration: dev.observability.topic = "x"; allowed: one of the known fields enabled, alarmEmails, alarmTopicArn, metricsCollector, collectorImage, managedPrometheus'],
    [{ alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:pager.fifo' }, 'Invalid configuration: dev.observability.alarmTopicArn = "arn:aws:sns:eu-west-1:123456789012:pager.fifo"; allowed: a standard SNS topic ARN'],
    [{ alarmTopicArn: 'pager' }, 'Invalid configuration: dev.observability.alarmTopicArn = "pager"; allowed: a standard SNS topic ARN'],
  ])('refuses %j', (observability, message) => {
    expect(() => resolveConfig('dev', { numHistoryShards: 4, security: { allowNoAuth: true }, observability })).toThrow(message);
  });

  describe('production: alarms must reach someone', () => {
    const prod = ENVIRONMENTS.prod;
    test('no e-mail and no topic is refused, naming the field', () => {
      expect(() => resolveConfig('prod', { ...prod, observability: { alarmEmails: [] } }))
        .toThrow('Invalid configuration: prod.observability.alarmEmails = []; allowed: at least one e-mail address, or observability.alarmTopicArn, in an environment marked production');
    });
    test('an existing topic of another Region is refused', () => {
      expect(() => resolveConfig('prod', { ...prod, observability: { alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:pager' } }))
        .toThrow("Invalid configuration: prod.observability.alarmTopicArn = \"arn:aws:sns:eu-west-1:123456789012:pager\"; allowed: a topic in the stack's Region us-east-1");
    });
    test('alarms switched off need neither', () => {
      expect(resolveConfig('prod', { ...prod, observability: { enabled: false } }).observability.enabled).toBe(false);
    });
    test('an existing topic: no topic created, every alarm and the e-mail subscription use it', () => {
      const topic = 'arn:aws:sns:us-east-1:123456789012:pager';
      const { t, resources } = synth('prod', { observability: { alarmTopicArn: topic, alarmEmails: ['a@example.com'] } });
      t.resourceCountIs('AWS::SNS::Topic', 0);
      t.hasResourceProperties('AWS::SNS::Subscription', { TopicArn: topic, Protocol: 'email', Endpoint: 'a@example.com' });
      const alarms = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
      expect(alarms.length).toBe(41);
      for (const a of alarms) expect([a.Properties.AlarmActions, a.Properties.OKActions]).toEqual([[topic], [topic]]);
    });
    test('the shipped prod environment subscribes an address', () => {
      const { t } = synth('prod');
      t.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'temporal-oncall@example.com' });
    });
  });
});

describe('the alarms a Temporal operator pages on (issue 23)', () => {
  const { resources } = synth('prod');
  const alarms = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm').map((r) => r.Properties);
  const byName = (n: string) => alarms.find((a) => a.AlarmName === `temporal-prod-${n}`)!;
  /** "metric{dims} stat period" of every MetricStat of an alarm. */
  const stats = (n: string) => byName(n).Metrics.filter((q: any) => q.MetricStat).map((q: any) =>
    `${q.MetricStat.Metric.MetricName}{${q.MetricStat.Metric.Dimensions.map((d: any) => `${d.Name}=${typeof d.Value === 'string' ? d.Value : 'ref'}`).join(',')}} ${q.MetricStat.Stat} ${q.MetricStat.Period}`);

  test.each([
    ['TemporalPersistenceLatency', ['persistence_latency{service_name=history} Average 300'], 0.5, 3, 'GreaterThanThreshold'],
    ['TemporalHistoryQueueLatency', ['task_latency_queue{service_name=history} Average 300'], 30, 3, 'GreaterThanThreshold'],
    ['TemporalShardMovement', ['sharditem_created_count{service_name=history} Sum 900'], 256, 2, 'GreaterThanOrEqualToThreshold'],
    ['TemporalServicePanics', ['frontend', 'history', 'matching', 'worker'].map((r) => `service_panics{service_name=${r}} Sum 300`), 1, 1, 'GreaterThanOrEqualToThreshold'],
    ['TemporalSuspectedDeadlocks', ['frontend', 'history', 'matching', 'worker'].map((r) => `dd_suspected_deadlocks{service_name=${r}} Sum 300`), 1, 1, 'GreaterThanOrEqualToThreshold'],
    ['DsqlConnectionRefusals', ['frontend', 'history', 'matching', 'worker'].map((r) => `dsql_connect_retries{service_name=${r}} Sum 300`), 10, 2, 'GreaterThanOrEqualToThreshold'],
    ['UiCertificateExpiry', ['DaysToExpiry{CertificateArn=arn:aws:acm:us-east-1:111122223333:certificate/00000000-0000-0000-0000-000000000000} Minimum 86400'], 30, 1, 'LessThanThreshold'],
  ])('%s: %j, threshold %d for %d periods (%s)', (name, metrics, threshold, periods, op) => {
    const a = byName(name as string);
    expect(stats(name as string).sort()).toEqual([...(metrics as string[])].sort());
    expect([a.Threshold, a.EvaluationPeriods, a.ComparisonOperator, a.TreatMissingData]).toEqual([threshold, periods, op, 'notBreaching']);
  });

  test('the shard-movement threshold follows numHistoryShards', () => {
    const { resources: r } = synth('prod', { numHistoryShards: 64 });
    const a = Object.values(r).find((x) => x.Type === 'AWS::CloudWatch::Alarm' && x.Properties.AlarmName === 'temporal-prod-TemporalShardMovement')!;
    expect(a.Properties.Threshold).toBe(32);
  });

  test('a failed rotation of the two certificate secrets goes to the alarm topic', () => {
    const rule = Object.values(resources).find((r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties.EventPattern).includes('secretsmanager'))!.Properties;
    const secrets = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::SecretsManager::Secret').map(([id]) => id);
    const internode = secrets.find((id) => id.startsWith('CertificatesInternodeSecret'));
    const frontend = secrets.find((id) => id.startsWith('CertificatesFrontendSecret'));
    expect(rule.EventPattern).toEqual({
      source: ['aws.secretsmanager'],
      'detail-type': ['AWS Service Event via CloudTrail'],
      detail: { eventName: ['RotationFailed'], additionalEventData: { SecretId: [{ Ref: internode }, { Ref: frontend }] } },
    });
    expect(rule.Targets[0].Arn).toEqual({ Ref: expect.stringMatching(/^ObservabilityAlarmTopic/) });
  });

  test('dev (no UI certificate): no expiry alarm', () => {
    const { resources: r } = synth('dev');
    expect(Object.values(r).some((x) => x.Type === 'AWS::CloudWatch::Alarm' && x.Properties.AlarmName.endsWith('UiCertificateExpiry'))).toBe(false);
  });
});
