import type { PlatformConfigInput } from '../lib/config';

/**
 * Production environment: three AZs, a NAT gateway per AZ, dedicated OpenSearch masters,
 * everything stateful retained, DSQL deletion protection on; marked `production`, so the frontend
 * authorizes every call, everything talks TLS and the UI is HTTPS with OIDC login.
 */
export const prod: PlatformConfigInput = {
  env: { region: 'us-east-1' },
  production: true,
  // EXAMPLE identity provider, certificate and secret (account 111122223333 is AWS's documentation
  // account): replace with your own before deploying (docs/security.md, "Issuing tokens").
  security: {
    // audience: the app client id of the clients' access tokens (Cognito puts it in client_id).
    auth: { issuerUrl: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE11', permissionsClaim: 'permissions', audience: '1example23456789' },
  },
  ui: {
    certificateArn: 'arn:aws:acm:us-east-1:111122223333:certificate/00000000-0000-0000-0000-000000000000',
    domainName: 'temporal.example.com',
    oidc: {
      clientId: 'temporal-ui-example-client',
      clientSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:temporal/ui-oidc-client-secret-AbCdEf',
    },
  },
  // No public registry at task start (docs/security.md, "Images"): the UI and the collector come
  // through ECR pull-through cache rules. Docker Hub's rule needs a credential: EXAMPLE secret (its
  // name must start with ecr-pullthroughcache/). Pin digests with images.uiDigest/collectorDigest.
  images: {
    source: 'pullThroughCache',
    dockerHubCredentialArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:ecr-pullthroughcache/docker-hub-AbCdEf',
  },
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
  // Alarms must reach a person in production: EXAMPLE address (or alarmTopicArn: your paging tool's topic).
  observability: { alarmEmails: ['temporal-oncall@example.com'] },
  dynamicConfig: {
    'history.persistenceMaxQPS': [{ value: 3000 }],
    'frontend.persistenceMaxQPS': [{ value: 3000 }],
    'matching.persistenceMaxQPS': [{ value: 3000 }],
  },
  logLevel: 'info',
  // Namespaces and search attributes applied on every deploy (README, "Namespaces as code"). The
  // resource signs in as the admin client below (example values: replace with your issuer's).
  namespaces: [
    { name: 'orders', retentionDays: 30, description: 'Order processing', archival: true, ownerEmail: 'orders-team@example.com' },
    { name: 'billing', retentionDays: 14, description: 'Invoices and payments', ownerEmail: 'billing-team@example.com' },
  ],
  searchAttributes: [
    { name: 'CustomerId', type: 'Keyword', namespace: 'orders' },
    { name: 'OrderTotal', type: 'Double', namespace: 'orders' },
    { name: 'InvoiceStatus', type: 'Keyword', namespace: 'billing' },
  ],
  namespaceAdmin: {
    clientSecretArn: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:temporal/namespace-admin-client-AbCdEf',
    tokenUrl: 'https://temporal-example.auth.us-east-1.amazoncognito.com/oauth2/token',
    scope: 'temporal/admin',
  },
  tags: { owner: 'temporal-platform', 'cost-center': 'platform' },
};
