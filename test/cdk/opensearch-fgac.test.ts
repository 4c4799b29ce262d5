/**
 * OpenSearch fine-grained access control and audit logs in the template (issue 24 item 6): on in
 * production with the index job's role as IAM master user, audit logs to their own log group under
 * the domain's logs resource policy, the prerequisites (encryption at rest, node-to-node, HTTPS), the
 * index job's properties and its access to the security API; off in development; config errors.
 * What the job does with it on a real node: test/visibility/fgac.test.ts.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { Stack } from 'aws-cdk-lib';
import { ENVIRONMENTS } from '../../config';
import { resolveConfig } from '../../lib/config';
import { buildApp } from './helpers';

const OPS = 'arn:aws:iam::210987654321:role/platform-oncall';
const READER = 'arn:aws:iam::210987654321:user/auditor';

function single<T = any>(t: Template, type: string): [string, T] {
  const all = Object.entries(t.findResources(type));
  expect(all).toHaveLength(1);
  return all[0] as [string, T];
}

describe('OpenSearch fine-grained access control and audit logs (template)', () => {
  let prod: Template;
  let prodStack: Stack;
  let dev: Template;
  beforeAll(() => {
    const p = buildApp('prod', {
      ...ENVIRONMENTS,
      prod: { ...ENVIRONMENTS.prod, opensearch: { ...ENVIRONMENTS.prod.opensearch, allAccessPrincipals: [OPS], readAllPrincipals: [READER] } },
    }, { quick: true });
    prodStack = p.stack;
    prod = Template.fromStack(p.stack);
    dev = Template.fromStack(buildApp('dev', { ...ENVIRONMENTS }, { quick: true }).stack);
  });

  const resolve = (v: unknown) => JSON.stringify(prodStack.resolve(v));
  const indexRoleId = () => Object.keys(prod.findResources('AWS::IAM::Role')).find((k) => k.startsWith('VisibilityIndexHandlerRole'))!;

  test('prod: FGAC on with the index job\'s role as IAM master user (no internal user database), and its prerequisites', () => {
    const [, domain] = single(prod, 'AWS::OpenSearchService::Domain');
    const p = domain.Properties;
    expect(p.AdvancedSecurityOptions).toEqual({
      Enabled: true,
      InternalUserDatabaseEnabled: false,
      MasterUserOptions: { MasterUserARN: { 'Fn::GetAtt': [indexRoleId(), 'Arn'] } },
    });
    expect(p.EncryptionAtRestOptions.Enabled).toBe(true);
    expect(p.NodeToNodeEncryptionOptions.Enabled).toBe(true);
    expect(p.DomainEndpointOptions).toMatchObject({ EnforceHTTPS: true, TLSSecurityPolicy: 'Policy-Min-TLS-1-2-PFS-2023-10' });
  });

  test('prod: audit logs published to their own log group, which the logs resource policy lets es.amazonaws.com write', () => {
    const [, domain] = single(prod, 'AWS::OpenSearchService::Domain');
    const audit = domain.Properties.LogPublishingOptions.AUDIT_LOGS;
    expect(audit.Enabled).toBe(true);
    const groupId = audit.CloudWatchLogsLogGroupArn['Fn::GetAtt'][0];
    expect(groupId).toMatch(/^VisibilityAuditLogs/);
    const group = prod.toJSON().Resources[groupId];
    expect(group.Type).toBe('AWS::Logs::LogGroup');
    expect(group.Properties.KmsKeyId).toBeDefined();
    const [, policy] = single(prod, 'AWS::Logs::ResourcePolicy');
    const doc = JSON.parse(JSON.stringify(policy.Properties.PolicyDocument));
    const text = JSON.stringify(doc);
    expect(text).toContain('es.amazonaws.com');
    expect(text).toContain(groupId);
  });

  test('prod: the index job gets the servers, the operators and audit as properties, and may call exactly the security API paths it uses', () => {
    const [, cr] = single(prod, 'Custom::TemporalVisibilityIndex');
    const p = cr.Properties;
    expect(p.FineGrainedAccessControl).toBe('true');
    expect(p.AuditLogs).toBe('true');
    expect(p.ServerPrincipals).toEqual([{ 'Fn::GetAtt': [expect.stringMatching(/^TemporalServerTaskRole/), 'Arn'] }]);
    expect(p.AllAccessPrincipals).toEqual([OPS]);
    expect(p.ReadAllPrincipals).toEqual([READER]);
    const domainPolicy = resolve(single(prod, 'AWS::OpenSearchService::Domain')[1].Properties.AccessPolicies);
    for (const path of ['roles/temporal_visibility_server', 'rolesmapping/temporal_visibility_server', 'rolesmapping/all_access', 'rolesmapping/readall', 'audit', 'audit/config']) {
      expect(domainPolicy).toContain(`/_plugins/_security/api/${path}"`);
    }
    // Not the whole security API: the job's role reaches only those paths through the access policy.
    expect(domainPolicy).not.toContain('/_plugins/_security/api/*');
    expect(domainPolicy).not.toContain('/_plugins/_security/api/internalusers');
  });

  test('prod: operators pass the access policy (FGAC decides what they may do)', () => {
    const policy = JSON.parse(JSON.stringify(prodStack.resolve(single(prod, 'AWS::OpenSearchService::Domain')[1].Properties.AccessPolicies)));
    const op = policy.Statement.find((s: any) => s.Sid === 'OperatorsFineGrained');
    expect(op.Principal.AWS.sort()).toEqual([OPS, READER].sort());
    expect(JSON.stringify(op.Resource)).toContain(':domain/temporal-prod/*');
  });

  test('dev: no FGAC, no audit logs, no security properties on the index job', () => {
    const [, domain] = single(dev, 'AWS::OpenSearchService::Domain');
    expect(domain.Properties.AdvancedSecurityOptions).toBeUndefined();
    expect(domain.Properties.LogPublishingOptions.AUDIT_LOGS).toBeUndefined();
    const [, cr] = single(dev, 'Custom::TemporalVisibilityIndex');
    expect(cr.Properties.FineGrainedAccessControl).toBeUndefined();
    expect(JSON.stringify(dev.toJSON())).not.toContain('_plugins/_security');
  });
});

describe('OpenSearch fine-grained access control (config)', () => {
  const dev = (opensearch: Record<string, unknown>, production = false) =>
    resolveConfig('dev', { ...ENVIRONMENTS.dev, production, ...(production ? {} : {}), opensearch: { ...ENVIRONMENTS.dev.opensearch, ...opensearch } } as any).opensearch;

  test('defaults: on with audit logs in production, off otherwise; explicit values win', () => {
    expect(resolveConfig('prod', ENVIRONMENTS.prod).opensearch).toMatchObject({ fineGrainedAccessControl: true, auditLogs: true, allAccessPrincipals: [], readAllPrincipals: [] });
    expect(dev({})).toMatchObject({ fineGrainedAccessControl: false, auditLogs: false });
    expect(dev({ fineGrainedAccessControl: true })).toMatchObject({ fineGrainedAccessControl: true, auditLogs: true });
    expect(dev({ fineGrainedAccessControl: true, auditLogs: false })).toMatchObject({ fineGrainedAccessControl: true, auditLogs: false });
  });

  test.each([
    [{ auditLogs: true }, 'Invalid configuration: dev.opensearch.auditLogs = true; allowed: false unless opensearch.fineGrainedAccessControl is true'],
    [{ fineGrainedAccessControl: 'yes' }, 'Invalid configuration: dev.opensearch.fineGrainedAccessControl = "yes"'],
    [{ readAllPrincipals: [OPS] }, 'Invalid configuration: dev.opensearch.readAllPrincipals = ["arn:aws:iam::210987654321:role/platform-oncall"]; allowed: empty unless opensearch.fineGrainedAccessControl is true'],
    [{ fineGrainedAccessControl: true, allAccessPrincipals: ['platform-oncall'] }, 'Invalid configuration: dev.opensearch.allAccessPrincipals[0] = "platform-oncall"; allowed: an IAM role or user ARN'],
    [{ fineGrainedAccessControl: true, allAccessPrincipals: OPS }, 'Invalid configuration: dev.opensearch.allAccessPrincipals = "arn:aws:iam::210987654321:role/platform-oncall"; allowed: a list of IAM role or user ARNs'],
    [{ fineGrainedAccessControl: true, readAllPrincipals: ['arn:aws:iam::210987654321:group/ops'] }, 'allowed: an IAM role or user ARN'],
    [{ fineGrainedAccessControl: true, readAllPrincipals: [OPS, OPS] }, 'Invalid configuration: dev.opensearch.readAllPrincipals = "arn:aws:iam::210987654321:role/platform-oncall"; allowed: each ARN once'],
  ])('refuses %j', (opensearch, message) => {
    expect(() => dev(opensearch)).toThrow(message);
  });
});
