import type { PlatformConfigInput } from '../lib/config';

/**
 * Development environment: the smallest footprint that still has two AZs (zone-aware OpenSearch,
 * one NAT gateway), and stateful resources that are deleted with the stack.
 */
export const dev: PlatformConfigInput = {
  numHistoryShards: 16,
  sizing: 'small',
  network: {
    azCount: 2,
    natGateways: 'one',
  },
  dsql: {
    deletionProtection: false,
  },
  opensearch: {
    dataNodeInstanceType: 't3.medium.search',
    dataNodes: 2,
    masterNodes: 0,
    volumeSizeGiB: 20,
  },
  logRetentionDays: 14,
  removalPolicies: {
    dsqlCluster: 'destroy',
    visibilityDomain: 'destroy',
    logs: 'destroy',
  },
  backup: { retentionDays: 7 },
  logLevel: 'debug',
  enableEcsExec: true,
  // Development: the frontend accepts calls without a token (never in production; docs/security.md).
  security: { allowNoAuth: true },
  // Namespaces and search attributes applied on every deploy (README, "Namespaces as code").
  namespaces: [
    { name: 'sandbox', retentionDays: 3, description: 'Developer experiments', ownerEmail: 'temporal-platform@example.com' },
  ],
  searchAttributes: [
    { name: 'CustomerId', type: 'Keyword', namespace: 'sandbox' },
  ],
  tags: { owner: 'temporal-platform' },
};
