/**
 * The metrics collector sidecar (lib/observability/otel-collector.ts), the AMP option and the Temporal-metric
 * alarms (lib/observability/observability.ts), on synthesized templates. AWS is not called: these are template
 * assertions. The collector configuration is read back from the template (AOT_CONFIG_CONTENT) and
 * every Temporal-namespace metric an alarm or widget uses must be one it sends, with exactly its
 * dimensions.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import { DEFAULT_COLLECTOR_IMAGE, resolveObservability } from '../../lib/observability/config';
import { temporalMetric } from '../../lib/observability/observability';
import { COLLECTOR_CONTAINER_NAME, EMF_METRICS } from '../../lib/observability/otel-collector';
import { buildApp } from './helpers';

type Resources = Record<string, { Type: string; Properties?: any }>;

function synth(envName: 'dev' | 'prod', observability: Record<string, unknown> = {}): { t: Template; resources: Resources } {
  const base = ENVIRONMENTS[envName];
  const { stack } = buildApp(envName, { ...ENVIRONMENTS, [envName]: { ...base, observability: { ...(base.observability ?? {}), ...observability } } }, { quick: true });
  const t = Template.fromStack(stack);
  return { t, resources: t.toJSON().Resources };
}

/** A CloudFormation string value with every token replaced by `<Ref X>` / `<GetAtt X.Y>`. */
function flat(v: any): string {
  if (typeof v === 'string') return v;
  if (v?.Ref) return `<Ref ${v.Ref}>`;
  if (v?.['Fn::GetAtt']) return `<GetAtt ${v['Fn::GetAtt'].join('.')}>`;
  if (v?.['Fn::Join']) return v['Fn::Join'][1].map(flat).join(v['Fn::Join'][0]);
  throw new Error(`unexpected value ${JSON.stringify(v)}`);
}

/** The server task definitions (those with a `temporal` container), by the first role of SERVICES. */
function serverTasks(resources: Resources): Record<string, any[]> {
  const out: Record<string, any[]> = {};
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::ECS::TaskDefinition') continue;
    const server = r.Properties.ContainerDefinitions.find((c: any) => c.Name === 'temporal');
    if (!server) continue;
    const role = server.Environment.find((e: any) => e.Name === 'SERVICES').Value.split(',')[0];
    out[role] = r.Properties.ContainerDefinitions;
  }
  return out;
}

/** The collector config of one task, parsed from AOT_CONFIG_CONTENT. */
function collectorConfigOf(containers: any[]): any {
  const c = containers.find((x) => x.Name === COLLECTOR_CONTAINER_NAME);
  return JSON.parse(flat(c.Environment.find((e: any) => e.Name === 'AOT_CONFIG_CONTENT').Value));
}

/** Every statement of every IAM policy attached to the server task role. */
function taskRoleStatements(resources: Resources): any[] {
  const roleId = Object.entries(resources).find(([id, r]) => r.Type === 'AWS::IAM::Role' && id.includes('ServerTaskRole'))![0];
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: any) => x.Ref === roleId))
    .flatMap((r) => r.Properties.PolicyDocument.Statement);
}
const actionsOf = (s: any): string[] => [].concat(s.Action);

/** The shipped prod environment, synthesized once for the sidecar and the alarm tests. */
const prod = synth('prod');

describe('prod: collector sidecar, CloudWatch EMF only', () => {
  const { t, resources } = prod;
  const tasks = serverTasks(resources);

  test('every server role has the pinned ADOT sidecar; the UI task has none', () => {
    expect(Object.keys(tasks).sort()).toEqual(['frontend', 'history', 'matching', 'worker']);
    for (const containers of Object.values(tasks)) {
      const c = containers.find((x) => x.Name === COLLECTOR_CONTAINER_NAME);
      expect(c).toBeDefined();
      // Production pulls it through this account's ECR pull-through cache (lib/services/images.ts).
      expect(JSON.stringify(c.Image)).toContain(`/prod/ecr-public/${DEFAULT_COLLECTOR_IMAGE.replace('public.ecr.aws/', '')}"`);
      expect(DEFAULT_COLLECTOR_IMAGE).toMatch(/:v\d+\.\d+\.\d+$/);
      expect(c.Essential).toBe(false);
      expect(c.MemoryReservation).toBe(64);
      expect(c.HealthCheck.Command).toEqual(['CMD', '/healthcheck']);
      expect(c.LogConfiguration.Options['awslogs-stream-prefix']).toBe('otel');
    }
    const ui = Object.values(resources).filter((r) => r.Type === 'AWS::ECS::TaskDefinition' && r.Properties.ContainerDefinitions.some((c: any) => c.Name === 'ui'));
    expect(ui).toHaveLength(1);
    expect(ui[0].Properties.ContainerDefinitions.map((c: any) => c.Name)).toEqual(['ui']);
  });

  test('config: scrape of 127.0.0.1:9090 filtered to the EMF table, awsemf to Temporal/prod in the EMF log group, no AMP', () => {
    const cfg = collectorConfigOf(tasks.history);
    expect(Object.keys(cfg.receivers)).toEqual(['prometheus/emf']);
    const job = cfg.receivers['prometheus/emf'].config.scrape_configs[0];
    expect(job.static_configs).toEqual([{ targets: ['127.0.0.1:9090'] }]);
    expect(job.scrape_interval).toBe('60s');
    expect(job.metric_relabel_configs[0].action).toBe('keep');
    expect(job.metric_relabel_configs[1]).toMatchObject({ action: 'drop', regex: 'service_latency_(bucket|sum|count);Poll.*' });
    const emf = cfg.exporters.awsemf;
    expect(emf.namespace).toBe('Temporal/prod');
    expect(emf.dimension_rollup_option).toBe('NoDimensionRollup');
    expect(emf.log_group_name).toMatch(/^<Ref MetricsCollectorEmfLogs[A-F0-9]+>$/);
    expect(emf.region).toBe('us-east-1'); // config/prod.ts env.region
    expect(cfg.exporters.prometheus_remote_write).toBeUndefined();
    expect(Object.keys(cfg.service.pipelines)).toEqual(['metrics/cloudwatch']);
    // Declared dimensions are the table's, and no unbounded label is ever a dimension.
    const declared = emf.metric_declarations.flatMap((d: any) => d.metric_name_selectors.map((s: string) => `${s.slice(1)}|${d.dimensions[0].join(',')}`)).sort();
    expect(declared).toEqual(Object.values(EMF_METRICS).map((m) => `${m.name}|${m.dimensions.join(',')}`).sort());
    const dims = new Set(emf.metric_declarations.flatMap((d: any) => d.dimensions.flat()));
    for (const unbounded of ['taskqueue', 'namespace', 'workflow_id', 'operation', 'instance']) expect(dims.has(unbounded)).toBe(false);
    // Same config in every role.
    for (const containers of Object.values(tasks)) expect(collectorConfigOf(containers)).toEqual(cfg);
    // No '$': the collector would expand it as an environment variable.
    expect(JSON.stringify(cfg)).not.toContain('$');
  });

  test('EMF log group /temporal/prod/metrics, retained (except by a rolled-back create: its name is fixed), with the environment retention', () => {
    t.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/temporal/prod/metrics', RetentionInDays: 90 });
    const lg = Object.values(resources).find((r) => r.Type === 'AWS::Logs::LogGroup' && r.Properties.LogGroupName === '/temporal/prod/metrics') as any;
    expect(lg.DeletionPolicy).toBe('RetainExceptOnCreate');
  });

  test('task role: CreateLogStream and PutLogEvents on the EMF log group only; no PutMetricData, no aps', () => {
    const st = taskRoleStatements(resources);
    const logsSt = st.filter((s) => actionsOf(s).some((a) => a.startsWith('logs:')));
    expect(logsSt).toHaveLength(1);
    expect(actionsOf(logsSt[0]).sort()).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents']);
    expect(logsSt[0].Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^MetricsCollectorEmfLogs/), 'Arn'] });
    const all = st.flatMap(actionsOf);
    expect(all).not.toContain('cloudwatch:PutMetricData');
    expect(all.filter((a) => a.startsWith('aps:'))).toEqual([]);
    expect(resources).not.toHaveProperty(Object.keys(resources).find((k) => resources[k].Type === 'AWS::APS::Workspace') ?? 'none');
  });
});

describe('AMP option', () => {
  test("'create': a workspace, aps:RemoteWrite on it only, remote write with SigV4 and the server's metric names", () => {
    const { t, resources } = synth('prod', { managedPrometheus: 'create' });
    t.resourceCountIs('AWS::APS::Workspace', 1);
    t.hasResourceProperties('AWS::APS::Workspace', { Alias: 'temporal-prod' });
    const wsId = Object.keys(resources).find((k) => resources[k].Type === 'AWS::APS::Workspace')!;
    const aps = taskRoleStatements(resources).filter((s) => actionsOf(s).some((a) => a.startsWith('aps:')));
    expect(aps).toHaveLength(1);
    expect(actionsOf(aps[0])).toEqual(['aps:RemoteWrite']);
    expect(aps[0].Resource).toEqual({ 'Fn::GetAtt': [wsId, 'Arn'] });
    const cfg = collectorConfigOf(serverTasks(resources).frontend);
    expect(cfg.exporters.prometheus_remote_write).toEqual({
      endpoint: `<GetAtt ${wsId}.PrometheusEndpoint>api/v1/remote_write`,
      auth: { authenticator: 'sigv4auth' },
      translation_strategy: 'UnderscoreEscapingWithoutSuffixes',
      resource_to_telemetry_conversion: { enabled: true },
    });
    expect(cfg.extensions.sigv4auth).toEqual({ region: 'us-east-1', service: 'aps' });
    expect(cfg.service.extensions).toContain('sigv4auth');
    expect(cfg.service.pipelines['metrics/amp']).toEqual({ receivers: ['prometheus/all'], processors: ['resource_detection', 'batch'], exporters: ['prometheus_remote_write'] });
    // The AMP scrape keeps everything: no relabelling.
    expect(cfg.receivers['prometheus/all'].config.scrape_configs[0].metric_relabel_configs).toBeUndefined();
  });

  test('an existing workspace by ARN: no workspace resource, aps:RemoteWrite on exactly that ARN', () => {
    const arn = 'arn:aws:aps:us-east-1:111122223333:workspace/ws-0123abcd-4567-89ef-0123-456789abcdef';
    const { t, resources } = synth('prod', { managedPrometheus: arn });
    t.resourceCountIs('AWS::APS::Workspace', 0);
    const aps = taskRoleStatements(resources).filter((s) => actionsOf(s).some((a) => a.startsWith('aps:')));
    expect(aps.map((s) => [actionsOf(s), s.Resource])).toEqual([[['aps:RemoteWrite'], arn]]);
    expect(collectorConfigOf(serverTasks(resources).matching).exporters.prometheus_remote_write.endpoint)
      .toBe('https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0123abcd-4567-89ef-0123-456789abcdef/api/v1/remote_write');
  });

  test('metricsCollector false: no sidecar, no EMF log group, no Temporal-metric alarm', () => {
    const { resources } = synth('dev', { metricsCollector: false });
    for (const containers of Object.values(serverTasks(resources))) expect(containers.map((c) => c.Name)).toEqual(['temporal']);
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::Logs::LogGroup' && r.Properties.LogGroupName === '/temporal/dev/metrics')).toEqual([]);
    const names = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm').map((r) => r.Properties.AlarmName);
    expect(names.length).toBeGreaterThan(10);
    expect(names.filter((n: string) => n.includes('-Temporal'))).toEqual([]);
  });
});

describe('Temporal-metric alarms and widgets', () => {
  const { resources } = prod;
  const alarms = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm').map((r) => r.Properties);
  const byName = (n: string) => alarms.find((a) => a.AlarmName === `temporal-prod-${n}`);
  const cfg = collectorConfigOf(serverTasks(resources).frontend);
  /** "metric|dim1,dim2" the collector sends (from the template's own collector config). */
  const sent = new Set<string>(cfg.exporters.awsemf.metric_declarations.flatMap((d: any) => d.metric_name_selectors.map((s: string) => `${s.slice(1)}|${[...d.dimensions[0]].sort().join(',')}`)));

  /** Every Temporal/prod metric (name|sorted dims|dim values) of the alarms and the dashboard. */
  const used: string[] = [];
  for (const a of alarms) {
    for (const q of a.Metrics ?? []) if (q.MetricStat) used.push(JSON.stringify(q.MetricStat.Metric));
    if (a.MetricName) used.push(JSON.stringify({ Namespace: a.Namespace, MetricName: a.MetricName, Dimensions: a.Dimensions }));
  }
  const dash = Object.values(resources).find((r) => r.Type === 'AWS::CloudWatch::Dashboard')!.Properties.DashboardBody;
  const body = JSON.parse(typeof dash === 'string' ? dash : dash['Fn::Join'][1].map((p: unknown) => (typeof p === 'string' ? p : 'TOKEN')).join(''));
  for (const w of body.widgets) {
    for (const row of w.properties?.metrics ?? []) {
      const parts = row.filter((x: unknown) => typeof x === 'string');
      if (parts[0] !== 'Temporal/prod') continue;
      const [ns, name, ...kv] = parts;
      const dims = [];
      for (let i = 0; i < kv.length; i += 2) dims.push({ Name: kv[i], Value: kv[i + 1] });
      used.push(JSON.stringify({ Namespace: ns, MetricName: name, Dimensions: dims }));
    }
  }
  const temporalUsed = used.map((u) => JSON.parse(u)).filter((m) => m.Namespace === 'Temporal/prod');

  test('every Temporal metric of an alarm or widget is one the collector sends, with its exact dimensions', () => {
    expect(temporalUsed.length).toBeGreaterThan(40);
    const bad = temporalUsed.filter((m) => !sent.has(`${m.MetricName}|${m.Dimensions.map((d: any) => d.Name).sort().join(',')}`));
    expect(bad).toEqual([]);
    // Dimension values are roles and task types, never anything unbounded.
    const values = new Set(temporalUsed.flatMap((m) => m.Dimensions.map((d: any) => `${d.Name}=${d.Value}`)));
    expect([...values].sort()).toEqual([
      'service_name=frontend', 'service_name=history', 'service_name=matching', 'service_name=worker', 'task_type=Activity', 'task_type=Workflow',
    ]);
    // Every metric of the table is on the dashboard.
    const onDash = new Set(temporalUsed.map((m) => m.MetricName));
    expect([...onDash].sort()).toEqual(Object.values(EMF_METRICS).map((m) => m.name).sort());
  });

  test.each([
    // name, threshold, periods, comparison, period (s)
    ['TemporalFrontendServiceErrors', 5, 3, 'GreaterThanOrEqualToThreshold'],
    ['TemporalHistoryServiceErrors', 5, 3, 'GreaterThanOrEqualToThreshold'],
    ['TemporalMatchingServiceErrors', 5, 3, 'GreaterThanOrEqualToThreshold'],
    ['TemporalPersistenceErrors', 2, 3, 'GreaterThanOrEqualToThreshold'],
    ['TemporalResourceExhausted', 10, 3, 'GreaterThanOrEqualToThreshold'],
    ['TemporalWorkflowScheduleToStart', 10, 3, 'GreaterThanThreshold'],
    ['TemporalActivityScheduleToStart', 10, 3, 'GreaterThanThreshold'],
    ['TemporalShardLockLatency', 1, 3, 'GreaterThanThreshold'],
    ['TemporalShardSemaphoreLatency', 1, 3, 'GreaterThanThreshold'],
  ])('%s: threshold %d, %d periods, %s, runbook link', (name, threshold, periods, op) => {
    const a = byName(name as string);
    expect(a).toBeDefined();
    expect([a.Threshold, a.EvaluationPeriods, a.ComparisonOperator, a.TreatMissingData]).toEqual([threshold, periods, op, 'notBreaching']);
    expect(a.AlarmDescription).toMatch(/Runbook: docs\/operations\.md#temporal-[a-z-]+$/);
    for (const q of a.Metrics) if (q.MetricStat) expect([q.MetricStat.Metric.Namespace, q.MetricStat.Period]).toEqual(['Temporal/prod', 300]);
  });

  test('frontend error ratio: 100 * service_errors / service_requests of service_name=frontend, Sum', () => {
    const a = byName('TemporalFrontendServiceErrors');
    expect(a.Metrics.find((q: any) => q.Expression).Expression).toBe('IF(req_frontend > 0, 100 * FILL(err_frontend, 0) / req_frontend, 0)');
    const stats = a.Metrics.filter((q: any) => q.MetricStat).map((q: any) => [q.Id, q.MetricStat.Metric.MetricName, q.MetricStat.Metric.Dimensions, q.MetricStat.Stat]);
    expect(stats.sort()).toEqual([
      ['err_frontend', 'service_errors', [{ Name: 'service_name', Value: 'frontend' }], 'Sum'],
      ['req_frontend', 'service_requests', [{ Name: 'service_name', Value: 'frontend' }], 'Sum'],
    ]);
  });

  test('persistence error ratio sums all four roles (8 metrics, within the 10 an alarm may use)', () => {
    const a = byName('TemporalPersistenceErrors');
    const stats = a.Metrics.filter((q: any) => q.MetricStat);
    expect(stats).toHaveLength(8);
    expect(new Set(stats.map((q: any) => q.MetricStat.Metric.MetricName))).toEqual(new Set(['persistence_requests', 'persistence_errors']));
    expect(a.Metrics.find((q: any) => q.Expression).Expression).toContain('FILL(perr_history, 0)');
  });

  test('schedule-to-start alarms: Average of task_schedule_to_start_latency by task_type (seconds)', () => {
    const a = byName('TemporalActivityScheduleToStart');
    expect(a.Metrics).toHaveLength(1);
    expect(a.Metrics[0].MetricStat).toMatchObject({ Stat: 'Average', Metric: { Namespace: 'Temporal/prod', MetricName: 'task_schedule_to_start_latency', Dimensions: [{ Name: 'task_type', Value: 'Activity' }] } });
  });

  test('temporalMetric refuses dimensions the table does not list', () => {
    expect(() => temporalMetric('Temporal/x', 'scheduleToStart', { taskqueue: 'q' }))
      .toThrow('Metric Temporal/x task_schedule_to_start_latency takes dimensions task_type, got taskqueue');
  });
});

describe('observability configuration of the collector', () => {
  // The section's own resolver (lib/config.ts calls it with the environment's env.region).
  const resolve = (input: unknown, region?: string) => resolveObservability((f) => `dev.${f}`, input, region);
  test('defaults: collector on with the pinned image, no AMP', () => {
    expect(resolve(undefined)).toEqual({ enabled: true, alarmEmails: [], metricsCollector: true, collectorImage: DEFAULT_COLLECTOR_IMAGE });
  });
  test.each([
    [{ managedPrometheus: 'yes' }, `Invalid configuration: dev.observability.managedPrometheus = "yes"; allowed: 'create' or an AMP workspace ARN arn:aws:aps:<region>:<account>:workspace/ws-<id>`],
    [{ managedPrometheus: 'create', metricsCollector: false }, 'Invalid configuration: dev.observability.managedPrometheus = "create"; allowed: unset while observability.metricsCollector is false (the collector writes to the workspace)'],
    [{ collectorImage: 'public.ecr.aws/aws-observability/aws-otel-collector:latest' }, 'Invalid configuration: dev.observability.collectorImage = "public.ecr.aws/aws-observability/aws-otel-collector:latest"; allowed: an image with an explicit tag or digest (not latest)'],
    [{ collectorImage: 'public.ecr.aws/aws-observability/aws-otel-collector' }, 'Invalid configuration: dev.observability.collectorImage = "public.ecr.aws/aws-observability/aws-otel-collector"'],
    [{ metricsCollector: 'yes' }, 'Invalid configuration: dev.observability.metricsCollector = "yes"; allowed: true or false'],
  ])('refuses %j', (observability, message) => {
    expect(() => resolve(observability)).toThrow(message);
  });
  test('a workspace in another Region than env.region is refused; one in it is accepted', () => {
    expect(() => resolve({ managedPrometheus: 'arn:aws:aps:us-east-1:111122223333:workspace/ws-abc' }, 'eu-west-1'))
      .toThrow(`Invalid configuration: dev.observability.managedPrometheus = "arn:aws:aps:us-east-1:111122223333:workspace/ws-abc"; allowed: a workspace in the stack's Region eu-west-1`);
    expect(resolve({ managedPrometheus: 'arn:aws:aps:eu-west-1:111122223333:workspace/ws-abc' }, 'eu-west-1').managedPrometheus).toBe('arn:aws:aps:eu-west-1:111122223333:workspace/ws-abc');
  });
  test('a digest-pinned image is accepted', () => {
    const img = `public.ecr.aws/aws-observability/aws-otel-collector:v0.50.0@sha256:${'a'.repeat(64)}`;
    expect(resolve({ collectorImage: img }).collectorImage).toBe(img);
  });
});
