/**
 * Metrics out of the server tasks: an AWS Distro for OpenTelemetry (ADOT) collector sidecar in
 * every server role's task definition. It scrapes the server's own Prometheus endpoint
 * (127.0.0.1:9090, the same network namespace under Fargate's awsvpc mode) and sends
 *
 *   (a) the few series the Temporal alarms and the dashboard need (the table {@link EMF_METRICS})
 *       to CloudWatch as embedded metric format (awsemf exporter: JSON log events in one log group,
 *       which CloudWatch turns into metrics of namespace `Temporal/<env>`), with bounded dimensions
 *       only (`service_name` = the role, `task_type`); never workflow ids, task queues or namespaces;
 *   (b) optionally every series to an Amazon Managed Service for Prometheus (AMP) workspace, created
 *       here or imported by ARN, by remote write signed with SigV4.
 *
 * The collector configuration is passed in the `AOT_CONFIG_CONTENT` environment variable: when it
 * is set, ADOT loads its configuration from it instead of `--config` (aws-otel-collector
 * `pkg/config/config_factory.go`, `GetConfigProvider`; ADOT ECS docs), so no file is baked into an
 * image and every change shows in `cdk diff`. ADOT prints that content at start-up: it holds no
 * secret (names, Region, URLs only).
 *
 * Facts this relies on. The last three, the key names and the no-roll-up declarations are checked by
 * test/e2e/otel-collector.test.ts with the upstream collector components ADOT v0.50.0 is built from
 * (tools/otelcol, collector/contrib v0.158.0; not the ADOT binary itself), exporting to moto's
 * CloudWatch Logs and to a Prometheus remote-write receiver:
 * - awsemf writes with CloudWatch Logs `PutLogEvents` (and `CreateLogStream` for a new stream), not
 *   CloudWatch `PutMetricData` (awsemfexporter README, "This exporter converts OpenTelemetry metrics
 *   to ... EMF and then sends them directly to CloudWatch Logs using the PutLogEvents API").
 * - awsemf turns Prometheus explicit-bucket histograms into statistic sets (count, sum, min, max),
 *   so CloudWatch has averages of Temporal's latencies but no percentiles; min and max are always 0
 *   (buckets carry neither), so use Average, never Minimum or Maximum, of these metrics
 *   (aws-otel-collector issues 651 and 918). Percentiles (p99) are in Prometheus/AMP (Grafana JSON).
 * - Cumulative Prometheus counters become per-period deltas in awsemf (Sum statistic = events in
 *   the period).
 * - The prometheus_remote_write exporter appends `_total` to counters unless its
 *   `translation_strategy` is `UnderscoreEscapingWithoutSuffixes` (the form collector v0.158.0 takes in
 *   place of the deprecated `add_metric_suffixes: false`); so the names in AMP are the names the
 *   server emits (and the Grafana JSON's). Component names use the collector's current spelling
 *   (`resource_detection`, `prometheus_remote_write`): the old aliases print deprecation warnings.
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as aps from 'aws-cdk-lib/aws-aps';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { addWritablePaths, COLLECTOR_WRITABLE_PATHS, CONTAINER_USERS } from '../services/read-only';
import { TEMPORAL_ROLES, TemporalRole } from '../services/roles';

/** Prometheus port of the server in every role's task (lib/services/temporal-services.ts METRICS_PORT). */
const SERVER_METRICS_PORT = 9090;

/** Name of the collector container in each server role's task definition. */
export const COLLECTOR_CONTAINER_NAME = 'otel-collector';

/** Port of the collector's health_check extension (loopback only; the container health check calls it). */
export const COLLECTOR_HEALTH_PORT = 13133;

/** One Temporal server metric sent to CloudWatch through EMF. */
export interface EmfMetricSpec {
  /** Metric name as the server exposes it on /metrics (histograms: the family name, without `_bucket`). */
  readonly name: string;
  /** Prometheus type. Histograms arrive in CloudWatch as statistic sets (Average, SampleCount, Sum). */
  readonly kind: 'counter' | 'histogram';
  /** Labels kept as CloudWatch dimensions, in this order; each has a small, fixed set of values. */
  readonly dimensions: readonly string[];
  /** Unit of the values: `count` for counters, `seconds` for Temporal's histograms (timerType histogram). */
  readonly unit: 'count' | 'seconds';
  /** What it counts (from the series the server emitted in the live scrape, test/e2e/metrics.test.ts). */
  readonly what: string;
  /**
   * Set for a counter the server registers only when its event happens (a panic, a suspected
   * deadlock): a healthy live scrape cannot show it, so instead the Go test named here pins the
   * name in the pinned upstream source. @default - proven by the live scrape
   */
  readonly eventOnly?: string;
}

const role = ['service_name'] as const;

/**
 * The Temporal server metrics the alarms and the dashboard use, and so the only ones the collector
 * sends to CloudWatch. `service_name` is the Temporal role (frontend, history, matching, worker);
 * `task_type` is Activity or Workflow. test/e2e/metrics.test.ts checks every name and dimension here
 * against a live scrape of our server; test/cdk/otel-collector.test.ts checks every CloudWatch
 * alarm and widget in the Temporal namespace against this table.
 */
export const EMF_METRICS = {
  serviceRequests: { name: 'service_requests', kind: 'counter', dimensions: role, unit: 'count', what: 'gRPC requests handled by the role (all operations, long polls included)' },
  serviceErrors: { name: 'service_errors', kind: 'counter', dimensions: role, unit: 'count', what: 'requests that failed with an unexpected error' },
  serviceResourceExhausted: { name: 'service_errors_resource_exhausted', kind: 'counter', dimensions: role, unit: 'count', what: 'requests refused with ResourceExhausted (rate limits, busy workflow, ...)' },
  serviceLatency: { name: 'service_latency', kind: 'histogram', dimensions: role, unit: 'seconds', what: 'request latency, long polls (operations Poll*) left out by the scrape filter' },
  persistenceRequests: { name: 'persistence_requests', kind: 'counter', dimensions: role, unit: 'count', what: 'persistence (DSQL) operations' },
  persistenceErrors: { name: 'persistence_errors', kind: 'counter', dimensions: role, unit: 'count', what: 'persistence operations that failed (each attempt, before Temporal retries)' },
  persistenceLatency: { name: 'persistence_latency', kind: 'histogram', dimensions: role, unit: 'seconds', what: 'persistence operation latency' },
  scheduleToStart: { name: 'task_schedule_to_start_latency', kind: 'histogram', dimensions: ['task_type'], unit: 'seconds', what: 'time a task waited in its task queue before a worker took it' },
  shardLockLatency: { name: 'lock_latency', kind: 'histogram', dimensions: role, unit: 'seconds', what: 'wait for the shard lock (history, operation ShardInfo)' },
  shardSemaphoreLatency: { name: 'semaphore_latency', kind: 'histogram', dimensions: role, unit: 'seconds', what: "wait for a shard's IO semaphore (history.shardIOConcurrency)" },
  historyQueueLatency: { name: 'task_latency_queue', kind: 'histogram', dimensions: role, unit: 'seconds', what: 'time a history queue task (transfer, timer, visibility) waited past its scheduled time before it was processed' },
  shardsAcquired: { name: 'sharditem_created_count', kind: 'counter', dimensions: role, unit: 'count', what: 'history shards this host took ownership of (start-up, or a shard moving from another host)' },
  dsqlConnectRetries: { name: 'dsql_connect_retries', kind: 'counter', dimensions: role, unit: 'count', what: 'connections DSQL refused for its connection rate (53400) or count (53300) limit, retried by the plugin' },
  dsqlOccConflicts: { name: 'dsql_occ_conflicts', kind: 'counter', dimensions: role, unit: 'count', what: 'optimistic-concurrency conflicts (SQLSTATE 40001) the plugin saw, each counted once (at its statement or at COMMIT)' },
  dsqlLimitRefusals: { name: 'dsql_limit_refusals', kind: 'counter', dimensions: role, unit: 'count', what: "workflow writes the plugin's guard refused before COMMIT because they would exceed a DSQL limit (rows, timers, value or transaction bytes); the workflow ends, its shard does not move" },
  dsqlPrefetchHits: { name: 'dsql_prefetch_hits', kind: 'counter', dimensions: role, unit: 'count', what: "mutable-state map reads served by the plugin's one-round-trip load" },
  dsqlPrefetchMisses: { name: 'dsql_prefetch_misses', kind: 'counter', dimensions: role, unit: 'count', what: "mutable-state map reads of a load whose batch failed, read with upstream's statements instead" },
  dsqlPoolWaits: { name: 'dsql_pool_waits', kind: 'counter', dimensions: role, unit: 'count', what: "persistence calls that waited for a free connection of one of the plugin's pools (main or chunk)" },
  dsqlPoolWaitMs: { name: 'dsql_pool_wait_ms', kind: 'counter', dimensions: role, unit: 'count', what: 'milliseconds those calls waited, in total (divide by dsql_pool_waits for the average wait)' },
  servicePanics: {
    name: 'service_panics', kind: 'counter', dimensions: role, unit: 'count', what: 'panics recovered by the server (a bug or a corrupt input; the request failed)',
    eventOnly: 'docker/temporal-server/internal/upstreamguard TestEventOnlyMetricNames',
  },
  suspectedDeadlocks: {
    name: 'dd_suspected_deadlocks', kind: 'counter', dimensions: role, unit: 'count', what: "locks upstream's deadlock detector found held past its timeout",
    eventOnly: 'docker/temporal-server/internal/upstreamguard TestEventOnlyMetricNames',
  },
} as const satisfies Record<string, EmfMetricSpec>;

/** Key of a row of {@link EMF_METRICS}. */
export type EmfMetricKey = keyof typeof EMF_METRICS;

/** Operations whose latency is a long poll (up to ~60 s by design); left out of `service_latency` in CloudWatch. */
export const LONG_POLL_OPERATION_REGEX = 'Poll.*';

/** CloudWatch namespace of the Temporal metrics of one environment. */
export function temporalMetricsNamespace(envName: string): string {
  return `Temporal/${envName}`;
}

/** Inputs of {@link collectorConfig}. */
export interface CollectorConfigOptions {
  /** CloudWatch namespace of the EMF metrics, e.g. `Temporal/prod`. */
  readonly namespace: string;
  /** Log group the EMF events go to (must exist; the task role may write only there). */
  readonly logGroupName: string;
  /** Region of CloudWatch Logs and of the AMP workspace. */
  readonly region: string;
  /** AMP remote-write URL (`https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>/api/v1/remote_write`). @default - no AMP pipeline */
  readonly remoteWriteUrl?: string;
  /** Scrape address of the server. @default '127.0.0.1:9090' */
  readonly target?: string;
  /** Scrape interval. @default '60s' (CloudWatch's standard resolution is one minute) */
  readonly scrapeInterval?: string;
}

/** The Prometheus metric names the EMF scrape keeps: counters as is, histograms as their three series. */
export function emfSeriesNames(): string[] {
  return Object.values(EMF_METRICS).flatMap((m) => (m.kind === 'histogram' ? [`${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name]));
}

/**
 * The Prometheus scrape job of the EMF pipeline, in Prometheus' own configuration format (the
 * collector's prometheus receiver embeds it unchanged): keeps only {@link emfSeriesNames} and drops
 * the long-poll operations of `service_latency`. test/e2e/metrics.test.ts runs this very job in a
 * real Prometheus.
 */
export function emfScrapeJob(target: string, scrapeInterval: string): Record<string, unknown> {
  return {
    job_name: 'temporal-emf',
    scrape_interval: scrapeInterval,
    static_configs: [{ targets: [target] }],
    metric_relabel_configs: [
      { source_labels: ['__name__'], regex: `(${emfSeriesNames().join('|')})`, action: 'keep' },
      { source_labels: ['__name__', 'operation'], separator: ';', regex: `${EMF_METRICS.serviceLatency.name}_(bucket|sum|count);${LONG_POLL_OPERATION_REGEX}`, action: 'drop' },
    ],
  };
}

/**
 * The collector configuration (the object behind `AOT_CONFIG_CONTENT`, serialised as JSON, which
 * is YAML): receivers `prometheus/emf` (the filtered job) and, with AMP, `prometheus/all` (every
 * series); processors `resource_detection` (ECS task attributes, for the log stream name and the AMP
 * series' task labels) and `batch`; exporters `awsemf` (one metric declaration per dimension set,
 * no dimension roll-up) and `prometheus_remote_write` (SigV4 through the `sigv4auth` extension);
 * extension `health_check` on loopback. No `$` anywhere, so the collector's environment-variable
 * expansion cannot alter it.
 */
export function collectorConfig(o: CollectorConfigOptions): Record<string, any> {
  const target = o.target ?? `127.0.0.1:${SERVER_METRICS_PORT}`;
  const interval = o.scrapeInterval ?? '60s';
  const byDims = new Map<string, string[]>();
  for (const m of Object.values(EMF_METRICS)) {
    const key = JSON.stringify(m.dimensions);
    byDims.set(key, [...(byDims.get(key) ?? []), m.name]);
  }
  const receivers: Record<string, unknown> = {
    'prometheus/emf': { config: { scrape_configs: [emfScrapeJob(target, interval)] } },
  };
  const extensions: Record<string, unknown> = { health_check: { endpoint: `127.0.0.1:${COLLECTOR_HEALTH_PORT}` } };
  const exporters: Record<string, unknown> = {
    awsemf: {
      namespace: o.namespace,
      log_group_name: o.logGroupName,
      log_stream_name: '{TaskId}',
      region: o.region,
      dimension_rollup_option: 'NoDimensionRollup',
      resource_to_telemetry_conversion: { enabled: false },
      metric_declarations: [...byDims.entries()].map(([dims, names]) => ({
        dimensions: [JSON.parse(dims)],
        // Anchored at the start only: the scrape filter already keeps exact names.
        metric_name_selectors: names.map((n) => `^${n}`),
      })),
    },
  };
  const processors: Record<string, unknown> = {
    resource_detection: { detectors: ['env', 'ecs'], timeout: '5s', override: false },
    batch: { timeout: '60s' },
  };
  const pipelines: Record<string, unknown> = {
    'metrics/cloudwatch': { receivers: ['prometheus/emf'], processors: ['resource_detection', 'batch'], exporters: ['awsemf'] },
  };
  if (o.remoteWriteUrl) {
    receivers['prometheus/all'] = { config: { scrape_configs: [{ job_name: 'temporal', scrape_interval: interval, static_configs: [{ targets: [target] }] }] } };
    extensions.sigv4auth = { region: o.region, service: 'aps' };
    exporters.prometheus_remote_write = {
      endpoint: o.remoteWriteUrl,
      auth: { authenticator: 'sigv4auth' },
      // Names as scraped: no `_total`/unit suffixes added (the alarms and the Grafana JSON use the scraped names).
      translation_strategy: 'UnderscoreEscapingWithoutSuffixes',
      // Task identity (aws.ecs.task.*) as labels: every task scrapes 127.0.0.1:9090, so `instance` alone cannot tell tasks apart.
      resource_to_telemetry_conversion: { enabled: true },
    };
    pipelines['metrics/amp'] = { receivers: ['prometheus/all'], processors: ['resource_detection', 'batch'], exporters: ['prometheus_remote_write'] };
  }
  return {
    extensions,
    receivers,
    processors,
    exporters,
    service: { extensions: Object.keys(extensions), pipelines },
  };
}

/** Where the AMP pipeline writes. */
export type ManagedPrometheusTarget = { readonly create: true } | { readonly workspaceArn: string };

/** Properties of {@link TemporalMetricsCollector}. */
export interface TemporalMetricsCollectorProps {
  /** Environment name (namespace `Temporal/<envName>`, log group `/temporal/<envName>/metrics`). */
  readonly envName: string;
  /** The task definition of each server role; a collector container is added to each. */
  readonly taskDefinitions: Readonly<Record<TemporalRole, ecs.TaskDefinition>>;
  /** Log group of each role: the collector's own log lines go there with stream prefix `otel`. */
  readonly roleLogGroups: Readonly<Record<TemporalRole, logs.ILogGroup>>;
  /** The server task role (all four roles share it): gets exactly the write permissions below. */
  readonly taskRole: iam.IRole;
  /** Collector image: a reference pinned by tag or digest, or the container image (e.g. from the ECR pull-through cache, lib/services/images.ts). */
  readonly image: string | ecs.ContainerImage;
  /** AMP workspace: created here, or an existing one by ARN. @default - no AMP pipeline */
  readonly managedPrometheus?: ManagedPrometheusTarget;
  /** Retention of the EMF log group (the EMF events themselves; metrics are kept by CloudWatch). @default ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** Removal policy of the EMF log group. @default RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The ADOT collector sidecar of every server role (see the file comment for what it sends where)
 * with its EMF log group and, optionally, an AMP workspace. IAM: the server task role may
 * `logs:CreateLogStream` and `logs:PutLogEvents` on the EMF log group only, and with AMP
 * `aps:RemoteWrite` on the workspace only; nothing else (no `cloudwatch:PutMetricData`).
 *
 * The sidecar is not essential: a collector crash never stops Temporal (the container health check
 * reports it; ECS does not replace the task for it). It reserves 64 MiB of the task's memory.
 */
export class TemporalMetricsCollector extends Construct {
  /** Log group receiving the EMF events, `/temporal/<env>/metrics`. */
  public readonly logGroup: logs.LogGroup;
  /** CloudWatch namespace of the metrics, `Temporal/<env>`. */
  public readonly namespace: string;
  /** The AMP workspace when created here. */
  public readonly workspace?: aps.CfnWorkspace;
  /** ARN of the AMP workspace written to (created or imported). */
  public readonly workspaceArn?: string;
  /** The remote-write URL of the AMP workspace. */
  public readonly remoteWriteUrl?: string;
  /** The collector configuration (with CloudFormation tokens) as passed to every sidecar. */
  public readonly config: Record<string, any>;

  constructor(scope: Construct, id: string, props: TemporalMetricsCollectorProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.namespace = temporalMetricsNamespace(props.envName);
    this.logGroup = new logs.LogGroup(this, 'EmfLogs', {
      logGroupName: `/temporal/${props.envName}/metrics`,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    // logs:CreateLogStream and logs:PutLogEvents on this log group (its ARN ends in :*, covering its streams).
    this.logGroup.grantWrite(props.taskRole);

    if (props.managedPrometheus) {
      if ('create' in props.managedPrometheus) {
        this.workspace = new aps.CfnWorkspace(this, 'Workspace', { alias: `temporal-${props.envName}` });
        this.workspaceArn = this.workspace.attrArn;
        // attrPrometheusEndpoint ends with a slash: https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>/
        this.remoteWriteUrl = `${this.workspace.attrPrometheusEndpoint}api/v1/remote_write`;
      } else {
        const arn = props.managedPrometheus.workspaceArn;
        const [, , , region, , resource] = arn.split(':');
        this.workspaceArn = arn;
        this.remoteWriteUrl = `https://aps-workspaces.${region}.amazonaws.com/workspaces/${resource.replace(/^workspace\//, '')}/api/v1/remote_write`;
      }
      iam.Grant.addToPrincipal({ grantee: props.taskRole, actions: ['aps:RemoteWrite'], resourceArns: [this.workspaceArn] });
    }

    this.config = collectorConfig({
      namespace: this.namespace,
      logGroupName: this.logGroup.logGroupName,
      region: stack.region,
      remoteWriteUrl: this.remoteWriteUrl,
    });
    const content = JSON.stringify(this.config);
    const image = typeof props.image === 'string' ? ecs.ContainerImage.fromRegistry(props.image) : props.image;
    for (const r of TEMPORAL_ROLES) {
      const collector = props.taskDefinitions[r].addContainer(COLLECTOR_CONTAINER_NAME, {
        image,
        essential: false,
        // Read-only root and the image's non-root user (lib/services/read-only.ts): it writes no file.
        readonlyRootFilesystem: true,
        user: CONTAINER_USERS.collector,
        memoryReservationMiB: 64,
        environment: { AOT_CONFIG_CONTENT: content },
        logging: ecs.LogDrivers.awsLogs({ logGroup: props.roleLogGroups[r], streamPrefix: 'otel' }),
        // ADOT images ship /healthcheck, which asks the health_check extension on 13133.
        healthCheck: { command: ['CMD', '/healthcheck'], interval: Duration.seconds(30), timeout: Duration.seconds(5), retries: 3, startPeriod: Duration.seconds(30) },
      });
      addWritablePaths(props.taskDefinitions[r], collector, COLLECTOR_WRITABLE_PATHS);
    }
  }
}
