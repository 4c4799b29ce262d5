/** Alarms, the dashboard and the SNS topic, the metrics collector sidecar and its metric tables, the UI access logs, and the `observability` config section. */
export * from './observability';
export * from './aws-metrics';
export * from './otel-collector';
export * from './access-logs';
export * from './config';
