/**
 * Image sources (lib/services/images.ts): production pulls the UI and the collector from this
 * account's ECR through pull-through cache rules; development may pull from the public registries.
 * Template assertions only: the pull itself (ECR fetching from Docker Hub / ECR Public on the first
 * pull) needs a real account and is not exercised here. The digests are made-up fixtures.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import { ConfigError, PlatformConfigInput, resolveConfig } from '../../lib/config';
import { parseImageRef } from '../../lib/services/images';
import { buildApp } from './helpers';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const CRED = 'arn:aws:secretsmanager:us-east-1:210987654321:secret:ecr-pullthroughcache/docker-hub-AbCdEf';
const prodInput = (patch: Partial<PlatformConfigInput> = {}): PlatformConfigInput => ({
  ...ENVIRONMENTS.prod, images: { dockerHubCredentialArn: CRED }, ...patch,
});

type Resources = Record<string, { Type: string; Properties: any; DependsOn?: string[] }>;
function synth(envName: 'prod', input: PlatformConfigInput): { t: Template; resources: Resources } {
  const { stack } = buildApp(envName, { ...ENVIRONMENTS, [envName]: input }, { quick: true });
  const t = Template.fromStack(stack);
  return { t, resources: t.toJSON().Resources };
}
/** Every container's Image, by container name, as JSON text (tokens included). */
function images(resources: Resources): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const r of Object.values(resources)) {
    if (r.Type !== 'AWS::ECS::TaskDefinition') continue;
    for (const c of r.Properties.ContainerDefinitions) (out[c.Name] ??= []).push(JSON.stringify(c.Image));
  }
  return out;
}

describe('image references', () => {
  test.each([
    ['temporalio/ui:2.56.1', { registry: 'docker-hub', repository: 'temporalio/ui', tag: '2.56.1' }],
    ['nginx:1.27', { registry: 'docker-hub', repository: 'library/nginx', tag: '1.27' }],
    [`docker.io/temporalio/ui@${DIGEST}`, { registry: 'docker-hub', repository: 'temporalio/ui', digest: DIGEST }],
    ['public.ecr.aws/aws-observability/aws-otel-collector:v0.50.0', { registry: 'ecr-public', repository: 'aws-observability/aws-otel-collector', tag: 'v0.50.0' }],
    ['210987654321.dkr.ecr.eu-west-1.amazonaws.com/mirror/ui:1', { registry: 'ecr-private', repository: 'mirror/ui', tag: '1' }],
    ['registry.example.com:5000/ui:1', { registry: 'other', repository: 'ui', tag: '1' }],
  ])('%s', (ref, expected) => {
    expect(parseImageRef(ref)).toMatchObject(expected);
  });
});

describe('images config', () => {
  test('defaults: public outside production, pull-through cache in production', () => {
    expect(resolveConfig('dev', ENVIRONMENTS.dev).images.source).toBe('public');
    expect(resolveConfig('prod', ENVIRONMENTS.prod).images.source).toBe('pullThroughCache');
  });

  test('production refuses public pulls, naming the field', () => {
    expect(() => resolveConfig('prod', prodInput({ images: { source: 'public' } })))
      .toThrow(/prod\.images\.source = "public".*'pullThroughCache' in an environment marked production/);
  });

  test('the Docker Hub rule needs a credential whose name starts with ecr-pullthroughcache/', () => {
    expect(() => resolveConfig('prod', prodInput({ images: {} }))).toThrow(/prod\.images\.dockerHubCredentialArn = undefined.*uiImage temporalio\/ui:2\.56\.1 is on Docker Hub/);
    const wrongName = CRED.replace('ecr-pullthroughcache/', 'dockerhub/');
    expect(() => resolveConfig('prod', prodInput({ images: { dockerHubCredentialArn: wrongName } })))
      .toThrow(/prod\.images\.dockerHubCredentialArn = ".*secret:dockerhub\/docker-hub-AbCdEf".*ecr-pullthroughcache\/<name>/);
    expect(() => resolveConfig('prod', prodInput({ images: { dockerHubCredentialArn: CRED.replace('us-east-1', 'eu-west-1') } })))
      .toThrow(/in the stack's Region us-east-1/);
  });

  test.each([
    ['uiDigest', 'sha256:0123'],
    ['uiDigest', `sha256:${'0123456789ABCDEF'.repeat(4)}`],
    ['collectorDigest', `md5:${'0'.repeat(64)}`],
    ['collectorDigest', 42],
  ])('refuses images.%s = %p', (field, value) => {
    const run = () => resolveConfig('prod', prodInput({ images: { dockerHubCredentialArn: CRED, [field]: value } as any }));
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(new RegExp(`prod\\.images\\.${field} = .*an image digest sha256:<64 lowercase hex digits>`));
  });

  test('digests pin the references; a uiImage with its own digest refuses a second one', () => {
    const c = resolveConfig('prod', prodInput({ images: { dockerHubCredentialArn: CRED, uiDigest: DIGEST, collectorDigest: DIGEST } }));
    expect(c.uiImage).toBe(`temporalio/ui:2.56.1@${DIGEST}`);
    expect(c.observability.collectorImage).toBe(`public.ecr.aws/aws-observability/aws-otel-collector:v0.50.0@${DIGEST}`);
    expect(() => resolveConfig('prod', prodInput({ uiImage: `temporalio/ui@${DIGEST}`, images: { dockerHubCredentialArn: CRED, uiDigest: DIGEST } })))
      .toThrow(/prod\.images\.uiDigest = .*unset while uiImage carries a digest of its own/);
  });

  test('the cache serves Docker Hub, ECR Public and this account\'s ECR only; production servers come from ECR', () => {
    expect(() => resolveConfig('prod', prodInput({ uiImage: `ghcr.io/x/ui@${DIGEST}` })))
      .toThrow(/prod\.uiImage = "ghcr\.io\/x\/ui@sha256:.*an image on Docker Hub, ECR Public or this account's ECR/);
    expect(() => resolveConfig('prod', prodInput({ serverImage: 'temporalio/server:1.31.2' })))
      .toThrow(/prod\.serverImage = "temporalio\/server:1\.31\.2".*an ECR image/);
  });
});

describe('templates', () => {
  const prod = synth('prod', prodInput({ images: { dockerHubCredentialArn: CRED, uiDigest: DIGEST } }));

  test('prod: one pull-through rule per upstream registry, Docker Hub with its credential', () => {
    prod.t.resourceCountIs('AWS::ECR::PullThroughCacheRule', 2);
    prod.t.hasResourceProperties('AWS::ECR::PullThroughCacheRule', {
      EcrRepositoryPrefix: 'prod/docker-hub', UpstreamRegistry: 'docker-hub', UpstreamRegistryUrl: 'registry-1.docker.io', CredentialArn: CRED,
    });
    const ecrPublic = Object.values(prod.resources).filter((r) => r.Type === 'AWS::ECR::PullThroughCacheRule' && r.Properties.UpstreamRegistry === 'ecr-public');
    expect(ecrPublic.map((r) => r.Properties)).toEqual([{ EcrRepositoryPrefix: 'prod/ecr-public', UpstreamRegistry: 'ecr-public', UpstreamRegistryUrl: 'public.ecr.aws' }]);
  });

  test('prod: every container image comes from this account\'s ECR, the UI by digest', () => {
    const byName = images(prod.resources);
    for (const [name, refs] of Object.entries(byName)) {
      for (const ref of refs) {
        expect([name, ref]).toEqual([name, expect.stringMatching(/\.dkr\.ecr\.|"Fn::Sub":".*\.dkr\.ecr\./)]);
        expect(ref).not.toMatch(/public\.ecr\.aws|docker\.io|"temporalio\//);
      }
    }
    expect(byName.ui).toEqual([expect.stringContaining(`/prod/docker-hub/temporalio/ui@${DIGEST}`)]);
    expect(byName['otel-collector']).toHaveLength(4);
    for (const ref of byName['otel-collector']) expect(ref).toContain('/prod/ecr-public/aws-observability/aws-otel-collector:v0.50.0');
  });

  test('prod: the execution roles may import into and create only their repository, and the tasks wait for the rule', () => {
    const policies = Object.values(prod.resources).filter((r) => r.Type === 'AWS::IAM::Policy').map((r) => JSON.stringify(r.Properties.PolicyDocument));
    const importing = policies.filter((p) => p.includes('ecr:BatchImportUpstreamImage'));
    expect(importing).toHaveLength(5); // the UI's and the four server roles' execution roles
    const ui = importing.filter((p) => p.includes('repository/prod/docker-hub/temporalio/ui'));
    expect(ui).toHaveLength(1);
    const stmt = JSON.parse(ui[0]).Statement.find((s: any) => s.Action.includes?.('ecr:BatchImportUpstreamImage'));
    expect([...stmt.Action].sort()).toEqual(['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:BatchImportUpstreamImage', 'ecr:CreateRepository', 'ecr:GetDownloadUrlForLayer']);
    expect(JSON.stringify(stmt.Resource)).toMatch(/repository\/prod\/docker-hub\/temporalio\/ui"/);
    const rules = Object.entries(prod.resources).filter(([, r]) => r.Type === 'AWS::ECR::PullThroughCacheRule').map(([id]) => id);
    for (const r of Object.values(prod.resources).filter((x) => x.Type === 'AWS::ECS::TaskDefinition')) {
      expect(rules.some((id) => r.DependsOn?.includes(id))).toBe(true);
    }
  });
  // Development (public registries, no rules) is asserted on test/cdk/egress.test.ts's dev synth.
});
