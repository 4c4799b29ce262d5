/**
 * Multi-Region environments (lib/multi-region, docs/multi-region.md): one stack per Region in each
 * of the three deploy phases, the peering step's template diff, the standby at 0, the IAM mapping
 * of both task roles, and every configuration check failing with its message. Each phase is
 * synthesized once (quick synth: no bundling, no template validation) and shared by its tests.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import type { PlatformConfigInput } from '../../lib/config';
import { createApp, createMultiRegionApp, createPlatformApp, MultiRegionApp } from '../../lib/app';
import { MultiRegionInput } from '../../lib/multi-region/config';
import { onEvent, resetSchemaCache, serverRoleArns } from '../../lambda/dsql/schema/handler';
import { DEFAULT_DSQL_SCHEMA_DIR } from '../../lib/dsql/dsql-schema';
import { cdkJsonContext, tempDir, TEST_SERVER_IMAGE } from './helpers';

const ACTIVE = 'us-east-1';
const STANDBY = 'us-east-2';
const ARNS = {
  [ACTIVE]: 'arn:aws:dsql:us-east-1:111122223333:cluster/aaaaaaaaaaaaaaaaaaaaaaaaaa',
  [STANDBY]: 'arn:aws:dsql:us-east-2:111122223333:cluster/bbbbbbbbbbbbbbbbbbbbbbbbbb',
};
const prod = ENVIRONMENTS.prod;

/** prod, on two Regions: the standby's Regional sections (zones, certificate, OIDC secret) overridden. */
function mrInput(multiRegion: Partial<MultiRegionInput> = {}, overrides: Partial<PlatformConfigInput> = {}): PlatformConfigInput {
  return {
    ...prod,
    env: undefined,
    serverImage: TEST_SERVER_IMAGE,
    ...overrides,
    multiRegion: {
      regions: [ACTIVE, STANDBY],
      witnessRegion: 'us-west-2',
      clusterArns: ARNS,
      standbyUiDesiredCount: 1,
      regionOverrides: {
        [STANDBY]: {
          network: { ...prod.network, availabilityZones: ['us-east-2a', 'us-east-2b', 'us-east-2c'], cidr: '10.41.0.0/16' },
          ui: {
            ...prod.ui,
            certificateArn: 'arn:aws:acm:us-east-2:111122223333:certificate/00000000-0000-0000-0000-000000000000',
            oidc: { ...prod.ui!.oidc!, clientSecretArn: 'arn:aws:secretsmanager:us-east-2:111122223333:secret:temporal/ui-oidc-client-secret-AbCdEf' },
          },
          // A pull-through rule reads its Docker Hub credential in its own Region.
          images: { ...prod.images, dockerHubCredentialArn: 'arn:aws:secretsmanager:us-east-2:111122223333:secret:ecr-pullthroughcache/docker-hub-AbCdEf' },
        },
      },
      ...multiRegion,
    },
  };
}

function build(input: PlatformConfigInput, phase?: string): MultiRegionApp {
  const context = { ...cdkJsonContext({ quick: true }), ...(phase ? { multiRegionPhase: phase } : {}) };
  return createMultiRegionApp({
    environments: { mr: input }, envName: 'mr', lockDir: tempDir('lock'), nag: false, appProps: { context, outdir: tempDir('out') },
  });
}

type Json = Record<string, any>;
const templates = (b: MultiRegionApp): Record<string, Json> =>
  Object.fromEntries(b.regions.map((r) => [r.region, Template.fromStack(r.stack).toJSON()]));

/** Dotted paths at which two templates differ (objects compared key by key, anything else as a whole). */
function changedPaths(a: unknown, b: unknown, at = ''): string[] {
  const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort().flatMap((k) => changedPaths(a[k], b[k], at ? `${at}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [at];
}

const ofType = (t: Json, type: string) => Object.entries(t.Resources as Json).filter(([, r]) => r.Type === type);
const clusterOf = (t: Json): [string, Json] => {
  const c = ofType(t, 'AWS::DSQL::Cluster');
  expect(c).toHaveLength(1);
  return c[0] as [string, Json];
};

describe('multi-Region: the three phases', () => {
  let witness: Record<string, Json>;
  let peer: Record<string, Json>;
  let platform: Record<string, Json>;
  let platformApp: MultiRegionApp;
  beforeAll(() => {
    const noArns = { clusterArns: undefined };
    witness = templates(build(mrInput(noArns), 'witness'));
    peer = templates(build(mrInput(), 'peer'));
    platformApp = build(mrInput());
    platform = templates(platformApp);
  });

  test('one stack per Region, Temporal-<env>-<region>, in each Region', () => {
    expect(platformApp.regions.map((r) => [r.stack.stackName, r.stack.region, r.role])).toEqual([
      ['Temporal-mr-us-east-1', ACTIVE, 'active'], ['Temporal-mr-us-east-2', STANDBY, 'standby'],
    ]);
    // The standby deploys after the active (cdk deploy --all): its schema job finds the schema applied.
    expect(platformApp.regions[1].stack.dependencies.map((s) => s.stackName)).toEqual(['Temporal-mr-us-east-1']);
  });

  test('phase witness: only the cluster, with only WitnessRegion (AWS recipe, first step)', () => {
    for (const region of [ACTIVE, STANDBY]) {
      const t = witness[region];
      expect(Object.keys(t.Resources)).toHaveLength(1);
      const [, cluster] = clusterOf(t);
      expect(cluster.Properties.MultiRegionProperties).toEqual({ WitnessRegion: 'us-west-2' });
      expect(cluster.Properties.DeletionProtectionEnabled).toBe(true);
      expect(cluster.Properties.Tags).toEqual(expect.arrayContaining([{ Key: 'Name', Value: 'temporal-mr' }]));
      expect(t.Outputs.DsqlClusterArn.Value).toEqual({ 'Fn::GetAtt': [clusterOf(t)[0], 'ResourceArn'] });
    }
  });

  test('phase peer: both cluster ARNs in Clusters, in both stacks (AWS recipe, second step)', () => {
    for (const region of [ACTIVE, STANDBY]) {
      expect(clusterOf(peer[region])[1].Properties.MultiRegionProperties).toEqual({ WitnessRegion: 'us-west-2', Clusters: [ARNS[ACTIVE], ARNS[STANDBY]] });
    }
  });

  test('witness -> peer: the only change is the cluster\'s MultiRegionProperties.Clusters', () => {
    for (const region of [ACTIVE, STANDBY]) {
      const [id] = clusterOf(witness[region]);
      expect(changedPaths(witness[region], peer[region])).toEqual([`Resources.${id}.Properties.MultiRegionProperties.Clusters`]);
    }
  });

  test('peer -> platform: the same cluster (logical id, peering) gains only its VPC-only policy; nothing is removed or changed', () => {
    for (const region of [ACTIVE, STANDBY]) {
      const [id, before] = clusterOf(peer[region]);
      const [idAfter, after] = clusterOf(platform[region]);
      expect(idAfter).toBe(id);
      expect(changedPaths(before, after)).toEqual(['Properties.PolicyDocument']);
      expect(changedPaths(peer[region].Outputs.DsqlClusterArn, platform[region].Outputs.DsqlClusterArn)).toEqual([]);
      expect(peer[region].Description).toBe(platform[region].Description);
    }
  });

  test('both Regions: same numHistoryShards, own VPC, NLB, UI ALB and OpenSearch domain, distinct dashboard names', () => {
    for (const region of [ACTIVE, STANDBY]) {
      const t = platform[region];
      expect(ofType(t, 'AWS::SSM::Parameter').map(([, r]) => r.Properties.Value)).toContain('512');
      expect(ofType(t, 'AWS::EC2::VPC')).toHaveLength(1);
      expect(ofType(t, 'AWS::ElasticLoadBalancingV2::LoadBalancer').map(([, r]) => r.Properties.Type).sort()).toEqual(['application', 'network']);
      expect(ofType(t, 'AWS::OpenSearchService::Domain')).toHaveLength(1);
    }
    expect(ofType(platform[STANDBY], 'AWS::EC2::VPC')[0][1].Properties.CidrBlock).toBe('10.41.0.0/16');
    const dashboards = [ACTIVE, STANDBY].map((r) => ofType(platform[r], 'AWS::CloudWatch::Dashboard')[0][1].Properties.DashboardName);
    expect(dashboards).toEqual([`temporal-mr-${ACTIVE}`, `temporal-mr-${STANDBY}`]);
  });

  /** ECS services by their temporal:role tag. */
  const servicesByRole = (t: Json) => Object.fromEntries(ofType(t, 'AWS::ECS::Service')
    .map(([id, r]) => [(r.Properties.Tags as Json[]).find((x) => x.Key === 'temporal:role')?.Value ?? id, r.Properties]));
  const minCapacities = (t: Json) => ofType(t, 'AWS::ApplicationAutoScaling::ScalableTarget').map(([, r]) => r.Properties.MinCapacity);

  test('the active runs its configured counts; the standby 0 tasks and autoscaling floors 0, its UI the configured minimum', () => {
    const active = servicesByRole(platform[ACTIVE]);
    const standby = servicesByRole(platform[STANDBY]);
    expect(active.history.DesiredCount).toBe(3);
    expect(active.worker.DesiredCount).toBe(2);
    expect(minCapacities(platform[ACTIVE])).toEqual([2, 2]);
    for (const role of ['history', 'worker']) expect(standby[role].DesiredCount).toBe(0);
    // frontend and matching are autoscaled: no DesiredCount, the scalable target's floor decides.
    for (const role of ['frontend', 'matching']) expect(standby[role].DesiredCount).toBeUndefined();
    expect(minCapacities(platform[STANDBY])).toEqual([0, 0]);
    expect(ofType(platform[STANDBY], 'AWS::ECS::Service').filter(([id]) => id.includes('Ui')).map(([, r]) => r.Properties.DesiredCount)).toEqual([1]);
    // Namespaces live in the one database: only the active applies them (the standby's frontend has no task).
    expect(ofType(platform[ACTIVE], 'Custom::TemporalNamespaces')).toHaveLength(1);
    expect(ofType(platform[STANDBY], 'Custom::TemporalNamespaces')).toHaveLength(0);
  });

  test('each server task role is named, may connect to its Region\'s cluster, and both are mapped to the database role by both schema jobs', () => {
    for (const [region, peerRegion] of [[ACTIVE, STANDBY], [STANDBY, ACTIVE]]) {
      const t = platform[region];
      const roles = ofType(t, 'AWS::IAM::Role').filter(([, r]) => r.Properties.RoleName === `temporal-mr-${region}-server`);
      expect(roles).toHaveLength(1);
      const [clusterId] = clusterOf(t);
      const connect = ofType(t, 'AWS::IAM::Policy').filter(([, r]) => (r.Properties.Roles as Json[]).some((x) => x.Ref === roles[0][0]))
        .flatMap(([, r]) => r.Properties.PolicyDocument.Statement as Json[]).filter((s) => s.Action === 'dsql:DbConnect');
      expect(connect).toEqual([expect.objectContaining({ Effect: 'Allow', Resource: { 'Fn::GetAtt': [clusterId, 'ResourceArn'] } })]);
      const schema = ofType(t, 'Custom::TemporalDsqlSchema')[0][1].Properties;
      expect(schema.ServerTaskRoleArn).toEqual({ 'Fn::GetAtt': [roles[0][0], 'Arn'] });
      expect(JSON.stringify(schema.PeerServerTaskRoleArns)).toContain(`:role/temporal-mr-${peerRegion}-server`);
    }
  });
});

test('the schema handler maps its own task role and the peers\' (so neither Region revokes the other), and refuses a bad peer list', async () => {
  const base = { SchemaName: 's', TargetVersion: '1', ContentHash: 'h', ClusterEndpoint: 'e', ServerRoleName: 'r' };
  expect(serverRoleArns({ ...base, ServerTaskRoleArn: 'a', PeerServerTaskRoleArns: ['b'] })).toEqual(['a', 'b']);
  expect(serverRoleArns({ ...base, ServerTaskRoleArn: 'a' })).toEqual(['a']);
  // onEvent checks the properties before any connection (no database needed).
  process.env.SCHEMA_DIR = DEFAULT_DSQL_SCHEMA_DIR;
  resetSchemaCache();
  const event = (extra: Record<string, unknown>) => ({
    RequestType: 'Create', ServiceToken: 't', ResponseURL: 'u', StackId: 's', RequestId: 'r', LogicalResourceId: 'Schema', ResourceType: 'Custom::TemporalDsqlSchema',
    ResourceProperties: { ServiceToken: 't', ...base, TargetVersion: '1.0', ServerTaskRoleArn: 'arn:aws:iam::111122223333:role/a', ...extra },
  }) as never;
  await expect(onEvent(event({ PeerServerTaskRoleArns: ['arn:aws:iam::111122223333:role/temporal-mr-us-east-2-server'] }))).resolves.toBeDefined();
  await expect(onEvent(event({ PeerServerTaskRoleArns: 'arn:aws:iam::111122223333:role/b' })))
    .rejects.toThrow('property PeerServerTaskRoleArns must be a list of IAM role ARNs, got "arn:aws:iam::111122223333:role/b"');
  await expect(onEvent(event({ PeerServerTaskRoleArns: ['role/b'] }))).rejects.toThrow('server IAM principal must be an IAM role or user ARN');
  delete process.env.SCHEMA_DIR;
  resetSchemaCache();
});

describe('multi-Region configuration errors', () => {
  const fails = (input: PlatformConfigInput, phase: string | undefined, message: string | RegExp) =>
    expect(() => build(input, phase)).toThrow(message);
  const noArns = { clusterArns: undefined };

  test.each([
    ['one Region', { regions: [ACTIVE] }, 'mr.multiRegion.regions = ["us-east-1"]; allowed: two AWS Region names'],
    ['the same Region twice', { regions: [ACTIVE, ACTIVE] }, 'allowed: two different Regions'],
    ['a witness that is a peered Region', { witnessRegion: STANDBY }, 'mr.multiRegion.witnessRegion = "us-east-2"; allowed: a third Region'],
    ['a malformed witness', { witnessRegion: 'oregon' }, 'mr.multiRegion.witnessRegion = "oregon"; allowed: an AWS Region name'],
    ['a cluster ARN of the wrong Region', { clusterArns: { ...ARNS, [STANDBY]: ARNS[ACTIVE].replace('aaaa', 'cccc') } },
      'mr.multiRegion.clusterArns["us-east-2"] = "arn:aws:dsql:us-east-1:111122223333:cluster/ccccaaaaaaaaaaaaaaaaaaaaaa"; allowed: a cluster in us-east-2'],
    ['a cluster ARN that is no ARN', { clusterArns: { ...ARNS, [ACTIVE]: 'aaaaaaaaaaaaaaaaaaaaaaaaaa' } }, 'allowed: the DSQL cluster ARN of us-east-1'],
    ['a cluster ARN of a third Region', { clusterArns: { ...ARNS, 'eu-west-1': 'x' } }, 'mr.multiRegion.clusterArns.eu-west-1 = "x"; allowed: one of the known fields us-east-1, us-east-2'],
    ['numHistoryShards per Region', { regionOverrides: { [STANDBY]: { numHistoryShards: 256 } as never } },
      'mr.multiRegion.regionOverrides["us-east-2"].numHistoryShards = 256; allowed: one of the per-Region sections network, ui, security, opensearch, observability, namespaceAdmin, dsql, backup, archival, serverImage, images, tags; numHistoryShards is shared by both Regions (one database, one shard count)'],
    ['overrides of a Region not in the pair', { regionOverrides: { 'eu-west-1': {} } }, 'mr.multiRegion.regionOverrides.eu-west-1 = {}'],
    ['deletion protection on one cluster only', { regionOverrides: { ...mrInput().multiRegion!.regionOverrides, [STANDBY]: { ...mrInput().multiRegion!.regionOverrides![STANDBY], dsql: { deletionProtection: false } } } },
      'mr.multiRegion.regionOverrides["us-east-2"].dsql.deletionProtection = false; allowed: true, the same as us-east-1'],
    ['a negative standby UI count', { standbyUiDesiredCount: -1 }, 'mr.multiRegion.standbyUiDesiredCount = -1; allowed: an integer from 0 to 10'],
  ] as Array<[string, Partial<MultiRegionInput>, string]>)('%s', (_name, multiRegion, message) => {
    fails(mrInput(multiRegion), undefined, message);
  });

  test('an adopted cluster', () => fails(mrInput({}, { dsql: { existingCluster: 'aaaaaaaaaaaaaaaaaaaaaaaaaa' } }), undefined,
    'mr.dsql.existingCluster = "aaaaaaaaaaaaaaaaaaaaaaaaaa"; allowed: nothing with multiRegion'));
  test('env.region other than the active Region', () => fails(mrInput({}, { env: { region: STANDBY } }), undefined,
    'mr.env.region = "us-east-2"; allowed: unset or the active Region us-east-1'));
  test('a Regional value of the other Region (the per-Region checks run per Region)', () => fails(mrInput({ regionOverrides: {} }), undefined,
    'mr.network.availabilityZones = ["us-east-1a","us-east-1b","us-east-1c"]; allowed: zones of env.region us-east-2'));
  test('an unknown phase', () => fails(mrInput(), 'peering', 'context multiRegionPhase = "peering"; allowed: \'witness\' or \'peer\' or \'platform\''));
  test('phase witness once the clusters exist (it would unpeer them)', () => fails(mrInput(), 'witness', 'phase \'witness\' would remove the peering'));
  test('phase peer or platform without the cluster ARNs', () => {
    fails(mrInput(noArns), 'peer', 'mr.multiRegion.clusterArns = undefined; allowed: the cluster ARN of each Region (outputs DsqlClusterArn) for phase \'peer\'; first deploy the clusters with -c multiRegionPhase=witness');
    fails(mrInput(noArns), undefined, 'for phase \'platform\'');
  });
  test('a phase for a single-Region environment, and a multi-Region environment through createPlatformApp', () => {
    const context = { ...cdkJsonContext({ quick: true }), multiRegionPhase: 'peer' };
    expect(() => createPlatformApp({ environments: { dev: ENVIRONMENTS.dev }, envName: 'dev', lockDir: tempDir('lock'), nag: false, appProps: { context } }))
      .toThrow('context multiRegionPhase = "peer"; allowed: nothing: environment dev has no multiRegion section');
    expect(() => createPlatformApp({ environments: { mr: mrInput() }, envName: 'mr', lockDir: tempDir('lock'), nag: false, appProps: { context: cdkJsonContext({ quick: true }) } }))
      .toThrow('mr.multiRegion = ');
  });
  test('createApp (bin/app.ts) builds one stack per Region for a multi-Region environment', () => {
    const built = createApp({ environments: { mr: mrInput(noArns) }, envName: 'mr', lockDir: tempDir('lock'), nag: false,
      appProps: { context: { ...cdkJsonContext({ quick: true }), multiRegionPhase: 'witness' } } });
    expect(built.stacks.map((s) => s.stackName)).toEqual(['Temporal-mr-us-east-1', 'Temporal-mr-us-east-2']);
  });
});
