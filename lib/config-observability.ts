/**
 * The `observability` section of the configuration: the alarm topic's subscriptions and the
 * switch for alarms and dashboard (lib/observability.ts).
 */
import { bool, checkKeys, ConfigError, optObject } from './config-checks';

/** Alarms (to an SNS topic) and the CloudWatch dashboard (lib/observability.ts, docs/operations.md). */
export interface ObservabilityInput {
  /** Create the alarm topic, the alarms and the dashboard. @default true */
  readonly enabled?: boolean;
  /** E-mail addresses subscribed to the alarm topic (each must confirm the subscription). @default [] */
  readonly alarmEmails?: string[];
}

/** The resolved `observability` section. */
export interface ObservabilityConfig {
  readonly enabled: boolean;
  readonly alarmEmails: string[];
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Fills the defaults of the `observability` section and checks it. */
export function resolveObservability(p: (f: string) => string, input: unknown): ObservabilityConfig {
  const o = optObject(p('observability'), input);
  checkKeys(p('observability'), o, ['enabled', 'alarmEmails']);
  const enabled = bool(p('observability.enabled'), o.enabled, true);
  const emails = o.alarmEmails === undefined ? [] : o.alarmEmails;
  if (!Array.isArray(emails)) throw new ConfigError(p('observability.alarmEmails'), emails, 'a list of e-mail addresses');
  emails.forEach((e, i) => {
    if (typeof e !== 'string' || !EMAIL.test(e)) throw new ConfigError(p(`observability.alarmEmails[${i}]`), e, 'an e-mail address such as oncall@example.com');
  });
  if (new Set(emails).size !== emails.length) throw new ConfigError(p('observability.alarmEmails'), emails, 'distinct e-mail addresses');
  return { enabled, alarmEmails: [...emails] as string[] };
}
