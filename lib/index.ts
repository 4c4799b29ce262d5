/**
 * Reusable constructs and helpers of the Temporal-on-DSQL platform.
 *
 * - {@link TemporalNetwork}: VPC, flow logs, VPC endpoints for private Fargate tasks
 * - {@link TemporalDsqlCluster}: Aurora DSQL cluster, PrivateLink endpoint, `grantConnect` / `grantConnectAdmin`
 * - {@link TemporalVisibilityDomain}: OpenSearch domain for Temporal visibility
 * - {@link TemporalCertificates}: custom resource issuing and rotating the internode and frontend TLS certificates (stack CA or AWS Private CA)
 * - {@link TemporalDsqlSchema}: custom resource that applies the DSQL schema and the server database role
 * - {@link TemporalVisibilityIndex}: custom resource that applies the visibility index template and index
 * - {@link TemporalServices}: ECS cluster, one Fargate service per role and the UI, NLB, ALB
 * - {@link TemporalDsqlBackup}: AWS Backup vault and plan for the DSQL cluster
 * - {@link TemporalNamespaces}: custom resource that applies namespaces and custom search attributes through the frontend's gRPC API
 * - {@link TemporalArchival}: S3 bucket for history and visibility archival (upstream's s3store archiver), `grantArchiver`
 * - {@link TemporalObservability}: alarms to an SNS topic and the dashboard, on AWS metrics ({@link AWS_METRICS})
 * - {@link TemporalPlatformStack}: all of the above for one environment
 * - configuration: {@link resolveConfig}, {@link checkShardLock}, {@link buildDynamicConfig}
 * - scaling: {@link AUTOSCALING_PRESETS} and the shutdown timings; capacity model {@link planCapacity} (docs/capacity.md)
 */
export * from './access-logs';
export * from './app';
export * from './archival';
export * from './aws-metrics';
export * from './backup';
export * from './capacity';
export * from './certificates';
export * from './config';
export * from './config-namespaces';
export * from './config-archival';
export * from './config-backup';
export * from './config-observability';
export * from './config-opensearch';
export * from './config-security';
export * from './dsql-cluster';
export * from './dsql-schema';
export * from './dynamic-config';
export * from './history-cache';
export * from './namespaces';
export * from './network';
export * from './observability';
export * from './otel-collector';
export * from './platform-stack';
export * from './scaling';
export * from './server-image';
export * from './shard-lock';
export * from './temporal-auth';
export * from './temporal-services';
export * from './visibility-domain';
export * from './visibility-index';
