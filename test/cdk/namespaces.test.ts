/**
 * CDK assertions for the namespace custom resource (lib/namespaces/namespaces.ts) inside the platform stack,
 * and the synth-time checks of the namespace configuration (lib/namespaces/config.ts). The handler's
 * behaviour runs on the real local stack in test/e2e/namespaces.test.ts; CloudFormation itself
 * cannot run here.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import { PlatformConfigInput, resolveConfig } from '../../lib/config';
import { TemporalPlatformStack } from '../../lib/platform-stack';
import { buildApp } from './helpers';

const SECRET = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:temporal/namespace-admin-AbCdEf';
const TOKEN_URL = 'https://auth.example.com/oauth2/token';
const WITH_NAMESPACES: PlatformConfigInput = {
  ...ENVIRONMENTS.prod,
  namespaces: [
    { name: 'orders', retentionDays: 30, description: 'Orders', archival: true, ownerEmail: 'orders@example.com' },
    { name: 'billing', retentionDays: 14 },
  ],
  searchAttributes: [
    { name: 'CustomerId', type: 'Keyword', namespace: 'orders' },
    { name: 'InvoiceCount', type: 'Int', namespace: 'billing' },
  ],
  namespaceAdmin: { clientSecretArn: SECRET, tokenUrl: TOKEN_URL, scope: 'temporal/admin' },
};

function synth(config: PlatformConfigInput) {
  const { app, stack } = buildApp('prod', { ...ENVIRONMENTS, prod: config }, { quick: true });
  app.synth();
  return { stack: stack as TemporalPlatformStack, template: Template.fromStack(stack) };
}

const built = synth(WITH_NAMESPACES);
const t = built.template;
const resources = t.toJSON().Resources as Record<string, any>;
const id = (c: any) => built.stack.getLogicalId((c.node.defaultChild ?? c) as any);
const ns = built.stack.namespaces!;

test('the namespaces and search attributes are resource properties (so cdk diff shows every change)', () => {
  const props = resources[id(ns.resource)].Properties;
  expect(resources[id(ns.resource)].Type).toBe('Custom::TemporalNamespaces');
  expect(props.Namespaces).toEqual([
    { Name: 'orders', RetentionDays: '30', Description: 'Orders', Archival: 'true', OwnerEmail: 'orders@example.com' },
    { Name: 'billing', RetentionDays: '14', Description: '', Archival: 'false', OwnerEmail: '' },
  ]);
  expect(props.SearchAttributes).toEqual([
    { Name: 'CustomerId', Type: 'Keyword', Namespace: 'orders' },
    { Name: 'InvoiceCount', Type: 'Int', Namespace: 'billing' },
  ]);
  expect(props.Auth).toEqual({ TokenUrl: TOKEN_URL, ClientSecretArn: SECRET, Scope: 'temporal/admin' });
  // The frontend serves TLS: the handler trusts the stack's CA bundle.
  expect(props.Tls).toEqual({ CaCertificatePem: { 'Fn::GetAtt': [id(built.stack.certificates!.resource), 'CaBundle'] } });
  // The archival bucket's URI, and the NLB's DNS name on 7233.
  expect(JSON.stringify(props.ArchivalUri)).toContain(id(built.stack.archival!.bucket));
  expect(props.FrontendAddress).toEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [id(built.stack.services.frontendLoadBalancer), 'DNSName'] }, ':7233']] });
});

test('applied only once the frontend service and its NLB listener are up', () => {
  const deps: string[] = resources[id(ns.resource)].DependsOn;
  expect(deps).toEqual(expect.arrayContaining([id(built.stack.services.services.frontend), id(built.stack.services.frontendListener)]));
});

test('the handler runs in the private subnets and is let into the frontend NLB on 7233 only', () => {
  const fn = resources[id(ns.handler)];
  const privateSubnets = built.stack.vpc.privateSubnets.map((s) => ({ Ref: id(s.node.findChild('Subnet')) }));
  expect(fn.Properties.VpcConfig.SubnetIds).toEqual(privateSubnets);
  const handlerSg = ns.connections.securityGroups.map((g) => id(g));
  expect(fn.Properties.VpcConfig.SecurityGroupIds).toEqual(handlerSg.map((g) => ({ 'Fn::GetAtt': [g, 'GroupId'] })));
  const nlbSg = id(built.stack.services.frontendLoadBalancer.connections.securityGroups[0]);
  const rules = Object.values(resources).filter((r) => r.Type === 'AWS::EC2::SecurityGroupIngress'
    && r.Properties.SourceSecurityGroupId?.['Fn::GetAtt']?.[0] === handlerSg[0]);
  expect(rules.map((r) => [r.Properties.GroupId['Fn::GetAtt'][0], r.Properties.FromPort, r.Properties.ToPort])).toEqual([[nlbSg, 7233, 7233]]);
});

test('permissions: exactly the admin client secret, its own log group, VPC network interfaces', () => {
  const policies = Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy'
    && r.Properties.Roles.some((x: any) => x.Ref === id(ns.role)));
  const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
  const secretStatements = statements.filter((s: any) => [s.Action].flat().some((a: string) => a.startsWith('secretsmanager:')));
  expect(secretStatements).toEqual([{ Action: 'secretsmanager:GetSecretValue', Effect: 'Allow', Resource: SECRET }]);
  const actions = statements.flatMap((s: any) => [s.Action].flat()).sort();
  expect(actions).toEqual([
    'ec2:AssignPrivateIpAddresses', 'ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', 'ec2:DescribeNetworkInterfaces',
    'ec2:DescribeSubnets', 'ec2:UnassignPrivateIpAddresses', 'logs:CreateLogStream', 'logs:PutLogEvents', 'secretsmanager:GetSecretValue',
  ]);
});

describe('synth refuses', () => {
  const resolveProd = (c: PlatformConfigInput) => resolveConfig('prod', c);
  test('a namespace with archival on while the stack has no archival bucket', () => {
    expect(() => resolveProd({ ...WITH_NAMESPACES, archival: { enabled: false } })).toThrow(
      'Invalid configuration: prod.namespaces[0].archival = true; allowed: false while archival.enabled is false',
    );
  });

  test('namespaces without an admin client while frontend authorization is on', () => {
    const { namespaceAdmin: _a, ...noAdmin } = WITH_NAMESPACES;
    expect(() => resolveProd(noAdmin)).toThrow('Invalid configuration: prod.namespaceAdmin = undefined; allowed: an admin client');
    // The same without namespaces is fine: nothing to apply, no token needed.
    const { namespaces: _n, searchAttributes: _s, ...nothing } = noAdmin;
    expect(resolveProd(nothing).namespaceAdmin).toBeUndefined();
  });
});

describe('namespace configuration checks (resolveConfig)', () => {
  const base = { numHistoryShards: 4, security: { allowNoAuth: true } };
  const resolve = (extra: Partial<PlatformConfigInput>) => resolveConfig('dev', { ...base, ...extra } as PlatformConfigInput);

  test('valid input resolves with defaults filled in', () => {
    const c = resolve({ namespaces: [{ name: 'orders', retentionDays: 3 }], searchAttributes: [{ name: 'CustomerId', type: 'Keyword', namespace: 'orders' }] });
    expect(c.namespaces).toEqual([{ name: 'orders', retentionDays: 3, description: '', archival: false, ownerEmail: '' }]);
    expect(c.searchAttributes).toEqual([{ name: 'CustomerId', type: 'Keyword', namespace: 'orders' }]);
    expect(resolve({}).namespaces).toEqual([]);
  });

  test.each<[string, Partial<PlatformConfigInput>, string]>([
    ['retention below Temporal\'s 1-day minimum', { namespaces: [{ name: 'a', retentionDays: 0 }] }, 'dev.namespaces[0].retentionDays = 0; allowed: an integer from 1 to 36500'],
    ['a name with a space', { namespaces: [{ name: 'my orders', retentionDays: 1 }] }, 'dev.namespaces[0].name = "my orders"; allowed: 1-1000 characters'],
    ['a name longer than limit.maxIDLength', { namespaces: [{ name: 'a'.repeat(1001), retentionDays: 1 }] }, 'dev.namespaces[0].name'],
    ['the system namespace', { namespaces: [{ name: 'temporal-system', retentionDays: 1 }] }, 'allowed: any name but temporal-system'],
    ['a namespace listed twice', { namespaces: [{ name: 'a', retentionDays: 1 }, { name: 'a', retentionDays: 2 }] }, 'dev.namespaces[1].name = "a"; allowed: a name not already used by namespaces[0]'],
    ['a bad owner e-mail', { namespaces: [{ name: 'a', retentionDays: 1, ownerEmail: 'team' }] }, 'dev.namespaces[0].ownerEmail = "team"'],
    ['a system search attribute name', { searchAttributes: [{ name: 'WorkflowType', type: 'Keyword', namespace: 'default' }] }, 'dev.searchAttributes[0].name = "WorkflowType"; allowed: a name not reserved by Temporal'],
    ['the Temporal prefix', { searchAttributes: [{ name: 'TemporalThing', type: 'Keyword', namespace: 'default' }] }, 'not starting with Temporal'],
    ['an unknown type', { searchAttributes: [{ name: 'A', type: 'String' as never, namespace: 'default' }] }, 'dev.searchAttributes[0].type = "String"; allowed: one of Temporal\'s indexed value types Keyword, Text, Int, Double, Bool, Datetime, KeywordList'],
    ['an unknown namespace', { searchAttributes: [{ name: 'A', type: 'Int', namespace: 'nope' }] }, 'dev.searchAttributes[0].namespace = "nope"; allowed: a namespace of this environment: default'],
    ['one name with two types', {
      namespaces: [{ name: 'a', retentionDays: 1 }],
      searchAttributes: [{ name: 'X', type: 'Int', namespace: 'a' }, { name: 'X', type: 'Keyword', namespace: 'default' }],
    }, 'dev.searchAttributes[1].type = "Keyword"; allowed: Int, the type searchAttributes[0] gives X'],
    ['an admin secret that is not a Secrets Manager ARN', { namespaceAdmin: { clientSecretArn: 'my-secret', tokenUrl: TOKEN_URL } }, 'dev.namespaceAdmin.clientSecretArn = "my-secret"'],
    ['a plain-http token endpoint', { namespaceAdmin: { clientSecretArn: SECRET, tokenUrl: 'http://auth.example.com/token' } }, 'dev.namespaceAdmin.tokenUrl'],
  ])('%s', (_what, extra, message) => {
    expect(() => resolve(extra)).toThrow(message);
  });
});
