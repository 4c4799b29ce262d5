/**
 * dsql.existingCluster: the stack adopts a cluster it did not create (the restore runbook's
 * switch, docs/operations.md). Everything that named the created cluster follows the adopted one.
 * The two deploy-time DSQL calls (GetVpcEndpointServiceName, PutClusterPolicy) run in CDK's
 * AwsCustomResource; they are checked here as template content only (no AWS account).
 */
import { Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import { resolveConfig } from '../../lib/config';
import { buildApp } from './helpers';

const ID = 'abcdefghijklmnopqrstuvwxyz';
const prodWith = (dsql: Record<string, unknown>) => ({ ...ENVIRONMENTS.prod, dsql: { databaseRole: 'temporal_server', ...dsql } });

describe('prod adopting a restored cluster', () => {
  const { app, stack } = buildApp('prod', { ...ENVIRONMENTS, prod: prodWith({ existingCluster: `arn:aws:dsql:us-east-1:111122223333:cluster/${ID}` }) }, { quick: true });
  app.synth();
  const t = Template.fromStack(stack);
  const res = t.toJSON().Resources as Record<string, any>;
  const of = (type: string) => Object.entries(res).filter(([, r]) => r.Type === type);
  const arn = { 'Fn::Join': ['', ['arn:aws:dsql:us-east-1:', { Ref: 'AWS::AccountId' }, `:cluster/${ID}`]] };
  const json = JSON.stringify(res);

  test('no cluster is created; the configured one is adopted', () => {
    expect(of('AWS::DSQL::Cluster')).toEqual([]);
    expect(stack.dsqlCluster.adopted).toBe(true);
    expect(stack.dsqlCluster.clusterIdentifier).toBe(ID);
    expect(stack.config.dsql.existingCluster).toBe(ID);
  });

  test('the PrivateLink endpoint uses the service name DSQL reports for it, and the servers its host', () => {
    const [[lookupId, lookup]] = of('Custom::AWS').filter(([id]) => id.includes('VpcEndpointServiceNameLookup'));
    expect(JSON.stringify(lookup.Properties.Update)).toContain('GetVpcEndpointServiceName');
    expect(JSON.stringify(lookup.Properties.Update)).toContain(ID);
    const endpoints = of('AWS::EC2::VPCEndpoint').filter(([, r]) => JSON.stringify(r.Properties.ServiceName).includes(lookupId));
    expect(endpoints).toHaveLength(1);
    expect(endpoints[0][1].Properties.ServiceName).toEqual({ 'Fn::GetAtt': [lookupId, 'serviceName'] });
    const env = of('AWS::ECS::TaskDefinition').flatMap(([, r]) => r.Properties.ContainerDefinitions.flatMap((c: any) => c.Environment ?? []))
      .filter((e: any) => e.Name === 'DSQL_ENDPOINT');
    expect(env.length).toBeGreaterThanOrEqual(4);
    for (const e of env) {
      // <cluster-id>.dsql-<suffix>.<region>.on.aws, the suffix taken from com.amazonaws.<region>.dsql-<suffix>
      expect(e.Value).toEqual({ 'Fn::Join': ['', [`${ID}.`, { 'Fn::Select': [3, { 'Fn::Split': ['.', { 'Fn::GetAtt': [lookupId, 'serviceName'] }] }] }, '.us-east-1.on.aws']] });
    }
  });

  test('the VPC-only resource policy is put on it (and removed when it leaves the stack)', () => {
    const [[, put]] = of('Custom::AWS').filter(([id]) => id.includes('ClusterPolicy'));
    const update = JSON.stringify(put.Properties.Update);
    expect(update).toContain('PutClusterPolicy');
    expect(update).toContain('DenyConnectFromOtherVpcs');
    expect(JSON.stringify(put.Properties.Delete)).toContain('DeleteClusterPolicy');
  });

  test('grants, backup selection, alarms and outputs name the adopted cluster', () => {
    const statements = of('AWS::IAM::Policy').flatMap(([, r]) => r.Properties.PolicyDocument.Statement);
    const connect = statements.filter((s: any) => s.Action === 'dsql:DbConnect' || s.Action === 'dsql:DbConnectAdmin');
    expect(connect.length).toBeGreaterThanOrEqual(2);
    for (const s of connect) expect(s.Resource).toEqual(arn);
    expect(of('AWS::Backup::BackupSelection')[0][1].Properties.BackupSelection.Resources).toEqual([arn]);
    const occ = of('AWS::CloudWatch::Alarm').find(([, r]) => r.Properties.AlarmName === 'temporal-prod-DsqlOccConflicts')![1];
    expect(JSON.stringify(occ.Properties.Metrics)).toContain(`{"Name":"ClusterId","Value":"${ID}"}`);
    expect(t.toJSON().Outputs.DsqlClusterIdentifier.Value).toBe(ID);
    // the rule and the backup job filter follow the ARN too
    expect(json).not.toContain('"Dsql0E3171D0"');
  });
});

describe('dsql.existingCluster is validated', () => {
  const withRegion = { ...ENVIRONMENTS.prod, env: { region: 'us-east-1', account: '210987654321' } };
  test.each([
    [{ existingCluster: 'my-cluster' }, 'Invalid configuration: prod.dsql.existingCluster = "my-cluster"; allowed: a cluster identifier (26 lowercase letters and digits) or a DSQL cluster ARN'],
    [{ existingCluster: `arn:aws:dsql:us-east-1:210987654321:cluster/${ID.slice(1)}` }, 'allowed: a DSQL cluster ARN, arn:aws:dsql:<region>:<account>:cluster/<26-character id>'],
    [{ existingCluster: `arn:aws:dsql:eu-west-1:210987654321:cluster/${ID}` }, 'allowed: a cluster in env.region us-east-1'],
    [{ existingCluster: `arn:aws:dsql:us-east-1:999999999998:cluster/${ID}` }, 'allowed: a cluster in env.account 210987654321'],
    [{ existingCluster: ID, deletionProtection: true }, 'Invalid configuration: prod.dsql.deletionProtection = true; allowed: nothing with dsql.existingCluster'],
  ])('refuses %j', (dsql, message) => {
    expect(() => resolveConfig('prod', { ...withRegion, dsql: { databaseRole: 'temporal_server', ...dsql } })).toThrow(message);
  });

  test('an identifier and an ARN of the stack\'s Region and account resolve to the identifier', () => {
    expect(resolveConfig('prod', { ...withRegion, dsql: { existingCluster: ID } }).dsql.existingCluster).toBe(ID);
    expect(resolveConfig('prod', { ...withRegion, dsql: { existingCluster: `arn:aws:dsql:us-east-1:210987654321:cluster/${ID}` } }).dsql.existingCluster).toBe(ID);
    expect(resolveConfig('prod', ENVIRONMENTS.prod).dsql.existingCluster).toBeUndefined();
  });
});
