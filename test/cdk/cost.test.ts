/**
 * The multi-Region capacity model (lib/capacity/multi-region.ts), the monthly cost estimate
 * (lib/capacity/cost.ts) and its price table (lib/capacity/prices.ts). Expected figures are worked
 * out by hand from the prices and the environments' configuration and written out here.
 */
import { estimateMonthlyCost, HOURS_PER_MONTH, interfaceEndpointCount, natGatewayCount } from '../../lib/capacity/cost';
import { costEnvironment } from '../../lib/capacity/environment';
import { parseRegionCount, planMultiRegion } from '../../lib/capacity/multi-region';
import { NOT_PRICED, Price, PRICES } from '../../lib/capacity/prices';
import { PlatformConfigInput, resolveConfig } from '../../lib/config';
import * as fs from 'fs';
import * as path from 'path';
import { prod } from '../../config/prod';
import { dev } from '../../config/dev';
import { REPO } from './helpers';

/** Checks one price entry; returns what is wrong with it ('' when nothing). */
function priceProblems(key: string, p: Partial<Price>): string {
  const problems: string[] = [];
  if (typeof p.value !== 'number' || !(p.value > 0)) problems.push('value');
  if (!p.unit) problems.push('unit');
  if (!p.region) problems.push('region');
  if (!/^https:\/\/\S+/.test(p.source ?? '')) problems.push('source (an https URL)');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(p.read ?? '') || Number.isNaN(Date.parse(p.read!)) || Date.parse(p.read!) > Date.now()) problems.push('read (a past YYYY-MM-DD)');
  if (p.kind !== 'aws' && p.kind !== 'secondary') problems.push('kind');
  return problems.length ? `${key}: ${problems.join(', ')}` : '';
}

describe('price table', () => {
  test('every price has a value, unit, Region, source URL, kind and the date it was read', () => {
    expect(Object.entries(PRICES).map(([k, p]) => priceProblems(k, p)).filter(Boolean)).toEqual([]);
  });

  test('the check names an entry without its date', () => {
    const { read: _read, ...noDate } = PRICES.natGatewayHour;
    expect(priceProblems('natGatewayHour', noDate)).toBe('natGatewayHour: read (a past YYYY-MM-DD)');
  });

  test('what is not priced is listed with why: OpenSearch instances, DSQL backup, the witness', () => {
    expect(NOT_PRICED.map((n) => n.item.split(' ')[0])).toEqual(expect.arrayContaining(['OpenSearch', 'AWS', 'DSQL']));
    for (const n of NOT_PRICED) expect(n.why.length).toBeGreaterThan(10);
  });
});

describe('monthly cost estimate from the environment configuration', () => {
  const prodConfig = resolveConfig('prod', prod);
  const line = (e: ReturnType<typeof estimateMonthlyCost>, region: string, item: string) => {
    const l = e.lines.find((x) => x.region === region && x.item === item);
    if (!l) throw new Error(`no line ${region} ${item}`);
    return l;
  };

  test('prod, one Region: Fargate per service, NAT per AZ, NLB, ALB, 7 interface endpoints x 3 AZs, one KMS key', () => {
    const e = estimateMonthlyCost(prodConfig);
    expect(e.regions).toBe(1);
    // history: 3 tasks x (2 vCPU x $0.03238 + 8 GB x $0.00356) x 730 h (ARM)
    expect(line(e, 'us-east-1', 'Fargate history').monthlyUsd).toBeCloseTo(204.1956, 4);
    expect(line(e, 'us-east-1', 'Fargate ui').monthlyUsd).toBeCloseTo(14.4175, 4); // 2 x (0.25 x 0.03238 + 0.5 x 0.00356) x 730
    expect(line(e, 'us-east-1', 'NAT gateways').monthlyUsd).toBeCloseTo(98.55, 6); // 3 x 0.045 x 730
    expect(line(e, 'us-east-1', 'VPC interface endpoints').monthlyUsd).toBeCloseTo(153.3, 6); // 7 x 3 x 0.01 x 730 (6 + DSQL PrivateLink)
    expect(line(e, 'us-east-1', 'KMS keys').monthlyUsd).toBe(1);
    expect(line(e, 'us-east-1', 'OpenSearch domain').monthlyUsd).toBeUndefined(); // not priced
    expect(line(e, 'us-east-1', 'OpenSearch domain').quantity).toBe('3 x r7g.large.search + 3 x m7g.large.search, 3 x 200 GiB');
    expect(line(e, 'us-east-1', 'DSQL DPUs').monthlyUsd).toBeUndefined(); // usage not given
    // Fargate 362.788 + NAT 98.55 + NLB 16.425 + ALB 16.425 + endpoints 153.3 + KMS 1
    expect(e.totalUsd).toBeCloseTo(648.488, 3);
  });

  test('the estimate follows the configuration: one NAT gateway instead of one per AZ, x86 instead of ARM, no endpoints', () => {
    const base = estimateMonthlyCost(prodConfig).totalUsd;
    const oneNat = resolveConfig('prod', { ...prod, network: { ...prod.network, natGateways: 'one' } } as PlatformConfigInput);
    expect(natGatewayCount(oneNat)).toBe(1);
    expect(estimateMonthlyCost(oneNat).totalUsd).toBeCloseTo(base - 2 * 0.045 * HOURS_PER_MONTH, 6);
    const x86 = estimateMonthlyCost(resolveConfig('prod', { ...prod, cpuArchitecture: 'x86_64' }));
    // history on x86: 3 x (2 x 0.04048 + 8 x 0.004445) x 730
    expect(x86.lines.find((l) => l.item === 'Fargate history')!.monthlyUsd).toBeCloseTo(255.1788, 4); // 3 x 0.11652 x 730
    const devConfig = resolveConfig('dev', dev);
    expect(natGatewayCount(devConfig)).toBe(1);
    expect(interfaceEndpointCount(devConfig)).toBe(8); // 6 + ssmmessages (ECS Exec) + DSQL PrivateLink
  });

  test('two Regions: the standby runs 0 tasks but pays its NAT gateways, load balancers, endpoints and key; writes are billed twice, storage in both Regions', () => {
    const usage = { workflowsPerSecond: 100, dpuPerWorkflow: 2, writeDpuPerWorkflow: 1, dsqlStorageGB: 50 };
    const one = estimateMonthlyCost(prodConfig, { usage });
    const two = estimateMonthlyCost(prodConfig, { regions: 2, usage, standbyUiDesiredCount: 1, regionNames: { standby: 'us-east-2', witness: 'us-west-2' } });
    for (const s of ['frontend', 'history', 'matching', 'worker']) expect(line(two, 'us-east-2', `Fargate ${s}`).monthlyUsd).toBe(0);
    expect(line(two, 'us-east-2', 'Fargate ui').monthlyUsd).toBeCloseTo(7.20875, 5); // 1 UI task
    expect(line(one, 'us-east-1', 'DSQL DPUs').monthlyUsd).toBeCloseTo(4204.8, 6); // 100 x 2 x 2,628,000 s / 1e6 x $8
    expect(line(two, 'us-east-2', 'DSQL MultiRegionWriteDPU (writes replicated to the peer)').monthlyUsd).toBeCloseTo(2102.4, 6); // 100 x 1 x 2,628,000 / 1e6 x $8
    expect(line(two, 'us-east-2', 'DSQL storage').monthlyUsd).toBeCloseTo(16.5, 6); // 50 GB x $0.33, again
    expect(line(two, 'us-west-2', 'DSQL witness').monthlyUsd).toBeUndefined();
    // Standby fixed cost: NAT 98.55 + NLB 16.425 + ALB 16.425 + endpoints 153.3 + KMS 1 + 1 UI task 7.20875.
    expect(two.totalUsd - one.totalUsd).toBeCloseTo(292.90875 + 2102.4 + 16.5, 4);
  });

  test('a multi-Region environment: each Region\'s own configuration (the standby\'s overrides), its names and UI count', () => {
    const input: PlatformConfigInput = {
      ...prod,
      env: undefined,
      multiRegion: {
        regions: ['us-east-1', 'us-east-2'],
        witnessRegion: 'us-west-2',
        standbyUiDesiredCount: 1,
        regionOverrides: {
          'us-east-2': {
            network: { ...prod.network, availabilityZones: ['us-east-2a', 'us-east-2b', 'us-east-2c'], cidr: '10.41.0.0/16', natGateways: 'one' },
            ui: {
              ...prod.ui,
              certificateArn: 'arn:aws:acm:us-east-2:111122223333:certificate/00000000-0000-0000-0000-000000000000',
              oidc: { ...prod.ui!.oidc!, clientSecretArn: 'arn:aws:secretsmanager:us-east-2:111122223333:secret:temporal/ui-oidc-client-secret-AbCdEf' },
            },
            images: { ...prod.images, dockerHubCredentialArn: 'arn:aws:secretsmanager:us-east-2:111122223333:secret:ecr-pullthroughcache/docker-hub-AbCdEf' },
          },
        },
      },
    };
    const env = costEnvironment('prod', input);
    expect(env.names).toEqual({ active: 'us-east-1', standby: 'us-east-2', witness: 'us-west-2' });
    const e = estimateMonthlyCost(env.config, { regions: 2, standbyConfig: env.standby, standbyUiDesiredCount: env.standbyUi, regionNames: env.names });
    expect(line(e, 'us-east-1', 'NAT gateways').monthlyUsd).toBeCloseTo(98.55, 6); // per AZ in the active
    expect(line(e, 'us-east-2', 'NAT gateways').monthlyUsd).toBeCloseTo(32.85, 6); // one in the standby (its override)
    expect(line(e, 'us-east-2', 'Fargate ui').monthlyUsd).toBeCloseTo(7.20875, 5); // standbyUiDesiredCount 1
    expect(costEnvironment('prod', prod).standby).toBeUndefined();
  });

  test('the counts the estimate bills are the resources of the synthesized templates (platform.test.ts snapshots of dev and prod)', () => {
    const snap = fs.readFileSync(path.join(REPO, 'test', 'cdk', '__snapshots__', 'platform.test.ts.snap'), 'utf8');
    const template = (env: string) => snap.split(/^exports\[/m).find((t) => t.startsWith(`\`snapshots (asset hashes redacted) ${env} template`))!;
    const count = (t: string, re: RegExp) => (t.match(re) ?? []).length;
    for (const [env, c] of [['dev', resolveConfig('dev', dev)], ['prod', prodConfig]] as const) {
      const t = template(env);
      expect([env, count(t, /"Type": "AWS::EC2::NatGateway"/g)]).toEqual([env, natGatewayCount(c)]);
      expect([env, count(t, /"VpcEndpointType": "Interface"/g)]).toEqual([env, interfaceEndpointCount(c)]);
      expect([env, count(t, /"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer"/g)]).toEqual([env, 2]); // NLB + ALB
      expect([env, count(t, /"Type": "AWS::KMS::Key"/g)]).toEqual([env, c.security.platformKey === 'create' ? 1 : 0]);
      expect([env, count(t, /"Type": "AWS::ECS::Service"/g)]).toEqual([env, 5]); // four roles and the UI
    }
  });

  test('bad input is refused with the field, the value and what is allowed', () => {
    expect(() => estimateMonthlyCost(prodConfig, { regions: 3 as 1 })).toThrow('regions: 3 is not allowed: 1 (one Region) or 2');
    expect(() => estimateMonthlyCost(prodConfig, { usage: { natGBPerMonth: -5 } })).toThrow('usage natGBPerMonth: -5 is not allowed: a number >= 0');
    expect(() => parseRegionCount('3')).toThrow('--regions "3" is not allowed: 1 (one Region) or 2');
    expect(parseRegionCount(undefined)).toBe(1);
    expect(parseRegionCount('2')).toBe(2);
  });
});

describe('multi-Region capacity', () => {
  test('the cross-Region commit (20 ms) doubles the DSQL time per hello workflow and halves each shard\'s throughput', () => {
    const m = planMultiRegion(100);
    expect(m.single.dsql.msPerWorkflow).toBeCloseTo(128.35, 10); // 54.9 x 1.5 + 9.2 x 5
    expect(m.multi.dsql.msPerWorkflow).toBeCloseTo(266.35, 10); // 54.9 x 1.5 + 9.2 x 20
    expect(m.msPerWorkflowRatio).toBeCloseTo(266.35 / 128.35, 10);
    expect(m.workflowsPerShardRatio).toBeCloseTo(128.35 / 266.35, 10);
    // 400 wf/s grown: 400 / 1.877 per shard = 214 -> 256, but the spread rule (32 x history tasks) sets it: 256 -> 512.
    expect([m.single.numHistoryShards, m.multi.numHistoryShards]).toEqual([256, 512]);
    expect(m.multi.dsql.busyConnections).toBeCloseTo(26.635, 6); // 100 x 0.26635 s
  });

  test('a multi-Region commit faster than the single-Region one is refused', () => {
    expect(() => planMultiRegion(100, undefined, {}, 2)).toThrow('multi-Region commit latency 2 ms is not allowed: a number >= the single-Region commit latency (5 ms)');
  });
});
