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
 * - multi-Region: {@link createMultiRegionApp}, {@link resolveMultiRegion}, {@link TemporalClusterOnlyStack} (docs/multi-region.md)
 * - configuration: {@link resolveConfig}, {@link checkShardLock}, {@link buildDynamicConfig}
 * - scaling: {@link AUTOSCALING_PRESETS} and the shutdown timings; capacity model {@link planCapacity} (docs/capacity.md)
 *
 * One folder per concern, each with its constructs, its config section and an `index.ts` (docs/architecture.md).
 */
export * from './app';
export * from './config';
export * from './platform-stack';
export * from './network';
export * from './dsql';
export * from './visibility';
export * from './services';
export * from './security';
export * from './observability';
export * from './namespaces';
export * from './archival';
export * from './capacity';
export * from './multi-region';
