/** The Aurora DSQL cluster, the schema custom resource, AWS Backup of the cluster, the numHistoryShards lock, and the `dsql` and `backup` config sections. */
export * from './dsql-cluster';
export * from './dsql-schema';
export * from './backup';
export * from './backup-config';
export * from './shard-lock';
export * from './config';
