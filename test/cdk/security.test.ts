/**
 * Issue 14, CDK side: the security configuration (lib/security/config.ts) and a template assertion
 * for every guard: server authorization/TLS environment, internal-frontend, the frontend security
 * group (NLB, UI, server roles and configured client CIDRs only, never the VPC CIDR), the grant on
 * exactly the two certificate secrets, the UI's HTTPS listener with the port-80 redirect, OIDC login
 * with the client secret as an ECS secret, read-only UI, TLS from the UI to the frontend, the DSQL
 * resource policy and the OpenSearch policy (no index deletion). No AWS calls: templates only.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as kms from 'aws-cdk-lib/aws-kms';
import { App, Stack } from 'aws-cdk-lib';
import { ENVIRONMENTS } from '../../config';
import { ConfigError, PlatformConfigInput, resolveConfig } from '../../lib/config';
import { jwksUrlOf } from '../../lib/security/config';
import { dsqlVpcOnlyPolicy, INTERNAL_FRONTEND_PORTS } from '../../lib/security/temporal-auth';
import { TemporalServices } from '../../lib/services/temporal-services';
import { buildApp } from './helpers';

const COGNITO = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123';
const CERT = 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';
const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:temporal/ui-AbCdEf';
const secure: PlatformConfigInput = {
  env: { region: 'eu-west-1' },
  numHistoryShards: 16,
  production: true,
  security: { auth: { issuerUrl: COGNITO, audience: 'app-client-1' } },
  observability: { alarmEmails: ['oncall@example.com'] },
  images: { dockerHubCredentialArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf' },
  ui: { certificateArn: CERT, domainName: 'temporal.example.com', oidc: { clientId: 'ui', clientSecretArn: SECRET } },
};
const withSecure = (patch: (c: any) => void): PlatformConfigInput => {
  const c = JSON.parse(JSON.stringify(secure));
  patch(c);
  return c;
};

describe('security config', () => {
  test('a production environment with an issuer: auth on, JWKS derived, TLS on, UI login with callback', () => {
    const c = resolveConfig('p', secure);
    expect(c.production).toBe(true);
    expect(c.security.auth).toEqual({
      issuerUrl: COGNITO, jwksUrls: [`${COGNITO}/.well-known/jwks.json`], permissionsClaim: 'permissions',
      audience: 'app-client-1', audienceClaim: 'client_id', tenantId: undefined,
    });
    expect(c.security.tls).toEqual({ privateCaArn: undefined, kmsKeyArn: undefined });
    expect(c.ui.oidc).toMatchObject({ issuerUrl: COGNITO, callbackUrl: 'https://temporal.example.com/auth/sso/callback', scopes: ['openid', 'profile', 'email'] });
    expect(c.ui.readOnly).toBe(false);
  });

  test('JWKS URLs derived for Cognito, Okta and Entra ID only', () => {
    expect(jwksUrlOf('https://dev-1.okta.com/oauth2/aus1abc')).toBe('https://dev-1.okta.com/oauth2/aus1abc/v1/keys');
    expect(jwksUrlOf('https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0'))
      .toBe('https://login.microsoftonline.com/contoso.onmicrosoft.com/discovery/v2.0/keys');
    expect(jwksUrlOf('https://idp.example.com')).toBeUndefined();
  });

  test('token policy: the issuer is always required, the audience claim follows the issuer, the Entra tenant comes from the issuer', () => {
    const UI = { certificateArn: CERT, domainName: 'temporal.example.com', oidc: { clientId: 'ui', clientSecretArn: SECRET } };
    const dev = (auth: Record<string, unknown>) => resolveConfig('d', { numHistoryShards: 16, env: { region: 'eu-west-1' }, security: { auth } as never, ui: UI }).security.auth!;
    const ENTRA = 'https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0';
    expect(dev({ issuerUrl: ENTRA, audience: 'api://temporal' })).toMatchObject({ audienceClaim: 'aud', tenantId: '11111111-2222-3333-4444-555555555555' });
    expect(dev({ issuerUrl: 'https://dev-1.okta.com/oauth2/aus1abc' })).toMatchObject({ audienceClaim: 'aud', tenantId: undefined, audience: undefined });
    expect(dev({ issuerUrl: COGNITO, audienceClaim: 'aud', audience: 'x' })).toMatchObject({ audienceClaim: 'aud' });
    expect(dev({ issuerUrl: 'https://idp.example.com', jwksUrls: ['https://idp.example.com/keys'], tenantId: 'contoso' })).toMatchObject({ tenantId: 'contoso' });
  });

  test('the shipped environments: prod is production with auth and TLS, dev allows no auth', () => {
    const prod = resolveConfig('prod', ENVIRONMENTS.prod);
    expect(prod.production).toBe(true);
    expect(prod.security.auth?.jwksUrls).toHaveLength(1);
    expect(prod.security.tls).toBeDefined();
    expect(prod.ui.certificateArn).toMatch(/^arn:aws:acm:us-east-1:/);
    const dev = resolveConfig('dev', ENVIRONMENTS.dev);
    expect(dev.production).toBe(false);
    expect(dev.security.auth).toBeUndefined();
    expect(dev.security.allowNoAuth).toBe(true);
  });

  test.each<[string, PlatformConfigInput, RegExp]>([
    ['production refuses allowNoAuth', withSecure((c) => { c.security = { allowNoAuth: true }; }),
      /^Invalid configuration: p\.security\.allowNoAuth = true; allowed: false in an environment marked production/],
    ['production refuses allowPlaintext', withSecure((c) => { c.security.allowPlaintext = true; }),
      /p\.security\.allowPlaintext = true; allowed: false in an environment marked production/],
    ['production refuses a UI without certificate', withSecure((c) => { delete c.ui; }),
      /p\.ui\.certificateArn = undefined; allowed: an ACM certificate ARN in an environment marked production/],
    ['production refuses DSQL without PrivateLink', withSecure((c) => { c.dsql = { privateLink: false }; }),
      /p\.dsql\.privateLink = false; allowed: true in an environment marked production/],
    ['no issuer and no allowNoAuth', { numHistoryShards: 16 },
      /p\.security\.auth\.issuerUrl = undefined; allowed: the OIDC issuer whose tokens the frontend accepts, exactly as in their iss claim \(or security\.allowNoAuth: true/],
    ['an issuer whose JWKS URL cannot be derived', withSecure((c) => { c.security.auth.issuerUrl = 'https://idp.example.com'; }),
      /p\.security\.auth\.jwksUrls = undefined; allowed: the JWKS URL\(s\) of https:\/\/idp\.example\.com/],
    ['a plain-http issuer', withSecure((c) => { c.security.auth.issuerUrl = 'http://idp.example.com'; }),
      /p\.security\.auth\.issuerUrl = "http:\/\/idp\.example\.com"; allowed: an https:\/\/ OIDC issuer URL/],
    ['a JWKS URL list with a comma inside', withSecure((c) => { c.security.auth.jwksUrls = ['https://a.example.com/k,https://b']; }),
      /p\.security\.auth\.jwksUrls = \["https:\/\/a\.example\.com\/k,https:\/\/b"\]; allowed: a non-empty list of https:\/\/ JWKS URLs/],
    ['auth on but no UI login', withSecure((c) => { delete c.ui.oidc; }),
      /p\.ui\.oidc = undefined; allowed: \{ clientId, clientSecretArn \} when the frontend authorizes/],
    ['a partial secret ARN', withSecure((c) => { c.ui.oidc.clientSecretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:temporal/ui'; }),
      /p\.ui\.oidc\.clientSecretArn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:temporal\/ui"; allowed: the complete ARN of a Secrets Manager secret, with its 6-character suffix/],
    ['a secret of another Region', withSecure((c) => { c.ui.oidc.clientSecretArn = SECRET.replace('eu-west-1', 'us-east-1'); }),
      /p\.ui\.oidc\.clientSecretArn = .*; allowed: a secret in env\.region eu-west-1/],
    ['OIDC without domain name', withSecure((c) => { delete c.ui.domainName; }),
      /p\.ui\.domainName = undefined; allowed: the host name of ui\.certificateArn that users browse to/],
    ['scopes without openid', withSecure((c) => { c.ui.oidc.scopes = ['profile']; }),
      /p\.ui\.oidc\.scopes = \["profile"\]; allowed: a list of OAuth scopes \(no spaces or commas\) that includes openid/],
    ['a Private CA of another Region', withSecure((c) => { c.security.tls = { privateCaArn: 'arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/abc-123' }; }),
      /p\.security\.tls\.privateCaArn = .*; allowed: a Private CA in env\.region eu-west-1/],
    ['not a Private CA ARN', withSecure((c) => { c.security.tls = { privateCaArn: CERT }; }),
      /p\.security\.tls\.privateCaArn = .*; allowed: an AWS Private CA ARN/],
    ['an unknown security field', withSecure((c) => { c.security.mtls = true; }),
      /p\.security\.mtls = true; allowed: one of the known fields auth, allowNoAuth, tls, allowPlaintext/],
    ['production without an audience', withSecure((c) => { delete c.security.auth.audience; }),
      /p\.security\.auth\.audience = undefined; allowed: the audience the tokens are issued for .* in an environment marked production/],
    ['JWKS URLs without the issuer they belong to', withSecure((c) => { c.security.auth = { jwksUrls: ['https://idp.example.com/keys'], audience: 'a' }; }),
      /p\.security\.auth\.issuerUrl = undefined; allowed: the OIDC issuer whose tokens the frontend accepts, exactly as in their iss claim/],
    ['an audience claim the server does not know', withSecure((c) => { c.security.auth.audienceClaim = 'azp'; }),
      /p\.security\.auth\.audienceClaim = "azp"; allowed: 'aud' or 'client_id'/],
    ['a tenant that is not the Entra issuer\'s', withSecure((c) => { c.security.auth = { issuerUrl: 'https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0', audience: 'a', tenantId: 'fabrikam.onmicrosoft.com' }; }),
      /p\.security\.auth\.tenantId = "fabrikam\.onmicrosoft\.com"; allowed: the tenant of security\.auth\.issuerUrl \(contoso\.onmicrosoft\.com\), or leave it out/],
    ['allowNoAuth together with an issuer', { numHistoryShards: 16, security: { allowNoAuth: true, auth: { issuerUrl: COGNITO } } },
      /p\.security\.allowNoAuth = true; allowed: false when security\.auth is configured/],
    ['production not a boolean', withSecure((c) => { c.production = 'yes'; }), /p\.production = "yes"; allowed: true or false/],
  ])('%s', (_name, input, message) => {
    let thrown: unknown;
    try {
      resolveConfig('p', input);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as Error).message).toMatch(message);
  });
});

/** The server container's environment of one role in a template. */
function serverEnv(t: Template, role: string): Record<string, unknown> {
  const defs = t.findResources('AWS::ECS::TaskDefinition');
  for (const d of Object.values(defs)) {
    const c = d.Properties.ContainerDefinitions.find((x: any) => x.Name === 'temporal');
    const env = Object.fromEntries((c?.Environment ?? []).map((e: any) => [e.Name, e.Value]));
    if (env.SERVICES === role || (role === 'frontend' && env.SERVICES === 'frontend,internal-frontend')) return env;
  }
  throw new Error(`no task definition for ${role}`);
}

function uiContainer(t: Template): any {
  for (const d of Object.values(t.findResources('AWS::ECS::TaskDefinition'))) {
    const c = d.Properties.ContainerDefinitions.find((x: any) => x.Name === 'ui');
    if (c) return c;
  }
  throw new Error('no UI task definition');
}

describe('template guards (prod and dev)', () => {
  let prod: Template;
  let prodStack: Stack;
  let dev: Template;
  /** One variant of dev for the optional settings: client CIDRs and a read-only UI. */
  let variant: Template;
  beforeAll(() => {
    const p = buildApp('prod', { ...ENVIRONMENTS }, { quick: true });
    prodStack = p.stack;
    prod = Template.fromStack(p.stack);
    dev = Template.fromStack(buildApp('dev', { ...ENVIRONMENTS }, { quick: true }).stack);
    variant = Template.fromStack(buildApp('v', {
      v: { ...ENVIRONMENTS.dev, network: { ...ENVIRONMENTS.dev.network, clientCidrs: ['10.99.0.0/16'] }, ui: { readOnly: true } },
    }, { quick: true }).stack);
  });

  test('every server role: JWKS URIs and permissions claim in prod, explicit no-auth in dev; frontend runs internal-frontend', () => {
    for (const role of ['frontend', 'history', 'matching', 'worker']) {
      const env = serverEnv(prod, role);
      expect(env.TEMPORAL_AUTH_JWKS_URIS).toBe('https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE11/.well-known/jwks.json');
      expect(env.TEMPORAL_AUTH_PERMISSIONS_CLAIM).toBe('permissions');
      expect(env.TEMPORAL_ALLOW_NO_AUTH).toBeUndefined();
      expect(serverEnv(dev, role).TEMPORAL_ALLOW_NO_AUTH).toBe('true');
      expect(serverEnv(dev, role).TEMPORAL_AUTH_JWKS_URIS).toBeUndefined();
      // No key material anywhere in the environment.
      expect(JSON.stringify(env)).not.toMatch(/PRIVATE KEY/);
    }
    expect(serverEnv(prod, 'frontend').SERVICES).toBe('frontend,internal-frontend');
    const fe = Object.values(prod.findResources('AWS::ECS::TaskDefinition'))
      .map((d: any) => d.Properties.ContainerDefinitions[0]).find((c: any) => c.Name === 'temporal'
        && c.Environment.some((e: any) => e.Name === 'SERVICES' && e.Value === 'frontend,internal-frontend'));
    const ports = fe.PortMappings.map((m: any) => m.ContainerPort);
    expect(ports).toEqual(expect.arrayContaining([7233, INTERNAL_FRONTEND_PORTS.grpc, INTERNAL_FRONTEND_PORTS.membership]));
  });

  test('TLS from the certificate resource: secret ARNs (never key material) on every role, exactly those two secrets readable, CA bundle output, HTTPS target health check', () => {
    const certs = (prodStack as any).certificates;
    const internode = prodStack.resolve(certs.internodeSecret.secretArn);
    const frontendSecret = prodStack.resolve(certs.frontendSecret.secretArn);
    for (const role of ['frontend', 'history', 'matching', 'worker']) {
      const env = serverEnv(prod, role);
      expect(env.TEMPORAL_TLS_INTERNODE_SECRET_ARN).toEqual(internode);
      expect(env.TEMPORAL_TLS_FRONTEND_SECRET_ARN).toEqual(frontendSecret);
      expect(env.TEMPORAL_ALLOW_PLAINTEXT).toBeUndefined();
      expect(serverEnv(dev, role).TEMPORAL_TLS_INTERNODE_SECRET_ARN).toBeDefined();
    }
    const statements = Object.values(prod.findResources('AWS::IAM::Policy'))
      .filter((p: any) => JSON.stringify(p.Properties.Roles).includes('ServerTaskRole'))
      .flatMap((p: any) => p.Properties.PolicyDocument.Statement);
    const sm = statements.filter((s: any) => JSON.stringify(s.Action).includes('secretsmanager:'));
    expect(sm).toHaveLength(1);
    expect(sm[0]).toMatchObject({ Action: 'secretsmanager:GetSecretValue', Effect: 'Allow' });
    expect(sm[0].Resource).toHaveLength(2);
    expect(sm[0].Resource).toEqual(expect.arrayContaining([internode, frontendSecret]));
    expect(prod.toJSON().Outputs.TemporalCaBundle.Value).toEqual(prodStack.resolve(certs.caBundle));
    prod.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { Port: 7233, HealthCheckProtocol: 'HTTPS', HealthCheckPort: '7243' });
    // Tasks start only after the certificates exist; the frontend certificate names the NLB.
    const certId = prodStack.getLogicalId(certs.resource.node.defaultChild);
    for (const svc of Object.values(prod.findResources('AWS::ECS::Service'))) expect(svc.DependsOn).toContain(certId);
    expect(JSON.stringify(prod.toJSON().Resources[certId].Properties.Config)).toMatch(/TemporalFrontendLoadBalancer[0-9A-F]+","DNSName"/);
  });

  test('frontend security group: NLB, UI, server roles and configured CIDRs only; internal-frontend only from server roles; never a VPC CIDR', () => {
    const sgs = prod.findResources('AWS::EC2::SecurityGroup');
    const idOf = (desc: string) => Object.keys(sgs).find((k) => sgs[k].Properties.GroupDescription === desc)!;
    const frontend = idOf('Temporal frontend tasks');
    const allowed = new Set([idOf('Internal NLB in front of the Temporal frontend (gRPC 7233)'), idOf('Temporal UI tasks'),
      idOf('Temporal frontend tasks'), idOf('Temporal history tasks'), idOf('Temporal matching tasks'), idOf('Temporal worker tasks')]);
    const serverSgs = new Set([...allowed].filter((k) => /frontend tasks|history tasks|matching tasks|worker tasks/.test(sgs[k].Properties.GroupDescription)));
    const ingress = Object.values(prod.findResources('AWS::EC2::SecurityGroupIngress'))
      .filter((r: any) => r.Properties.GroupId?.['Fn::GetAtt']?.[0] === frontend);
    expect(ingress.length).toBeGreaterThan(5);
    for (const r of ingress as any[]) {
      expect(r.Properties.CidrIp).toBeUndefined();
      expect(allowed.has(r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0])).toBe(true);
      if ([INTERNAL_FRONTEND_PORTS.grpc, INTERNAL_FRONTEND_PORTS.membership, INTERNAL_FRONTEND_PORTS.http].includes(r.Properties.FromPort)) {
        expect(serverSgs.has(r.Properties.SourceSecurityGroupId['Fn::GetAtt'][0])).toBe(true);
      }
    }
    expect(sgs[frontend].Properties.SecurityGroupIngress ?? []).toEqual([]);
    // The NLB keeps client IP preservation off (IP targets, TCP), so its security group is what the frontend sees.
    prod.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 7233,
      TargetGroupAttributes: Match.arrayWith([{ Key: 'preserve_client_ip.enabled', Value: 'false' }]),
    });
  });

  test('configured client CIDRs reach the frontend tasks directly; the default (VPC CIDR) only reaches the NLB', () => {
    const sgs = variant.findResources('AWS::EC2::SecurityGroup');
    const frontend = Object.keys(sgs).find((k) => sgs[k].Properties.GroupDescription === 'Temporal frontend tasks')!;
    const cidrs = (sgs[frontend].Properties.SecurityGroupIngress ?? []).map((r: any) => `${r.CidrIp}:${r.FromPort}`);
    expect(cidrs).toEqual(['10.99.0.0/16:7233']);
    const devSgs = dev.findResources('AWS::EC2::SecurityGroup');
    const devFrontend = Object.keys(devSgs).find((k) => devSgs[k].Properties.GroupDescription === 'Temporal frontend tasks')!;
    expect(devSgs[devFrontend].Properties.SecurityGroupIngress ?? []).toEqual([]);
  });

  test('UI: HTTPS on 443 with the configured certificate, port 80 only redirects, OIDC with the client secret as an ECS secret', () => {
    prod.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443, Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: ENVIRONMENTS.prod.ui!.certificateArn }],
    });
    prod.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80, Protocol: 'HTTP',
      DefaultActions: [{ Type: 'redirect', RedirectConfig: Match.objectLike({ Port: '443', Protocol: 'HTTPS' }) }],
    });
    const listeners = prod.findResources('AWS::ElasticLoadBalancingV2::Listener', { Properties: { Port: 80 } });
    for (const l of Object.values(listeners)) expect(l.Properties.DefaultActions.every((a: any) => a.Type === 'redirect')).toBe(true);
    const ui = uiContainer(prod);
    const env = Object.fromEntries(ui.Environment.map((e: any) => [e.Name, e.Value]));
    expect(env).toMatchObject({
      TEMPORAL_AUTH_ENABLED: 'true',
      TEMPORAL_AUTH_PROVIDER_URL: ENVIRONMENTS.prod.security!.auth!.issuerUrl,
      TEMPORAL_AUTH_CLIENT_ID: ENVIRONMENTS.prod.ui!.oidc!.clientId,
      TEMPORAL_AUTH_CALLBACK_URL: `https://${ENVIRONMENTS.prod.ui!.domainName}/auth/sso/callback`,
      TEMPORAL_AUTH_SCOPES: 'openid,profile,email',
    });
    expect(env.TEMPORAL_AUTH_CLIENT_SECRET).toBeUndefined();
    expect(ui.Secrets).toEqual([{ Name: 'TEMPORAL_AUTH_CLIENT_SECRET', ValueFrom: ENVIRONMENTS.prod.ui!.oidc!.clientSecretArn }]);
    expect(env.TEMPORAL_DISABLE_WRITE_ACTIONS).toBeUndefined();
    // dev: no login, plain HTTP listener only.
    const devEnv = Object.fromEntries(uiContainer(dev).Environment.map((e: any) => [e.Name, e.Value]));
    expect(devEnv.TEMPORAL_AUTH_ENABLED).toBeUndefined();
    expect(Object.keys(dev.findResources('AWS::ElasticLoadBalancingV2::Listener', { Properties: { Port: 443 } }))).toHaveLength(0);
  });

  test('read-only UI by config', () => {
    const env = Object.fromEntries(uiContainer(variant).Environment.map((e: any) => [e.Name, e.Value]));
    expect(env.TEMPORAL_DISABLE_WRITE_ACTIONS).toBe('true');
  });

  test('DSQL: dsql.adminPrincipals are left out of both denials (break-glass), and only they', () => {
    const ops = 'arn:aws:iam::210987654321:role/temporal-dba';
    const { stack } = buildApp('prod', { ...ENVIRONMENTS, prod: { ...ENVIRONMENTS.prod, dsql: { ...ENVIRONMENTS.prod.dsql, adminPrincipals: [ops] } } }, { quick: true });
    const doc = Object.values(Template.fromStack(stack).findResources('AWS::DSQL::Cluster'))[0].Properties.PolicyDocument;
    const text = JSON.stringify(stack.resolve(doc));
    // both deny statements carry the exemption (the rendered policy is a JSON string joined with the VPC id)
    expect(text.split('ArnNotEquals').length - 1).toBe(2);
    expect(text.split('arn:aws:iam::210987654321:role/temporal-dba').length - 1).toBe(2);
    const plain = dsqlVpcOnlyPolicy('vpc-1', [ops]) as any;
    expect(plain.Statement.map((st: any) => st.Condition)).toEqual([
      { Null: { 'aws:SourceVpc': 'true' }, ArnNotEquals: { 'aws:PrincipalArn': [ops] } },
      { StringNotEquals: { 'aws:SourceVpc': 'vpc-1' }, ArnNotEquals: { 'aws:PrincipalArn': [ops] } },
    ]);
    expect((dsqlVpcOnlyPolicy('vpc-1') as any).Statement.map((st: any) => Object.keys(st.Condition))).toEqual([['Null'], ['StringNotEquals']]);
  });

  test.each([
    [{ adminPrincipals: ['temporal-dba'] }, 'Invalid configuration: prod.dsql.adminPrincipals[0] = "temporal-dba"; allowed: an IAM role or user ARN'],
    [{ adminPrincipals: 'arn:aws:iam::210987654321:role/x' }, 'Invalid configuration: prod.dsql.adminPrincipals = "arn:aws:iam::210987654321:role/x"; allowed: a list of IAM role or user ARNs'],
    [{ adminPrincipals: ['arn:aws:iam::210987654321:group/admins'] }, 'allowed: an IAM role or user ARN'],
    [{ adminPrincipals: ['arn:aws:iam::210987654321:role/x'], privateLink: false }, 'allowed: nothing without dsql.privateLink'],
  ])('DSQL: refuses adminPrincipals %j', (dsql, message) => {
    expect(() => resolveConfig('prod', { ...ENVIRONMENTS.prod, production: false, security: { allowNoAuth: true }, dsql: { ...ENVIRONMENTS.prod.dsql, ...dsql } } as any)).toThrow(message);
  });

  test('DSQL: resource policy denies DbConnect and DbConnectAdmin from outside our VPC', () => {
    const clusters = prod.findResources('AWS::DSQL::Cluster');
    expect(Object.keys(clusters)).toHaveLength(1);
    const doc = Object.values(clusters)[0].Properties.PolicyDocument;
    const resolved = prodStack.resolve(prodStack.toJsonString(dsqlVpcOnlyPolicy((prodStack as any).vpc.vpcId)));
    expect(doc).toEqual(resolved);
    // The rendered JSON carries both statements and refers to this stack's VPC.
    const text = JSON.stringify(doc);
    expect(text).toContain('DenyConnectFromOutsideAnyVpc');
    expect(text).toContain('DenyConnectFromOtherVpcs');
    expect(text).toContain('dsql:DbConnectAdmin');
    const vpcId = Object.keys(prod.findResources('AWS::EC2::VPC'))[0];
    expect(text).toContain(vpcId);
  });

  test('OpenSearch: the server role may write and delete documents but never DELETE an index', () => {
    const domain = Object.values(prod.findResources('AWS::OpenSearchService::Domain'))[0];
    const statements: any[] = domain.Properties.AccessPolicies.Statement;
    const deletes = statements.filter((s) => s.Effect === 'Allow' && [s.Action].flat().some((a: string) => a === 'es:ESHttpDelete' || a === 'es:*'));
    expect(deletes.length).toBeGreaterThan(0);
    for (const s of deletes) {
      expect([s.Action].flat()).not.toContain('es:*');
      for (const r of [s.Resource].flat()) {
        // A DELETE is allowed only below the index (…/<index>/_doc/*) or on search contexts (scroll, point in time), never on …/<index> itself.
        expect(JSON.stringify(r)).toMatch(/\/_doc\/\*|\/_search\/scroll|\/_pit\*|\/_search\/point_in_time\*/);
      }
    }
    const writes = statements.filter((s) => s.Effect === 'Allow' && [s.Action].flat().some((a: string) => a === 'es:ESHttpPut' || a === 'es:ESHttpPost'));
    expect(writes.length).toBeGreaterThan(0);
  });
  // OpenSearch fine-grained access control and audit logs (issue 24 item 6); what the index job does
  // with them on a real node: test/visibility/fgac.test.ts and test/e2e/opensearch-fgac.test.ts.
  const one = (t: Template, type: string): any => {
    const all = Object.values(t.findResources(type));
    expect(all).toHaveLength(1);
    return all[0];
  };

  test('OpenSearch FGAC: on in prod with the index job\'s role as IAM master user (no internal user database), and its prerequisites', () => {
    const p = one(prod, 'AWS::OpenSearchService::Domain').Properties;
    const indexRoleId = Object.keys(prod.findResources('AWS::IAM::Role')).find((k) => k.startsWith('VisibilityIndexHandlerRole'));
    expect(p.AdvancedSecurityOptions).toEqual({
      Enabled: true,
      InternalUserDatabaseEnabled: false,
      MasterUserOptions: { MasterUserARN: { 'Fn::GetAtt': [indexRoleId, 'Arn'] } },
    });
    expect(p.EncryptionAtRestOptions.Enabled).toBe(true);
    expect(p.NodeToNodeEncryptionOptions.Enabled).toBe(true);
    expect(p.DomainEndpointOptions).toMatchObject({ EnforceHTTPS: true, TLSSecurityPolicy: 'Policy-Min-TLS-1-2-PFS-2023-10' });
  });

  test('OpenSearch FGAC: prod audit logs go to their own log group (platform key), which the logs resource policy lets es.amazonaws.com write', () => {
    const audit = one(prod, 'AWS::OpenSearchService::Domain').Properties.LogPublishingOptions.AUDIT_LOGS;
    expect(audit.Enabled).toBe(true);
    const groupId = audit.CloudWatchLogsLogGroupArn['Fn::GetAtt'][0];
    expect(groupId).toMatch(/^VisibilityAuditLogs/);
    const group = prod.toJSON().Resources[groupId];
    expect(group.Type).toBe('AWS::Logs::LogGroup');
    expect(group.Properties.KmsKeyId).toBeDefined();
    const text = JSON.stringify(one(prod, 'AWS::Logs::ResourcePolicy').Properties.PolicyDocument);
    expect(text).toContain('es.amazonaws.com');
    expect(text).toContain(groupId);
  });

  test('OpenSearch FGAC: the prod index job gets the servers and audit as properties, and may call exactly the security API paths it uses', () => {
    const p = one(prod, 'Custom::TemporalVisibilityIndex').Properties;
    expect(p.FineGrainedAccessControl).toBe('true');
    expect(p.AuditLogs).toBe('true');
    expect(p.ServerPrincipals).toEqual([{ 'Fn::GetAtt': [expect.stringMatching(/^TemporalServerTaskRole/), 'Arn'] }]);
    expect(p.AllAccessPrincipals).toEqual([]);
    expect(p.ReadAllPrincipals).toEqual([]);
    const domainPolicy = JSON.stringify(prodStack.resolve(one(prod, 'AWS::OpenSearchService::Domain').Properties.AccessPolicies));
    for (const path of ['roles/temporal_visibility_server', 'rolesmapping/temporal_visibility_server', 'rolesmapping/all_access', 'rolesmapping/readall', 'audit', 'audit/config']) {
      expect(domainPolicy).toContain(`/_plugins/_security/api/${path}"`);
    }
    // Not the whole security API: the master user's role reaches only those paths through the access policy.
    expect(domainPolicy).not.toContain('/_plugins/_security/api/*');
    expect(domainPolicy).not.toContain('/_plugins/_security/api/internalusers');
  });

  test('OpenSearch FGAC: dev has none (no master user, no audit logs, no security properties or paths)', () => {
    const domain = one(dev, 'AWS::OpenSearchService::Domain');
    expect(domain.Properties.AdvancedSecurityOptions).toBeUndefined();
    expect(domain.Properties.LogPublishingOptions.AUDIT_LOGS).toBeUndefined();
    expect(one(dev, 'Custom::TemporalVisibilityIndex').Properties.FineGrainedAccessControl).toBeUndefined();
    expect(JSON.stringify(dev.toJSON())).not.toContain('_plugins/_security');
  });

  test('OpenSearch FGAC: operator ARNs reach the index job and pass the access policy (FGAC decides what they may do)', () => {
    const OPS = 'arn:aws:iam::210987654321:role/platform-oncall';
    const READER = 'arn:aws:iam::210987654321:user/auditor';
    const { stack } = buildApp('prod', { ...ENVIRONMENTS, prod: { ...ENVIRONMENTS.prod, opensearch: { ...ENVIRONMENTS.prod.opensearch, allAccessPrincipals: [OPS], readAllPrincipals: [READER] } } }, { quick: true });
    const t = Template.fromStack(stack);
    const p = one(t, 'Custom::TemporalVisibilityIndex').Properties;
    expect(p.AllAccessPrincipals).toEqual([OPS]);
    expect(p.ReadAllPrincipals).toEqual([READER]);
    const policy = stack.resolve(one(t, 'AWS::OpenSearchService::Domain').Properties.AccessPolicies);
    const op = policy.Statement.find((s: any) => s.Sid === 'OperatorsFineGrained');
    expect(op.Principal.AWS.sort()).toEqual([OPS, READER].sort());
    expect(JSON.stringify(op.Resource)).toContain(':domain/temporal-prod/*');
  });
});

describe('OpenSearch fine-grained access control (config)', () => {
  const OPS = 'arn:aws:iam::210987654321:role/platform-oncall';
  const dev = (opensearch: Record<string, unknown>, production = false) =>
    resolveConfig('dev', { ...ENVIRONMENTS.dev, production, opensearch: { ...ENVIRONMENTS.dev.opensearch, ...opensearch } } as any).opensearch;

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

describe('TemporalServices with TLS (the certificate secrets as the certificate construct will pass them)', () => {
  let t: Template;
  beforeAll(() => {
    const stack = new Stack(new App(), 'S', { env: { region: 'eu-west-1', account: '123456789012' } });
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0, subnetConfiguration: [{ name: 'p', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
    const key = new kms.Key(stack, 'Key');
    const internodeSecret = new secretsmanager.Secret(stack, 'Internode', { encryptionKey: key });
    const frontendSecret = new secretsmanager.Secret(stack, 'Frontend', { encryptionKey: key });
    new secretsmanager.Secret(stack, 'Unrelated');
    const sizing = resolveConfig('t', { numHistoryShards: 4, security: { allowNoAuth: true } }).services;
    new TemporalServices(stack, 'T', {
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      serverImage: ecs.ContainerImage.fromRegistry('registry.example.com/temporal:1.31.2'),
      server: {
        dsqlEndpoint: 'x.dsql.eu-west-1.on.aws', dsqlRegion: 'eu-west-1', databaseRole: 'temporal_server',
        openSearchEndpoint: 'https://search.example.com', openSearchRegion: 'eu-west-1', visibilityIndex: 'temporal_visibility_v1_t',
        numHistoryShards: 4, dynamicConfigYaml: '',
      },
      sizing,
      auth: { issuerUrl: 'https://idp.example.com', jwksUrls: ['https://idp.example.com/keys'], audience: 'temporal', tenantId: 'tenant-a' },
      tls: { internodeSecret, frontendSecret, caBundle: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' },
    });
    t = Template.fromStack(stack);
  });

  test('servers get the two secret ARNs (not the material) and no plaintext switch; the NLB checks the HTTP API over TLS', () => {
    const env = serverEnv(t, 'history');
    expect(Object.keys(env)).toEqual(expect.arrayContaining(['TEMPORAL_TLS_INTERNODE_SECRET_ARN', 'TEMPORAL_TLS_FRONTEND_SECRET_ARN']));
    expect(env.TEMPORAL_ALLOW_PLAINTEXT).toBeUndefined();
    expect(env.TEMPORAL_AUTH_AUDIENCE).toBe('temporal');
    expect(env.TEMPORAL_AUTH_ISSUER).toBe('https://idp.example.com');
    expect(env.TEMPORAL_AUTH_TENANT_ID).toBe('tenant-a');
    expect(env.TEMPORAL_AUTH_AUDIENCE_CLAIM).toBeUndefined(); // aud, the server's default
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { Port: 7233, HealthCheckProtocol: 'HTTPS', HealthCheckPort: '7243' });
  });

  test('task role: GetSecretValue on exactly the two certificate secrets, kms:Decrypt via Secrets Manager on their key', () => {
    const secrets = t.findResources('AWS::SecretsManager::Secret');
    const id = (prefix: string) => Object.keys(secrets).find((k) => k.startsWith(prefix))!;
    const policies = Object.values(t.findResources('AWS::IAM::Policy'))
      .filter((p: any) => JSON.stringify(p.Properties.Roles).includes('ServerTaskRole'));
    const statements = policies.flatMap((p: any) => p.Properties.PolicyDocument.Statement);
    const sm = statements.filter((s: any) => JSON.stringify(s.Action).includes('secretsmanager:'));
    expect(sm).toHaveLength(1);
    expect(sm[0].Action).toBe('secretsmanager:GetSecretValue');
    expect(sm[0].Resource).toEqual([{ Ref: id('Internode') }, { Ref: id('Frontend') }]);
    const kmsStatements = statements.filter((s: any) => JSON.stringify(s.Action).includes('kms:'));
    expect(kmsStatements).toHaveLength(1);
    expect(kmsStatements[0]).toMatchObject({ Action: 'kms:Decrypt', Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } } });
  });

  test('the UI verifies the frontend with the CA bundle and the frontend server name', () => {
    const env = Object.fromEntries(uiContainer(t).Environment.map((e: any) => [e.Name, e.Value]));
    expect(env.TEMPORAL_TLS_CA_DATA).toEqual({ 'Fn::Base64': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' });
    expect(env.TEMPORAL_TLS_SERVER_NAME).toBe('frontend.temporal.internal');
    expect(env.TEMPORAL_TLS_ENABLE_HOST_VERIFICATION).toBe('true');
  });
});
