/**
 * Autoscaling of frontend and matching (CPU target tracking, bounds and cooldowns per preset),
 * fixed history and worker, and the shutdown timings that keep a scale-in from cutting long polls
 * short. Expected figures are written out from README "Sizing presets" / docs/capacity.md, not read
 * from lib/services/scaling.ts.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as YAML from 'yaml';
import { ENVIRONMENTS } from '../../config';
import { ConfigError, PlatformConfigInput, resolveConfig } from '../../lib/config';
import { TemporalPlatformStack } from '../../lib/platform-stack';
import { TemporalServices } from '../../lib/services/temporal-services';
import { buildApp } from './helpers';

type Resources = Record<string, { Type: string; Properties?: any }>;

interface Built {
  stack: TemporalPlatformStack;
  resources: Resources;
  template: Template;
}

function build(envName: string, environments: Record<string, PlatformConfigInput>): Built {
  const { app, stack } = buildApp(envName, environments, { quick: true });
  app.synth();
  const template = Template.fromStack(stack);
  return { stack, template, resources: template.toJSON().Resources };
}

function serviceId(b: Built, role: 'frontend' | 'history' | 'matching' | 'worker' | 'ui'): string {
  return b.stack.getLogicalId(b.stack.services.services[role].node.defaultChild as any);
}

function ofType(b: Built, type: string) {
  return Object.entries(b.resources).filter(([, r]) => r.Type === type);
}

/** Scalable target and its policy for one service: [min, max, target %, scale-in s, scale-out s]. */
function scalingOf(b: Built, role: 'frontend' | 'history' | 'matching' | 'worker' | 'ui'): number[] | undefined {
  const svc = serviceId(b, role);
  const target = ofType(b, 'AWS::ApplicationAutoScaling::ScalableTarget').find(([, r]) => JSON.stringify(r.Properties.ResourceId).includes(`"${svc}"`));
  if (!target) return undefined;
  const [targetId, t] = target;
  expect(t.Properties.ScalableDimension).toBe('ecs:service:DesiredCount');
  expect(t.Properties.ServiceNamespace).toBe('ecs');
  const policies = ofType(b, 'AWS::ApplicationAutoScaling::ScalingPolicy').filter(([, r]) => r.Properties.ScalingTargetId?.Ref === targetId);
  expect(policies).toHaveLength(1);
  const p = policies[0][1].Properties;
  expect(p.PolicyType).toBe('TargetTrackingScaling');
  const c = p.TargetTrackingScalingPolicyConfiguration;
  expect(c.PredefinedMetricSpecification).toEqual({ PredefinedMetricType: 'ECSServiceAverageCPUUtilization' });
  return [t.Properties.MinCapacity, t.Properties.MaxCapacity, c.TargetValue, c.ScaleInCooldown, c.ScaleOutCooldown];
}

function desiredCountOf(b: Built, role: 'frontend' | 'history' | 'matching' | 'worker' | 'ui'): unknown {
  return b.resources[serviceId(b, role)].Properties.DesiredCount;
}

describe('prod (medium preset): frontend and matching scale on CPU, history and worker are fixed', () => {
  let prod: Built;
  beforeAll(() => {
    prod = build('prod', { ...ENVIRONMENTS });
  });

  test('frontend and matching: 2-3 tasks, 60 % CPU, scale out after 60 s, scale in after 600 s', () => {
    expect(scalingOf(prod, 'frontend')).toEqual([2, 3, 60, 600, 60]);
    expect(scalingOf(prod, 'matching')).toEqual([2, 3, 60, 600, 60]);
  });

  test('exactly two scalable targets: history, worker and the UI keep their count', () => {
    expect(ofType(prod, 'AWS::ApplicationAutoScaling::ScalableTarget')).toHaveLength(2);
    expect(Object.keys(prod.stack.services.scalableTaskCounts).sort()).toEqual(['frontend', 'matching']);
    expect(scalingOf(prod, 'history')).toBeUndefined();
    expect(scalingOf(prod, 'worker')).toBeUndefined();
    expect(scalingOf(prod, 'ui')).toBeUndefined();
    // config/prod.ts sets history to 3 tasks; worker and UI from the medium preset.
    expect(desiredCountOf(prod, 'history')).toBe(3);
    expect(desiredCountOf(prod, 'worker')).toBe(2);
    expect(desiredCountOf(prod, 'ui')).toBe(2);
  });

  test('autoscaled services have no DesiredCount in the template (a deploy must not reset the scaled count)', () => {
    expect(desiredCountOf(prod, 'frontend')).toBeUndefined();
    expect(desiredCountOf(prod, 'matching')).toBeUndefined();
  });

  test('scale-in does not cut long polls (60 s) short: NLB drains 75 s, the frontend drains 65 s, SIGKILL after 120 s', () => {
    const tgs = ofType(prod, 'AWS::ElasticLoadBalancingV2::TargetGroup').filter(([, r]) => r.Properties.Port === 7233);
    expect(tgs).toHaveLength(1);
    expect(tgs[0][1].Properties.TargetGroupAttributes).toContainEqual({ Key: 'deregistration_delay.timeout_seconds', Value: '75' });
    const serverContainers = ofType(prod, 'AWS::ECS::TaskDefinition')
      .map(([, r]) => r.Properties.ContainerDefinitions[0])
      .filter((c) => c.Name === 'temporal');
    expect(serverContainers).toHaveLength(4);
    for (const c of serverContainers) {
      expect(c.StopTimeout).toBe(120);
      const yaml = c.Environment.find((e: any) => e.Name === 'TEMPORAL_DYNAMIC_CONFIG').Value;
      expect(YAML.parse(yaml)['frontend.shutdownDrainDuration']).toEqual([{ value: '65s' }]);
    }
  });
});

describe('bounds and cooldowns follow the preset and the environment', () => {
  test('dev (small preset): 1-2 tasks, scale out after 120 s, in after 900 s', () => {
    const dev = build('dev', { ...ENVIRONMENTS });
    expect(scalingOf(dev, 'frontend')).toEqual([1, 2, 60, 900, 120]);
    expect(scalingOf(dev, 'matching')).toEqual([1, 2, 60, 900, 120]);
  });

  test('large preset with overrides: maxCount, target and cooldowns from the environment', () => {
    const b = build('big', {
      big: {
        numHistoryShards: 1024,
        security: { allowNoAuth: true },
        sizing: 'large',
        autoscaling: { targetCpuPercent: 50, maxCount: { frontend: 10 }, scaleInCooldownSeconds: 900 },
      },
    });
    // large: frontend 3 and matching 4 tasks; matching max 7 from the preset; scale out 60 s.
    expect(scalingOf(b, 'frontend')).toEqual([3, 10, 50, 900, 60]);
    expect(scalingOf(b, 'matching')).toEqual([4, 7, 50, 900, 60]);
    expect(desiredCountOf(b, 'history')).toBe(6);
  });

  test('autoscaling off: no scalable target, every service has its DesiredCount', () => {
    const b = build('fixed', { fixed: { numHistoryShards: 16, security: { allowNoAuth: true }, autoscaling: { enabled: false } } });
    expect(ofType(b, 'AWS::ApplicationAutoScaling::ScalableTarget')).toHaveLength(0);
    expect(desiredCountOf(b, 'frontend')).toBe(2);
    expect(desiredCountOf(b, 'matching')).toBe(2);
  });

  test('an environment\'s own frontend.shutdownDrainDuration wins over the platform\'s', () => {
    const b = build('drain', { drain: { numHistoryShards: 16, security: { allowNoAuth: true }, dynamicConfig: { 'frontend.shutdownDrainDuration': [{ value: '30s' }] } } });
    const td = ofType(b, 'AWS::ECS::TaskDefinition').map(([, r]) => r.Properties.ContainerDefinitions[0]).find((c) => c.Name === 'temporal');
    const yaml = td.Environment.find((e: any) => e.Name === 'TEMPORAL_DYNAMIC_CONFIG').Value;
    expect(YAML.parse(yaml)['frontend.shutdownDrainDuration']).toEqual([{ value: '30s' }]);
  });
});

describe('autoscaling configuration errors', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['max below the minimum', { autoscaling: { maxCount: { matching: 1 } } },
      'Invalid configuration: test.autoscaling.maxCount.matching = 1; allowed: at least services.matching.desiredCount (2), the autoscaling minimum'],
    ['zero tasks with autoscaling', { services: { frontend: { desiredCount: 0 } } },
      'Invalid configuration: test.services.frontend.desiredCount = 0; allowed: at least 1 with autoscaling'],
    ['history is not autoscaled', { autoscaling: { maxCount: { history: 6 } } },
      'Invalid configuration: test.autoscaling.maxCount.history = 6; allowed: one of the known fields frontend, matching'],
    ['target CPU', { autoscaling: { targetCpuPercent: 95 } },
      'Invalid configuration: test.autoscaling.targetCpuPercent = 95; allowed: an integer from 20 to 90'],
    ['cooldown', { autoscaling: { scaleInCooldownSeconds: -1 } },
      'Invalid configuration: test.autoscaling.scaleInCooldownSeconds = -1; allowed: an integer from 0 to 3600'],
    ['stop timeout shorter than the frontend drain', { stopTimeoutSeconds: 60 },
      'Invalid configuration: test.stopTimeoutSeconds = 60; allowed: an integer from 70 to 120 (a stopping frontend drains open long polls for 65 s; Fargate allows at most 120)'],
  ];
  test.each(cases)('%s', (_name, extra, message) => {
    const run = () => resolveConfig('test', { numHistoryShards: 16, security: { allowNoAuth: true }, ...extra } as PlatformConfigInput);
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(message);
  });

  test('zero tasks are fine with autoscaling off; a raised desiredCount lifts the default maximum to one above it', () => {
    const off = resolveConfig('test', { numHistoryShards: 16, security: { allowNoAuth: true }, services: { frontend: { desiredCount: 0 } }, autoscaling: { enabled: false } });
    expect(off.autoscaling.enabled).toBe(false);
    const raised = resolveConfig('test', { numHistoryShards: 16, security: { allowNoAuth: true }, services: { frontend: { desiredCount: 4 } } });
    expect(raised.autoscaling.roles.frontend).toEqual({ minCount: 4, maxCount: 5 });
    expect(raised.autoscaling.roles.matching).toEqual({ minCount: 2, maxCount: 3 });
    const medium = resolveConfig('test', { numHistoryShards: 16, security: { allowNoAuth: true } });
    expect(medium.autoscaling.roles.frontend).toEqual({ minCount: 2, maxCount: 3 });
  });
});

describe('TemporalServices used as a library', () => {
  test('a stop timeout shorter than the frontend drain (or above Fargate\'s 120 s) is refused', () => {
    const make = (seconds: number) => {
      const stack = new Stack(new App());
      const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
      return new TemporalServices(stack, 'Temporal', {
        vpc,
        vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
        serverImage: ecs.ContainerImage.fromRegistry('registry.example.com/temporal:1.31.2'),
        server: {
          dsqlEndpoint: 'x.dsql.us-east-1.on.aws', dsqlRegion: 'us-east-1', databaseRole: 'temporal_server',
          openSearchEndpoint: 'https://search.example.com', openSearchRegion: 'us-east-1', visibilityIndex: 'temporal_visibility_v1_t',
          numHistoryShards: 4, dynamicConfigYaml: '',
        },
        sizing: resolveConfig('t', { numHistoryShards: 4, security: { allowNoAuth: true } }).services,
        stopTimeout: Duration.seconds(seconds),
      });
    };
    expect(() => make(30)).toThrow('stopTimeout must be 70-120 seconds (the frontend drains long polls for 65 s before it stops), got 30');
    expect(() => make(121)).toThrow('got 121');
    expect(make(70).services.frontend).toBeDefined();
  });
});
