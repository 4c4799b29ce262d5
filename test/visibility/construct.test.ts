/**
 * CDK assertions for TemporalVisibilityIndex in a small stack of its own (VPC + OpenSearch domain),
 * synthesized with local esbuild bundling; the bundled asset itself is then run against a real
 * OpenSearch node. CloudFormation itself cannot run here; the handler's behaviour in detail is
 * tested in handler.test.ts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as opensearch from 'aws-cdk-lib/aws-opensearchservice';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadVisibilityTemplate, TemporalVisibilityIndex, TemporalVisibilityIndexProps } from '../../lib/visibility/visibility-index';
import { LocalOpenSearch, startOpenSearchLocal } from '../support/opensearch-local';
import { RecordingProxy, startRecordingProxy } from './recording-proxy';

const ENV = { account: '123456789012', region: 'us-east-1' };
const outdirs: string[] = [];
afterAll(() => {
  for (const d of outdirs) rmSync(d, { recursive: true, force: true });
});

/**
 * Builds the test stack. Only the first stack bundles the handler with esbuild (proving local
 * bundling works); the others skip bundling (`aws:cdk:bundling-stacks: []`) to keep the suite fast.
 */
function build(props: Partial<TemporalVisibilityIndexProps> = {}, opts: { bundle?: boolean } = {}) {
  const context: Record<string, unknown> = { 'aws:cdk:version-reporting': false };
  if (!opts.bundle) context['aws:cdk:bundling-stacks'] = [];
  const outdir = mkdtempSync(join(tmpdir(), 'visibility-index-cdk-'));
  outdirs.push(outdir);
  const app = new App({ context, outdir });
  const stack = new Stack(app, 'VisibilityIndexTest', { env: ENV });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const domain = new opensearch.Domain(stack, 'Domain', {
    version: opensearch.EngineVersion.openSearch('2.19'),
    vpc,
    vpcSubnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, onePerAz: true }],
    zoneAwareness: { enabled: true, availabilityZoneCount: 2 },
    capacity: { dataNodes: 2, multiAzWithStandbyEnabled: false },
  });
  const index = new TemporalVisibilityIndex(stack, 'VisibilityIndex', {
    domain,
    vpc,
    indexName: 'temporal_visibility_v1_prod',
    ...props,
  });
  return { app, stack, vpc, domain, index };
}

const built = build({}, { bundle: true });
const template = Template.fromStack(built.stack);
const domainLogicalId = built.stack.getLogicalId(built.domain.node.defaultChild as opensearch.CfnDomain);
const domainArn = { 'Fn::GetAtt': [domainLogicalId, 'Arn'] };
const arnPath = (path: string) => ({ 'Fn::Join': ['', [domainArn, path]] });

function handlerFunction(): [string, { Properties: Record<string, any> }] {
  const fns = template.findResources('AWS::Lambda::Function', {
    Properties: { Description: Match.stringLikeRegexp('^Applies Temporal visibility template') },
  });
  const entries = Object.entries(fns);
  expect(entries).toHaveLength(1);
  return entries[0] as [string, { Properties: Record<string, any> }];
}

test('the custom resource carries index name, template version, body and content hash', () => {
  const shipped = loadVisibilityTemplate();
  template.hasResourceProperties('Custom::TemporalVisibilityIndex', {
    ServiceToken: { 'Fn::GetAtt': [Match.stringLikeRegexp('ProviderframeworkonEvent'), 'Arn'] },
    Endpoint: { 'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [domainLogicalId, 'DomainEndpoint'] }]] },
    Region: 'us-east-1',
    Signing: 'true',
    IndexName: 'temporal_visibility_v1_prod',
    TemplateName: 'temporal_visibility_v1_template',
    TemplateVersion: 'v14',
    TemplateBody: shipped.body,
    ContentHash: shipped.contentHash,
    DisableAutoCreateIndex: 'true',
    DestroyIndexOnDelete: 'false',
  });
});

test('the custom resource waits for the domain and the handler role policy', () => {
  const resources = template.findResources('Custom::TemporalVisibilityIndex');
  const [res] = Object.values(resources) as { DependsOn: string[] }[];
  expect(res.DependsOn).toEqual(
    expect.arrayContaining([domainLogicalId, built.stack.getLogicalId((built.index.role as iam.Role).node.defaultChild as iam.CfnRole)]),
  );
  expect(res.DependsOn.some((d) => /HandlerRoleDefaultPolicy/.test(d))).toBe(true);
});

test('the handler runs in the private subnets with its own security group, Node 24 on arm64', () => {
  const [, fn] = handlerFunction();
  const privateSubnets = built.vpc.privateSubnets.map((s) => built.stack.resolve(s.subnetId));
  expect(fn.Properties.VpcConfig.SubnetIds).toEqual(privateSubnets);
  expect(fn.Properties.VpcConfig.SecurityGroupIds).toHaveLength(1);
  expect(fn.Properties.Runtime).toBe('nodejs24.x');
  expect(fn.Properties.Architectures).toEqual(['arm64']);
  expect(fn.Properties.Timeout).toBe(300);
  expect(fn.Properties.Handler).toBe('index.handler');
});

test('the domain security group lets the handler in on 443', () => {
  const [, fn] = handlerFunction();
  const handlerSg = fn.Properties.VpcConfig.SecurityGroupIds[0];
  template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
    IpProtocol: 'tcp',
    FromPort: 443,
    ToPort: 443,
    SourceSecurityGroupId: handlerSg,
    Description: 'Temporal visibility index custom resource to OpenSearch HTTPS',
  });
});

test('the handler role has only the es:ESHttp* actions it uses, on this domain paths', () => {
  const [, fn] = handlerFunction();
  const roleId = fn.Properties.Role['Fn::GetAtt'][0];
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: [{ Ref: roleId }] },
  });
  const statements = Object.values(policies).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
  const es = statements.filter((s: any) => [].concat(s.Action).some((a: string) => a.startsWith('es:')));
  expect(es).toEqual([
    { Action: 'es:ESHttpPut', Effect: 'Allow', Resource: arnPath('/_cluster/settings') },
    { Action: 'es:ESHttpPost', Effect: 'Allow', Resource: arnPath('/_template/temporal_visibility_v1_template') },
    { Action: ['es:ESHttpHead', 'es:ESHttpPut'], Effect: 'Allow', Resource: arnPath('/temporal_visibility_v1_prod') },
    { Action: 'es:ESHttpGet', Effect: 'Allow', Resource: arnPath('/temporal_visibility_v1_prod/_settings') },
    { Action: ['es:ESHttpGet', 'es:ESHttpPost'], Effect: 'Allow', Resource: arnPath('/temporal_visibility_v1_prod/_mapping') },
  ]);
  // Every es: action anywhere on this role is one of those (no es:* and no DELETE without the opt-in).
  const all = statements.flatMap((s: any) => [].concat(s.Action));
  expect(all.filter((a: string) => a.startsWith('es:') && !/^es:ESHttp(Get|Head|Put|Post)$/.test(a))).toEqual([]);
});

test('the rest of the role: its own log group and the in-VPC network-interface actions, no managed policy', () => {
  const [, fn] = handlerFunction();
  const roleId = fn.Properties.Role['Fn::GetAtt'][0];
  expect(template.toJSON().Resources[roleId].Properties.ManagedPolicyArns).toBeUndefined();
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } });
  const statements = Object.values(policies).flatMap((p: any) => p.Properties.PolicyDocument.Statement);
  const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref;
  expect(statements).toContainEqual({
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    Effect: 'Allow',
    Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logGroupId, 'Arn'] }, ':*']] },
  });
  const wildcard = statements.filter((s: any) => s.Resource === '*');
  expect(wildcard).toHaveLength(1);
  expect(wildcard[0].Action.every((a: string) => /^ec2:(Create|Describe|Delete|Assign|Unassign)/.test(a))).toBe(true);
});

test('cdk-nag AwsSolutions: no findings on this construct beyond the acknowledged ones', () => {
  const b = build();
  b.app.synth();
  const report = new AwsSolutionsChecks(b.app).validateScope(b.app);
  const mine = (report.violations as { ruleName: string; violatingResources: { constructPath: string }[] }[]).filter((v) =>
    v.violatingResources.some((r) => r.constructPath.startsWith('VisibilityIndexTest/VisibilityIndex/')),
  );
  expect(mine).toEqual([]);
  // The check can fail: an extra wildcard grant on the handler role is reported.
  const c = build();
  c.index.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['es:*'], resources: ['*'] }));
  c.app.synth();
  const again = new AwsSolutionsChecks(c.app).validateScope(c.app);
  expect(JSON.stringify(again.violations)).toContain('AwsSolutions-IAM5[Action::es:*]');
});

test('DestroyIndexOnDelete adds es:ESHttpDelete on the index only', () => {
  const b = build({ destroyIndexOnDelete: true, disableAutoCreateIndex: false });
  const t = Template.fromStack(b.stack);
  t.hasResourceProperties('Custom::TemporalVisibilityIndex', { DestroyIndexOnDelete: 'true', DisableAutoCreateIndex: 'false' });
  const statements = b.index.accessPolicyStatements('arn:aws:es:us-east-1:123456789012:domain/temporal').map((s) => b.stack.resolve(s.toJSON()));
  expect(statements).toEqual([
    expect.objectContaining({ Action: 'es:ESHttpPost', Resource: 'arn:aws:es:us-east-1:123456789012:domain/temporal/_template/temporal_visibility_v1_template' }),
    expect.objectContaining({
      Action: ['es:ESHttpDelete', 'es:ESHttpHead', 'es:ESHttpPut'],
      Resource: 'arn:aws:es:us-east-1:123456789012:domain/temporal/temporal_visibility_v1_prod',
    }),
    expect.objectContaining({ Action: 'es:ESHttpGet', Resource: 'arn:aws:es:us-east-1:123456789012:domain/temporal/temporal_visibility_v1_prod/_settings' }),
    expect.objectContaining({
      Action: ['es:ESHttpGet', 'es:ESHttpPost'],
      Resource: 'arn:aws:es:us-east-1:123456789012:domain/temporal/temporal_visibility_v1_prod/_mapping',
    }),
  ]);
  const roleId = b.stack.getLogicalId((b.index.role as iam.Role).node.defaultChild as iam.CfnRole);
  for (const s of statements) expect(s.Principal).toEqual({ AWS: { 'Fn::GetAtt': [roleId, 'Arn'] } });
});

test('log groups of the handler and the provider keep logs for one month by default', () => {
  const [, fn] = handlerFunction();
  const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref;
  template.hasResource('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 30 } });
  expect(template.toJSON().Resources[logGroupId].Properties.RetentionInDays).toBe(30);
  const groups = template.findResources('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 30 } });
  expect(Object.keys(groups).filter((id) => id.startsWith('VisibilityIndex'))).toHaveLength(2);
  const b = build({ logRetention: logs.RetentionDays.THREE_MONTHS });
  const t = Template.fromStack(b.stack);
  expect(Object.keys(t.findResources('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 90 } }))).toHaveLength(2);
});

test('bad input is refused at synth with the field, value and what is allowed', () => {
  expect(() => build({ indexName: 'visibility_prod' })).toThrow(
    'indexName must match the template pattern temporal_visibility_v1* (e.g. temporal_visibility_v1_prod), got "visibility_prod"',
  );
  expect(() => build({ indexName: 'temporal_visibility_v1_Prod' })).toThrow(/^property indexName="temporal_visibility_v1_Prod" is invalid: an OpenSearch index name is lowercase/);
  expect(() => build({ templateVersion: 'v9' })).toThrow('templateVersion must be one of v14 (schema/visibility/), got "v9"');
});

describe('the bundled handler (the asset CDK uploads) against a real OpenSearch node', () => {
  let os: LocalOpenSearch;
  let proxy: RecordingProxy;
  const saved: Record<string, string | undefined> = {};
  // Static fake credentials: there is no AWS here, and the local node ignores signatures.
  const FAKE = { AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: 'fake-secret', AWS_SESSION_TOKEN: 'fake-token' };

  beforeAll(async () => {
    for (const [k, v] of Object.entries(FAKE)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    os = await startOpenSearchLocal();
    proxy = await startRecordingProxy(os.url);
  });
  afterAll(async () => {
    await proxy?.close();
    await os?.stop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  test('creates the index from the synthesized properties, with signed requests', async () => {
    const [, fn] = handlerFunction();
    const assembly = built.app.synth();
    const assetDir = join(assembly.directory, `asset.${String(fn.Properties.Code.S3Key).replace(/\.zip$/, '')}`);
    const bundle = join(assetDir, 'index.js');
    expect(existsSync(bundle)).toBe(true);
    // Bundled means self-contained: no require of the client or the AWS SDK from node_modules.
    const code = readFileSync(bundle, 'utf8');
    const external = [...code.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]).filter((m) => !/^(node:)?[a-z_0-9/]+$/.test(m));
    // Only the optional CRT signer (SigV4a, loaded inside try/catch by the SDK, unused here) stays outside.
    expect([...new Set(external)]).toEqual(['@aws-sdk/signature-v4-crt']);
    const mod = require(bundle) as { handler: (e: unknown, c: unknown) => Promise<{ PhysicalResourceId: string; Data: Record<string, string> }> };

    const cfnProps = template.findResources('Custom::TemporalVisibilityIndex');
    const props = { ...(Object.values(cfnProps)[0] as { Properties: Record<string, unknown> }).Properties };
    // The tokens CloudFormation would resolve: the service token, and the endpoint (the local node via the proxy).
    props.ServiceToken = 'arn:aws:lambda:us-east-1:123456789012:function:provider';
    props.Endpoint = proxy.url;
    const event = {
      RequestType: 'Create',
      ServiceToken: props.ServiceToken,
      ResponseURL: '...',
      StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/VisibilityIndexTest/11111111-2222-3333-4444-555555555555',
      RequestId: '6f1e0f3c-95a4-4d1e-9d5e-2f5a1c3b7e10',
      LogicalResourceId: 'VisibilityIndexResource',
      ResourceType: 'Custom::TemporalVisibilityIndex',
      ResourceProperties: props,
    };
    const started = Date.now();
    const res = await mod.handler(event, { getRemainingTimeInMillis: () => 300_000 - (Date.now() - started) });
    console.log(`bundled handler Create wall time: ${Date.now() - started} ms (node started in ${os.startupMs} ms)`);
    expect(res.Data).toMatchObject({ IndexName: 'temporal_visibility_v1_prod', IndexCreated: 'true', TemplateVersion: 'v14' });
    const mapping = (await (await fetch(`${os.url}/temporal_visibility_v1_prod/_mapping`)).json()) as Record<string, any>;
    expect(Object.keys(mapping.temporal_visibility_v1_prod.mappings.properties)).toHaveLength(49);
    expect(proxy.requests.length).toBeGreaterThanOrEqual(6);
    for (const r of proxy.requests) {
      expect(r.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/us-east-1\/es\/aws4_request, /);
    }
  });
});
