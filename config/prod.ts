import type { PlatformConfigInput } from '../lib/config';

/**
 * Production environment: three AZs, a NAT gateway per AZ, dedicated OpenSearch masters,
 * everything stateful retained, DSQL deletion protection on.
 */
export const prod: PlatformConfigInput = {
  env: { region: 'us-east-1' },
  numHistoryShards: 512,
  sizing: 'medium',
  services: {
    history: { cpu: 2048, memoryMiB: 8192, desiredCount: 3 },
  },
  network: {
    azCount: 3,
    availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
    natGateways: 'perAz',
    cidr: '10.40.0.0/16',
  },
  dsql: {
    deletionProtection: true,
    databaseRole: 'temporal_server',
  },
  opensearch: {
    engineVersion: '2.19',
    dataNodeInstanceType: 'r7g.large.search',
    dataNodes: 3,
    masterNodes: 3,
    masterNodeInstanceType: 'm7g.large.search',
    volumeSizeGiB: 200,
    multiAzWithStandby: true,
  },
  logRetentionDays: 90,
  removalPolicies: {
    dsqlCluster: 'retain',
    visibilityDomain: 'retain',
    logs: 'retain',
  },
  backup: { schedule: 'cron(0 5 * * ? *)', retentionDays: 35 },
  dynamicConfig: {
    'history.persistenceMaxQPS': [{ value: 3000 }],
    'frontend.persistenceMaxQPS': [{ value: 3000 }],
    'matching.persistenceMaxQPS': [{ value: 3000 }],
  },
  logLevel: 'info',
  tags: { owner: 'temporal-platform', 'cost-center': 'platform' },
};
