/**
 * Health checks of the Temporal services: the container health check of every server role
 * (the image's `healthcheck` subcommand) and the frontend NLB target group's HTTP check.
 * Values are written out here, not read from lib/services/temporal-services.ts, so that a changed
 * constant fails; the command is cross-checked against the image's Dockerfile and the Go CLI.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import { TEMPORAL_ROLES } from '../../lib/services/roles';
import { TemporalPlatformStack } from '../../lib/platform-stack';
import { buildApp, REPO } from './helpers';

type Resources = Record<string, { Type: string; Properties?: any }>;

const SERVER_DIR = path.join(REPO, 'docker', 'temporal-server');
const HEALTH_COMMAND = ['CMD', '/usr/local/bin/temporal-dsql-server', 'healthcheck', '--timeout', '4s'];

let stack: TemporalPlatformStack;
let resources: Resources;

beforeAll(() => {
  const built = buildApp('prod', { ...ENVIRONMENTS }, { quick: true });
  stack = built.stack;
  resources = Template.fromStack(stack).toJSON().Resources;
});

function logicalId(c: any): string {
  return stack.getLogicalId((c.node.defaultChild ?? c) as any);
}

/** The Temporal server container of a role's task (SERVICES starts with the role: the frontend task also runs internal-frontend). */
function serverContainer(role: string): any {
  const isRole = (c: any) => c.Environment?.some((e: any) => e.Name === 'SERVICES' && String(e.Value).split(',')[0] === role);
  const td = Object.values(resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition' && r.Properties.ContainerDefinitions.some(isRole));
  expect(td).toBeDefined();
  return td!.Properties.ContainerDefinitions.find(isRole);
}

describe('container health check of the server roles', () => {
  test.each([...TEMPORAL_ROLES])('%s: the healthcheck subcommand, exec form, start period for Temporal start-up', (role) => {
    expect(serverContainer(role).HealthCheck).toEqual({
      Command: HEALTH_COMMAND,
      Interval: 15,
      Timeout: 5,
      Retries: 3,
      StartPeriod: 180,
    });
  });

  test('the timings are within ECS limits and the check gives up before ECS times it out', () => {
    for (const role of TEMPORAL_ROLES) {
      const hc = serverContainer(role).HealthCheck;
      // ECS: interval 5-300 s, timeout 2-60 s, retries 1-10, start period 0-300 s.
      expect(hc.Interval).toBeGreaterThanOrEqual(5);
      expect(hc.Interval).toBeLessThanOrEqual(300);
      expect(hc.Timeout).toBeGreaterThanOrEqual(2);
      expect(hc.Timeout).toBeLessThan(hc.Interval);
      expect(hc.Retries).toBeGreaterThanOrEqual(1);
      expect(hc.Retries).toBeLessThanOrEqual(10);
      expect(hc.StartPeriod).toBeLessThanOrEqual(300);
      const flag = hc.Command.indexOf('--timeout');
      expect(parseFloat(hc.Command[flag + 1])).toBeLessThan(hc.Timeout);
    }
  });

  test('the command runs the image entrypoint (Dockerfile) and a subcommand the Go CLI defines', () => {
    const dockerfile = fs.readFileSync(path.join(SERVER_DIR, 'Dockerfile'), 'utf8');
    const entrypoint = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile);
    expect(entrypoint).not.toBeNull();
    expect(JSON.parse(entrypoint![1])).toEqual([HEALTH_COMMAND[1]]);
    // Exec form: the distroless image has no shell for CMD-SHELL.
    expect(dockerfile).toMatch(/^FROM gcr\.io\/distroless\/static/m);
    const cli = fs.readFileSync(path.join(SERVER_DIR, 'cmd', 'temporal-dsql-server', 'healthcheck.go'), 'utf8');
    expect(cli).toMatch(/Name:\s+"healthcheck"/);
    expect(cli).toMatch(/cli\.DurationFlag\{Name: "timeout"/);
  });

  test('the UI container keeps no container health check (its ALB checks /healthz)', () => {
    const ui = Object.values(resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition'
      && r.Properties.ContainerDefinitions[0].Name === 'ui');
    expect(ui!.Properties.ContainerDefinitions[0].HealthCheck).toBeUndefined();
  });
});

describe('Go memory limit of the server containers', () => {
  test.each([...TEMPORAL_ROLES])('%s: GOMEMLIMIT is 80 %% of the task memory after 128 MiB for the collector', (role) => {
    const td = Object.values(resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition'
      && r.Properties.ContainerDefinitions.some((c: any) => c === serverContainer(role)));
    const taskMiB = Number(td!.Properties.Memory);
    const env = Object.fromEntries(serverContainer(role).Environment.map((e: any) => [e.Name, e.Value]));
    // Written out, not computed with lib's function: prod's history task has 8192 MiB -> 6451 MiB.
    expect(env.GOMEMLIMIT).toBe(`${Math.floor((taskMiB - 128) * 0.8)}MiB`);
    expect(Number(env.GOMEMLIMIT.replace('MiB', ''))).toBeLessThan(taskMiB);
  });

  test('prod history task: 8192 MiB -> GOMEMLIMIT 6451MiB', () => {
    const env = Object.fromEntries(serverContainer('history').Environment.map((e: any) => [e.Name, e.Value]));
    expect(env.GOMEMLIMIT).toBe('6451MiB');
  });
});

describe('frontend NLB health check', () => {
  test('GetSystemInfo over HTTPS (the frontend HTTP API serves the frontend TLS in prod) instead of a TCP connect', () => {
    const tgs = Object.values(resources).filter((r) => r.Type === 'AWS::ElasticLoadBalancingV2::TargetGroup' && r.Properties.Protocol === 'TCP');
    expect(tgs).toHaveLength(1);
    expect(tgs[0].Properties).toMatchObject({
      Port: 7233,
      HealthCheckProtocol: 'HTTPS',
      HealthCheckPort: '7243',
      HealthCheckPath: '/api/v1/system-info',
      Matcher: { HttpCode: '200' },
      HealthCheckIntervalSeconds: 10,
      HealthCheckTimeoutSeconds: 5,
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 2,
    });
  });

  test('the NLB may reach the frontend HTTP API port, and only the NLB and history do', () => {
    const frontendSg = logicalId(stack.services.securityGroups.frontend);
    const nlbSg = logicalId(stack.services.frontendLoadBalancer.connections.securityGroups[0]);
    const historySg = logicalId(stack.services.securityGroups.history);
    const sources = Object.values(resources)
      .filter((r) => r.Type === 'AWS::EC2::SecurityGroupIngress' && r.Properties.GroupId?.['Fn::GetAtt']?.[0] === frontendSg
        && r.Properties.FromPort === 7243)
      .map((r) => r.Properties.SourceSecurityGroupId?.['Fn::GetAtt']?.[0] ?? r.Properties.CidrIp);
    expect(sources.sort()).toEqual([historySg, nlbSg].sort());
    const egress = Object.values(resources)
      .filter((r) => r.Type === 'AWS::EC2::SecurityGroupEgress' && r.Properties.GroupId?.['Fn::GetAtt']?.[0] === nlbSg)
      .map((r) => `${r.Properties.DestinationSecurityGroupId?.['Fn::GetAtt']?.[0]}:${r.Properties.FromPort}`);
    expect(egress.sort()).toEqual([`${frontendSg}:7233`, `${frontendSg}:7243`]);
  });

  test('the frontend service ignores the NLB check for the container start period only', () => {
    const svc = resources[logicalId(stack.services.services.frontend)];
    expect(svc.Properties.HealthCheckGracePeriodSeconds).toBe(180);
    for (const role of ['history', 'matching', 'worker'] as const) {
      expect(resources[logicalId(stack.services.services[role])].Properties.HealthCheckGracePeriodSeconds).toBeUndefined();
    }
  });
});
