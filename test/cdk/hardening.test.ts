/**
 * Review gaps (issue 13, part 7): UI ALB access logs in an encrypted bucket, OpenSearch Multi-AZ
 * with Standby in prod, and a server role that may delete visibility documents but not indices.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import { resolveConfig } from '../../lib/config';
import { buildApp } from './helpers';

type Resources = Record<string, { Type: string; Properties?: any; DeletionPolicy?: string }>;

function synth(envName: 'dev' | 'prod') {
  const { stack } = buildApp(envName, { ...ENVIRONMENTS }, { quick: true });
  const t = Template.fromStack(stack);
  return { stack, t, resources: t.toJSON().Resources as Resources };
}

const prod = synth('prod');
const dev = synth('dev');

describe('UI ALB access logs', () => {
  test('bucket: SSE-S3, public access blocked, expiry = logRetentionDays (prod 90), retained in prod', () => {
    prod.t.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: {
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        LifecycleConfiguration: { Rules: [{ Id: 'Expire', ExpirationInDays: 90, Status: 'Enabled' }] },
      },
    });
  });

  test('dev (environment-agnostic, no region): no bucket, no access logs', () => {
    dev.t.resourceCountIs('AWS::S3::Bucket', 1); // the archive bucket (lib/archival/archival.ts) only
    dev.t.resourcePropertiesCountIs('AWS::S3::Bucket', { LoggingConfiguration: Match.anyValue() }, 0);
    expect(dev.stack.accessLogs).toBeUndefined();
  });

  test('dev with a region: bucket deleted with the stack like the logs, expiry 14 days', () => {
    const { stack } = buildApp('dev', { ...ENVIRONMENTS, dev: { ...ENVIRONMENTS.dev, env: { region: 'eu-west-1' } } }, { quick: true });
    Template.fromStack(stack).hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ LifecycleConfiguration: { Rules: [{ Id: 'Expire', ExpirationInDays: 14, Status: 'Enabled' }] } }) });
  });

  test('bucket policy denies non-TLS requests', () => {
    prod.t.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('the ALB (and only the ALB) writes access logs to that bucket under ui-alb', () => {
    const bucketId = Object.entries(prod.resources).find(([, r]) => r.Type === 'AWS::S3::Bucket')![0];
    const lbs = Object.values(prod.resources).filter((r) => r.Type === 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    const alb = lbs.find((r) => r.Properties.Type === 'application')!;
    const attrs = Object.fromEntries(alb.Properties.LoadBalancerAttributes.map((a: any) => [a.Key, a.Value]));
    expect(attrs['access_logs.s3.enabled']).toBe('true');
    expect(attrs['access_logs.s3.bucket']).toEqual({ Ref: bucketId });
    expect(attrs['access_logs.s3.prefix']).toBe('ui-alb');
    const nlb = lbs.find((r) => r.Properties.Type === 'network')!;
    expect((nlb.Properties.LoadBalancerAttributes ?? []).map((a: any) => a.Key)).not.toContain('access_logs.s3.enabled');
  });
});

describe('OpenSearch Multi-AZ with Standby', () => {
  test('prod: on, 3 AZs, 3 dedicated masters, 3 data nodes, gp3', () => {
    prod.t.hasResourceProperties('AWS::OpenSearchService::Domain', {
      ClusterConfig: Match.objectLike({
        MultiAZWithStandbyEnabled: true,
        ZoneAwarenessEnabled: true,
        ZoneAwarenessConfig: { AvailabilityZoneCount: 3 },
        DedicatedMasterEnabled: true,
        DedicatedMasterCount: 3,
        InstanceCount: 3,
      }),
      EBSOptions: Match.objectLike({ VolumeType: 'gp3' }),
    });
  });

  test('dev: off', () => {
    dev.t.hasResourceProperties('AWS::OpenSearchService::Domain', { ClusterConfig: Match.objectLike({ MultiAZWithStandbyEnabled: false }) });
  });

  const base = {
    numHistoryShards: 4,
    security: { allowNoAuth: true },
    network: { azCount: 3, availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'] },
    opensearch: { multiAzWithStandby: true, dataNodes: 3, masterNodes: 3 },
  };
  test('accepted with 3 AZs, masters and 3 data nodes', () => {
    expect(resolveConfig('prod', base).opensearch.multiAzWithStandby).toBe(true);
  });
  test.each([
    [{ network: { azCount: 2 }, opensearch: { multiAzWithStandby: true, dataNodes: 6 } }, 'Invalid configuration: x.opensearch.multiAzWithStandby = true; allowed: false unless network.azCount is 3 (it is 2): Multi-AZ with Standby spans three zones'],
    [{ opensearch: { multiAzWithStandby: true, dataNodes: 3, masterNodes: 0 } }, 'Invalid configuration: x.opensearch.multiAzWithStandby = true; allowed: false unless opensearch.masterNodes is 3 or 5 (Multi-AZ with Standby needs dedicated masters)'],
    [{ opensearch: { multiAzWithStandby: true, dataNodes: 3, dataNodeInstanceType: 't3.medium.search' } }, 'Invalid configuration: x.opensearch.multiAzWithStandby = true; allowed: false with T2/T3 instance types (t3.medium.search): Multi-AZ with Standby does not support them'],
    [{ opensearch: { multiAzWithStandby: 'yes' } }, 'Invalid configuration: x.opensearch.multiAzWithStandby = "yes"; allowed:'],
  ])('refuses %j', (override, message) => {
    expect(() => resolveConfig('x', { ...base, ...override } as any)).toThrow(message);
  });
});

describe('server role may delete visibility documents, not indices', () => {
  const domain = Object.values(prod.resources).find((r) => r.Type === 'AWS::OpenSearchService::Domain')!;
  const statements: any[] = domain.Properties.AccessPolicies.Statement;
  const domainArn = (suffix: string) => ({ 'Fn::Join': ['', ['arn:aws:es:us-east-1:', { Ref: 'AWS::AccountId' }, `:domain/temporal-prod/${suffix}`]] });
  const serverRoleRef = { 'Fn::GetAtt': [expect.stringMatching(/^TemporalServerTaskRole/), 'Arn'] };

  test('access policy: every verb but DELETE on the domain paths, DELETE only on documents and search contexts', () => {
    const server = statements.filter((s) => s.Principal?.AWS && JSON.stringify(s.Principal.AWS).includes('TemporalServerTaskRole'));
    expect(server).toHaveLength(2);
    expect(server[0]).toEqual({
      Sid: 'TemporalServerVisibility', Effect: 'Allow', Principal: { AWS: serverRoleRef },
      Action: ['es:ESHttpGet', 'es:ESHttpHead', 'es:ESHttpPost', 'es:ESHttpPut', 'es:ESHttpPatch'],
      Resource: domainArn('*'),
    });
    expect(server[1]).toEqual({
      Sid: 'TemporalServerDeleteDocuments', Effect: 'Allow', Principal: { AWS: serverRoleRef },
      Action: 'es:ESHttpDelete',
      Resource: [domainArn('temporal_visibility_v1_prod/_doc/*'), domainArn('_search/scroll*'), domainArn('_pit*'), domainArn('_search/point_in_time*')],
    });
  });

  test('no statement of the access policy allows ESHttpDelete on the whole domain', () => {
    for (const s of statements) {
      const actions = [s.Action].flat();
      if (actions.includes('es:ESHttpDelete') || actions.includes('es:*')) {
        expect(JSON.stringify(s.Resource)).not.toMatch(/temporal-prod\/\*"/);
      }
    }
  });

  test('the task role\'s own policy: ESHttpDelete only on the same paths', () => {
    const policies = Object.values(prod.resources).filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes('TemporalServerTaskRole'));
    const del = policies.flatMap((p) => p.Properties.PolicyDocument.Statement).filter((s: any) => [s.Action].flat().includes('es:ESHttpDelete'));
    expect(del).toHaveLength(1);
    const resources = [del[0].Resource].flat().map((r: any) => r['Fn::Join'][1].slice(-1)[0]);
    expect(resources.sort()).toEqual(['/_pit*', '/_search/point_in_time*', '/_search/scroll*', '/temporal_visibility_v1_prod/_doc/*']);
  });
});
