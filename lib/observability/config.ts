/**
 * The `observability` section of the configuration: the alarm topic's subscriptions, the switch
 * for alarms and dashboard (lib/observability/observability.ts), and the metrics collector sidecar with its
 * optional Amazon Managed Service for Prometheus workspace (lib/observability/otel-collector.ts).
 */
import { bool, checkKeys, ConfigError, optObject, regionOfArn } from '../config-checks';

/**
 * The AWS Distro for OpenTelemetry collector image, pinned by tag: release v0.50.0 (2026-08-25,
 * OpenTelemetry Collector and Contrib v0.158.0; aws-otel-collector docs/releases/v0.50.0.md).
 * Its digest could not be verified here; pin one with `observability.collectorImage`.
 */
export const DEFAULT_COLLECTOR_IMAGE = 'public.ecr.aws/aws-observability/aws-otel-collector:v0.50.0';

/** True for an image reference with an explicit tag (not `latest`) or a sha256 digest. */
function isPinnedImage(image: string): boolean {
  const m = /^[a-z0-9._-]+(?::([A-Za-z0-9._-]+))?(@sha256:[a-f0-9]{64})?$/.exec(image.split('/').pop() ?? '');
  return !/\s/.test(image) && m !== null && (m[2] !== undefined || (m[1] !== undefined && m[1] !== 'latest'));
}
/** An AMP workspace ARN. */
const AMP_WORKSPACE_ARN = /^arn:aws[a-z-]*:aps:[a-z]{2}(-[a-z]+)+-\d:\d{12}:workspace\/ws-[A-Za-z0-9-]+$/;

/** Alarms (to an SNS topic) and the CloudWatch dashboard (lib/observability/observability.ts, docs/operations.md). */
export interface ObservabilityInput {
  /** Create the alarm topic, the alarms and the dashboard. @default true */
  readonly enabled?: boolean;
  /**
   * E-mail addresses subscribed to the alarm topic (each must confirm the subscription). An environment
   * marked `production` needs at least one, or `alarmTopicArn`: synth refuses alarms that page nobody.
   * @default []
   */
  readonly alarmEmails?: string[];
  /**
   * An existing SNS topic (`arn:aws:sns:<region>:<account>:<name>`, in the stack's Region) the alarms
   * notify instead of a topic the stack creates, e.g. the one your paging tool subscribes to.
   * `alarmEmails` are then subscribed to it. @default - a topic the stack creates
   */
  readonly alarmTopicArn?: string;
  /**
   * Run the ADOT collector sidecar in every server task (Temporal metrics to CloudWatch as EMF, and
   * to AMP when `managedPrometheus` is set); the Temporal-metric alarms and widgets need it.
   * @default true
   */
  readonly metricsCollector?: boolean;
  /** Collector image with an explicit tag or digest. @default DEFAULT_COLLECTOR_IMAGE */
  readonly collectorImage?: string;
  /**
   * Send every Temporal metric to an Amazon Managed Service for Prometheus workspace: `'create'`
   * makes one (`temporal-<env>`), an ARN (`arn:aws:aps:<region>:<account>:workspace/ws-...`)
   * uses an existing one in the stack's Region. @default - none
   */
  readonly managedPrometheus?: string;
}

/** The resolved `observability` section. */
export interface ObservabilityConfig {
  readonly enabled: boolean;
  readonly alarmEmails: string[];
  /** An existing topic the alarms notify, or undefined (the stack creates one). */
  readonly alarmTopicArn?: string;
  readonly metricsCollector: boolean;
  readonly collectorImage: string;
  /** `'create'`, a workspace ARN, or undefined (no AMP). */
  readonly managedPrometheus?: string;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const SNS_TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/;

/**
 * Fills the defaults of the `observability` section and checks it.
 * @param production the environment is marked production: alarms must reach someone
 * @throws ConfigError naming the field, the value and what is allowed
 */
export function resolveObservability(p: (f: string) => string, input: unknown, stackRegion?: string, production = false): ObservabilityConfig {
  const o = optObject(p('observability'), input);
  checkKeys(p('observability'), o, ['enabled', 'alarmEmails', 'alarmTopicArn', 'metricsCollector', 'collectorImage', 'managedPrometheus']);
  const enabled = bool(p('observability.enabled'), o.enabled, true);
  const emails = o.alarmEmails === undefined ? [] : o.alarmEmails;
  if (!Array.isArray(emails)) throw new ConfigError(p('observability.alarmEmails'), emails, 'a list of e-mail addresses');
  emails.forEach((e, i) => {
    if (typeof e !== 'string' || !EMAIL.test(e)) throw new ConfigError(p(`observability.alarmEmails[${i}]`), e, 'an e-mail address such as oncall@example.com');
  });
  if (new Set(emails).size !== emails.length) throw new ConfigError(p('observability.alarmEmails'), emails, 'distinct e-mail addresses');
  const topicArn = o.alarmTopicArn;
  if (topicArn !== undefined) {
    if (typeof topicArn !== 'string' || !SNS_TOPIC_ARN.test(topicArn) || topicArn.endsWith('.fifo')) {
      throw new ConfigError(p('observability.alarmTopicArn'), topicArn, 'a standard SNS topic ARN arn:aws:sns:<region>:<account>:<name> (CloudWatch alarms cannot notify FIFO topics)');
    }
    if (stackRegion && regionOfArn(topicArn) !== stackRegion) {
      throw new ConfigError(p('observability.alarmTopicArn'), topicArn, `a topic in the stack's Region ${stackRegion} (alarms notify topics of their own Region)`);
    }
  }
  if (production && enabled && emails.length === 0 && topicArn === undefined) {
    throw new ConfigError(p('observability.alarmEmails'), emails,
      'at least one e-mail address, or observability.alarmTopicArn, in an environment marked production (alarms that notify nobody are not noticed)');
  }
  const metricsCollector = bool(p('observability.metricsCollector'), o.metricsCollector, true);
  const collectorImage = o.collectorImage === undefined ? DEFAULT_COLLECTOR_IMAGE : o.collectorImage;
  if (typeof collectorImage !== 'string' || !isPinnedImage(collectorImage)) {
    throw new ConfigError(p('observability.collectorImage'), collectorImage, 'an image with an explicit tag or digest (not latest), e.g. public.ecr.aws/aws-observability/aws-otel-collector:v0.50.0');
  }
  const amp = o.managedPrometheus;
  if (amp !== undefined) {
    if (typeof amp !== 'string' || (amp !== 'create' && !AMP_WORKSPACE_ARN.test(amp))) {
      throw new ConfigError(p('observability.managedPrometheus'), amp, "'create' or an AMP workspace ARN arn:aws:aps:<region>:<account>:workspace/ws-<id>");
    }
    if (amp !== 'create' && stackRegion && regionOfArn(amp) !== stackRegion) {
      throw new ConfigError(p('observability.managedPrometheus'), amp, `a workspace in the stack's Region ${stackRegion}`);
    }
    if (!metricsCollector) throw new ConfigError(p('observability.managedPrometheus'), amp, 'unset while observability.metricsCollector is false (the collector writes to the workspace)');
  }
  return {
    enabled, alarmEmails: [...emails] as string[], ...(topicArn !== undefined ? { alarmTopicArn: topicArn as string } : {}),
    metricsCollector, collectorImage, ...(amp !== undefined ? { managedPrometheus: amp as string } : {}),
  };
}
