/**
 * TemporalDsqlSchema in a small stack of its own: Template assertions, the bundle (schema inside,
 * deterministic hash, loadable on its own), input validation and cdk-nag.
 */
import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as dsql from 'aws-cdk-lib/aws-dsql';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_DSQL_SCHEMA_DIR, TemporalDsqlSchema, TemporalDsqlSchemaProps } from '../../lib/dsql/dsql-schema';
import { hashDirectory, loadVersionedSchema } from '../../lambda/dsql/schema/schema-dir';

const FIXTURES = path.join(__dirname, 'fixtures', 'versioned');
const ENV = { account: '123456789012', region: 'us-east-1' };

interface Built { app: App; stack: Stack; template: Template; outdir: string }

function build(extra: Partial<TemporalDsqlSchemaProps> = {}, opts: { helper?: boolean; nag?: boolean } = {}): Built {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'dsql-schema-cdk-'));
  const app = new App({ outdir });
  const stack = new Stack(app, 'SchemaTest', { env: ENV });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, subnetConfiguration: [{ name: 'app', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
  const cluster = new dsql.CfnCluster(stack, 'Cluster', { deletionProtectionEnabled: true });
  const serverTaskRole = new iam.Role(stack, 'ServerTaskRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
  const clusterRef = {
    clusterArn: cluster.attrResourceArn,
    connectEndpoint: cluster.attrEndpoint,
    ...(opts.helper ? {
      grantConnectAdmin: (g: iam.IGrantable) => iam.Grant.addToPrincipal({ grantee: g, actions: ['dsql:DbConnectAdmin'], resourceArns: [cluster.attrResourceArn] }),
    } : {}),
  };
  new TemporalDsqlSchema(stack, 'Schema', {
    cluster: clusterRef, vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED }, serverTaskRole,
    serverRoleName: 'temporal_server', schemaDir: FIXTURES, ...extra,
  });
  if (opts.nag) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    Validations.of(vpc).acknowledge({ id: 'AwsSolutions-VPC7', reason: 'test VPC only; the platform VPC has flow logs' });
  }
  const template = Template.fromStack(stack);
  return { app, stack, template, outdir };
}

describe('TemporalDsqlSchema', () => {
  let built: Built;
  beforeAll(() => { built = build(); });
  afterAll(() => fs.rmSync(built.outdir, { recursive: true, force: true }));

  test('custom resource carries schema name, target, content hash, endpoint and the server role', () => {
    built.template.hasResourceProperties('Custom::TemporalDsqlSchema', {
      SchemaName: 'dsql/temporal',
      TargetVersion: '1.2',
      ContentHash: hashDirectory(FIXTURES),
      ClusterEndpoint: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Cluster'), 'Endpoint'] },
      ServerRoleName: 'temporal_server',
      ServerTaskRoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ServerTaskRole'), 'Arn'] },
    });
  });

  test('handler role may connect as admin to this cluster only', () => {
    const policies = built.template.findResources('AWS::IAM::Policy');
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>);
    const dsqlStatements = statements.filter((s) => JSON.stringify(s.Action).includes('dsql:'));
    expect(dsqlStatements).toEqual([{
      Action: 'dsql:DbConnectAdmin', Effect: 'Allow',
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^Cluster/), 'ResourceArn'] },
    }]);
  });

  test('both handlers run in the VPC on Node 24 and log to a group with retention', () => {
    const fns = built.template.findResources('AWS::Lambda::Function', { Properties: { Handler: Match.stringLikeRegexp('^index\\.(onEvent|isComplete)$') } });
    expect(Object.keys(fns)).toHaveLength(2);
    for (const fn of Object.values(fns)) {
      expect(fn.Properties.Runtime).toBe('nodejs24.x');
      expect(fn.Properties.VpcConfig.SubnetIds.length).toBe(2);
      expect(fn.Properties.VpcConfig.SecurityGroupIds.length).toBe(1);
      expect(fn.Properties.LoggingConfig.LogGroup).toEqual({ Ref: expect.stringMatching(/HandlerLogs/) });
    }
    const isComplete = Object.values(fns).find((f) => f.Properties.Handler === 'index.isComplete');
    expect(isComplete?.Properties.Timeout).toBe(900);
    built.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });

  test('provider polls isComplete through a state machine bounded by the total timeout', () => {
    const machines = built.template.findResources('AWS::StepFunctions::StateMachine');
    expect(Object.keys(machines)).toHaveLength(1);
    const def = JSON.stringify(Object.values(machines)[0].Properties.DefinitionString);
    // 30 min / 10 s interval = 180 attempts.
    expect(def).toContain('\\"MaxAttempts\\":180');
    expect(def).toContain('\\"IntervalSeconds\\":10');
  });

  test('the bundle holds the schema and loads on its own (onEvent on a Create event)', async () => {
    const fn = Object.values(built.template.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.onEvent' } }))[0];
    const key = fn.Properties.Code.S3Key as string;
    const assetDir = path.join(built.outdir, `asset.${key.replace(/\.zip$/, '')}`);
    expect(fs.existsSync(path.join(assetDir, 'index.js'))).toBe(true);
    expect(hashDirectory(path.join(assetDir, 'schema'))).toBe(hashDirectory(FIXTURES));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const bundled = require(path.join(assetDir, 'index.js'));
    const res = await bundled.onEvent({
      RequestType: 'Create', ServiceToken: 'arn', ResponseURL: 'https://example.invalid', StackId: 'stack', RequestId: 'r1',
      LogicalResourceId: 'Schema', ResourceType: 'Custom::TemporalDsqlSchema',
      ResourceProperties: { ServiceToken: 'arn', SchemaName: 'dsql/temporal', TargetVersion: '1.2', ContentHash: hashDirectory(FIXTURES), ClusterEndpoint: 'abc.dsql.us-east-1.on.aws', ServerRoleName: 'temporal_server' },
    });
    expect(res.PhysicalResourceId).toBe('dsql/temporal@abc/postgres');
  });

  test('asset hash is deterministic and follows the schema content', () => {
    const again = build();
    const key = (t: Template) => Object.values(t.findResources('AWS::Lambda::Function', { Properties: { Handler: 'index.onEvent' } }))[0].Properties.Code.S3Key;
    expect(key(again.template)).toBe(key(built.template));
    fs.rmSync(again.outdir, { recursive: true, force: true });

    const changedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dsql-schema-fixture-'));
    fs.cpSync(FIXTURES, changedDir, { recursive: true });
    fs.appendFileSync(path.join(changedDir, 'v1.2', 'buffered_events.sql'), '\nALTER TABLE tasks ADD COLUMN IF NOT EXISTS note TEXT;\n');
    const changed = build({ schemaDir: changedDir });
    expect(key(changed.template)).not.toBe(key(built.template));
    changed.template.hasResourceProperties('Custom::TemporalDsqlSchema', { ContentHash: hashDirectory(changedDir) });
    fs.rmSync(changed.outdir, { recursive: true, force: true });
    fs.rmSync(changedDir, { recursive: true, force: true });
  });

  test('defaults to the Temporal schema in schema/dsql/temporal/versioned and its latest version', () => {
    const real = loadVersionedSchema(DEFAULT_DSQL_SCHEMA_DIR);
    const b = build({ schemaDir: undefined });
    b.template.hasResourceProperties('Custom::TemporalDsqlSchema', { TargetVersion: real.latestVersion, ContentHash: real.contentHash });
    fs.rmSync(b.outdir, { recursive: true, force: true });
  });

  test('uses the cluster grant helper when the cluster has one', () => {
    const b = build({}, { helper: true });
    const statements = Object.values(b.template.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Action: unknown }>);
    expect(statements.filter((s) => JSON.stringify(s.Action).includes('dsql:'))).toHaveLength(1);
    fs.rmSync(b.outdir, { recursive: true, force: true });
  });

  test('bad input fails at synth with the field, the value and what is allowed', () => {
    expect(() => build({ targetVersion: '9.9' })).toThrow(/targetVersion must be one of 1.0, 1.1, 1.2 .*got "9.9"/);
    expect(() => build({ totalTimeout: Duration.hours(2) })).toThrow(/totalTimeout must be from 1 minute to 1 hour, got 2 hours/);
    expect(() => build({ indexWaitConcurrency: 0 })).toThrow(/indexWaitConcurrency must be an integer from 1 to 64, got 0/);
    expect(() => build({ schemaDir: path.join(FIXTURES, 'missing') })).toThrow(/does not exist/);
  });

  test('the construct adds no warnings or errors', () => {
    const annotations = Annotations.fromStack(built.stack);
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
  });

  test('cdk-nag AwsSolutions: nothing left unacknowledged', () => {
    const b = build({}, { nag: true });
    expect(() => b.app.synth()).not.toThrow();
    fs.rmSync(b.outdir, { recursive: true, force: true });
  });
});
