/**
 * Egress of every security group the platform makes (lib/network/egress.ts, docs/security.md
 * "Egress"): what each one may reach, rule by rule, on the synthesized templates. Whether the
 * running tasks need nothing else is shown by the local stack and e2e tests only for the Temporal
 * traffic; the AWS side (image pulls through the endpoints, the S3 prefix-list lookup) needs an account.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import type { PlatformConfigInput } from '../../lib/config';
import { buildApp } from './helpers';

type Resources = Record<string, { Type: string; Properties: any }>;

function synth(envName: string, input: PlatformConfigInput): Resources {
  const { stack } = buildApp(envName, { ...ENVIRONMENTS, [envName]: input }, { quick: true });
  return Template.fromStack(stack).toJSON().Resources;
}

/** The logical id a reference points at (`{Ref: X}` or `{Fn::GetAtt: [X, ...]}`). */
const target = (v: any): string => (typeof v === 'string' ? v : v?.Ref ?? v?.['Fn::GetAtt']?.[0] ?? JSON.stringify(v));

/**
 * Egress rules of security group `sg` (inline and separate resources) as `<proto>/<from>-<to> -> <peer>`,
 * where peer is `0.0.0.0/0`, `sg:<logical id>` or `pl:s3`; sorted.
 */
function egress(resources: Resources, sg: string): string[] {
  const rules: any[] = [...(resources[sg].Properties.SecurityGroupEgress ?? [])];
  for (const r of Object.values(resources)) {
    if (r.Type === 'AWS::EC2::SecurityGroupEgress' && target(r.Properties.GroupId) === sg) rules.push(r.Properties);
  }
  return rules.map((r) => {
    const peer = r.CidrIp ?? (r.DestinationSecurityGroupId ? `sg:${target(r.DestinationSecurityGroupId)}` : r.DestinationPrefixListId ? `pl:${target(r.DestinationPrefixListId)}` : '?');
    return `${r.IpProtocol}/${r.FromPort}-${r.ToPort} -> ${peer}`;
  }).sort();
}

/** Logical id of the one security group whose description is `description` (or starts with it). */
function sgId(resources: Resources, description: string | RegExp): string {
  const ids = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::EC2::SecurityGroup'
    && (typeof description === 'string' ? r.Properties.GroupDescription === description : description.test(r.Properties.GroupDescription))).map(([id]) => id);
  expect(ids).toHaveLength(1);
  return ids[0];
}

const prod = synth('prod', ENVIRONMENTS.prod);
const endpointSgs = (resources: Resources) => Object.entries(resources)
  .filter(([, r]) => r.Type === 'AWS::EC2::SecurityGroup' && /^VPC endpoint /.test(r.Properties.GroupDescription)).map(([id]) => id).sort();
const s3 = (resources: Resources) => {
  const ids = Object.keys(resources).filter((id) => id.startsWith('EgressS3PrefixListLookup') && resources[id].Type === 'Custom::AWS');
  expect(ids).toHaveLength(1);
  return `pl:${ids[0]}`;
};
const awsApis = (resources: Resources) => [...endpointSgs(resources).map((id) => `tcp/443-443 -> sg:${id}`), `tcp/443-443 -> ${s3(resources)}`];

describe('prod', () => {
  const r = prod;
  const role = (name: string) => sgId(r, `Temporal ${name} tasks`);
  const dsql = sgId(r, /^DSQL PrivateLink endpoint/);
  const domain = Object.keys(r).find((id) => /^Visibility.*SecurityGroup/.test(id) && r[id].Type === 'AWS::EC2::SecurityGroup')!;
  const nlb = sgId(r, 'Internal NLB in front of the Temporal frontend (gRPC 7233)');

  test('no security group allows all traffic out', () => {
    for (const [id, res] of Object.entries(r)) {
      if (res.Type !== 'AWS::EC2::SecurityGroup') continue;
      expect([id, egress(r, id).filter((e) => e.startsWith('-1/'))]).toEqual([id, expect.not.arrayContaining([expect.stringMatching(/0\.0\.0\.0\/0$/)])]);
    }
  });

  test('the six interface endpoints are the AWS APIs the tasks reach', () => {
    expect(endpointSgs(r)).toHaveLength(6);
  });

  test.each(['history', 'matching', 'worker'])('%s: other roles\' ports, DSQL, OpenSearch, AWS APIs; nothing outside the VPC', (name) => {
    const rules = egress(r, role(name));
    expect(rules).toEqual(expect.arrayContaining([...awsApis(r), `tcp/5432-5432 -> sg:${dsql}`, `tcp/443-443 -> sg:${domain}`]));
    expect(rules.filter((e) => e.endsWith('0.0.0.0/0'))).toEqual([]);
    // Membership to every role (and internal-frontend), gRPC to history and matching.
    for (const [peer, port] of [['frontend', 6933], ['history', 6934], ['matching', 6935], ['worker', 6939], ['frontend', 6936], ['history', 7234], ['matching', 7235], ['frontend', 7236]] as const) {
      expect(rules).toContain(`tcp/${port}-${port} -> sg:${role(peer)}`);
    }
    for (const port of [7236, 7246]) expect(rules).toContain(`tcp/${port}-${port} -> sg:${role('frontend')}`); // internal-frontend gRPC, HTTP
    // History calls the frontend's HTTP API (Nexus callbacks), the worker the frontend's gRPC API.
    const extra = { history: [7243], matching: [], worker: [7233] }[name]!;
    for (const port of extra) expect(rules).toContain(`tcp/${port}-${port} -> sg:${role('frontend')}`);
    // Nothing else: the count is the sum of the above.
    expect(rules).toHaveLength(awsApis(r).length + 2 + 5 + 2 + 2 + extra.length); // AWS APIs, DSQL + OpenSearch, 5 membership, 2 gRPC, 2 internal-frontend
  });

  test('frontend: also 443 anywhere, for the issuer\'s JWKS (a host name)', () => {
    const rules = egress(r, role('frontend'));
    expect(rules).toEqual(expect.arrayContaining([...awsApis(r), `tcp/5432-5432 -> sg:${dsql}`, `tcp/443-443 -> sg:${domain}`, 'tcp/443-443 -> 0.0.0.0/0']));
    expect(rules.filter((e) => e.endsWith('0.0.0.0/0'))).toEqual(['tcp/443-443 -> 0.0.0.0/0']);
    // Other frontend tasks: membership of the frontend and of the internal-frontend.
    for (const port of [6933, 6936]) expect(rules).toContain(`tcp/${port}-${port} -> sg:${role('frontend')}`);
    const anywhere = [...(r[role('frontend')].Properties.SecurityGroupEgress ?? [])].find((e: any) => e.CidrIp === '0.0.0.0/0');
    expect(anywhere.Description).toMatch(/token issuer \(JWKS/);
  });

  test('UI: the frontend, AWS APIs, and 443 anywhere for its OpenID provider', () => {
    const rules = egress(r, sgId(r, 'Temporal UI tasks'));
    expect(rules).toEqual([...awsApis(r), 'tcp/443-443 -> 0.0.0.0/0', `tcp/7233-7233 -> sg:${role('frontend')}`].sort());
  });

  test('schema and index jobs: DSQL and OpenSearch only', () => {
    const jobs = sgId(r, 'Temporal schema and visibility index jobs (Lambda): DSQL and OpenSearch');
    expect(egress(r, jobs)).toEqual([`tcp/443-443 -> sg:${domain}`, `tcp/5432-5432 -> sg:${dsql}`]);
  });

  test('namespaces job: the NLB, the Secrets Manager endpoint, 443 anywhere for the token URL', () => {
    const ns = Object.keys(r).find((id) => id.startsWith('NamespacesHandlerSecurityGroup') && r[id].Type === 'AWS::EC2::SecurityGroup')!;
    const sm = endpointSgs(r).find((id) => id.startsWith('NetworkSecretsManager'))!;
    expect(egress(r, ns)).toEqual(['tcp/443-443 -> 0.0.0.0/0', `tcp/443-443 -> sg:${sm}`, `tcp/7233-7233 -> sg:${nlb}`]);
  });

  test('the S3 prefix list is looked up by the Region\'s name at deploy time', () => {
    const lookup = Object.values(r).find((x) => x.Type === 'Custom::AWS')!;
    expect(JSON.stringify(lookup.Properties.Update)).toContain('DescribePrefixLists');
    expect(JSON.stringify(lookup.Properties.Update)).toContain('com.amazonaws.us-east-1.s3');
  });
});

describe('variants', () => {
  test('dev (public images, no token check, no UI login; here with AMP): 443 anywhere for the public registries only', () => {
    const r = synth('dev', { ...ENVIRONMENTS.dev, observability: { ...ENVIRONMENTS.dev.observability, managedPrometheus: 'create' } });
    // AMP remote write goes through its own interface endpoint, not the NAT.
    expect(Object.values(r).filter((x) => x.Type === 'AWS::EC2::VPCEndpoint' && JSON.stringify(x.Properties.ServiceName).includes('.aps-workspaces'))).toHaveLength(1);
    expect(egress(r, sgId(r, 'Temporal history tasks'))).toContain(`tcp/443-443 -> sg:${endpointSgs(r).find((id) => id.startsWith('NetworkApsWorkspaces'))}`);
    // Development pulls from the public registries (lib/services/images.ts): no pull-through rules.
    expect(Object.values(r).filter((x) => x.Type === 'AWS::ECR::PullThroughCacheRule')).toEqual([]);
    const uiTask = Object.values(r).find((x) => x.Type === 'AWS::ECS::TaskDefinition' && x.Properties.ContainerDefinitions[0].Name === 'ui')!;
    expect(uiTask.Properties.ContainerDefinitions[0].Image).toBe('temporalio/ui:2.56.1');
    const frontend = sgId(r, 'Temporal frontend tasks');
    const anywhere = [...(r[frontend].Properties.SecurityGroupEgress ?? [])].filter((e: any) => e.CidrIp === '0.0.0.0/0');
    expect(anywhere.map((e: any) => [e.FromPort, e.Description])).toEqual([[443, 'Collector image from a public registry']]);
    const ui = sgId(r, 'Temporal UI tasks');
    expect([...(r[ui].Properties.SecurityGroupEgress ?? [])].filter((e: any) => e.CidrIp === '0.0.0.0/0').map((e: any) => e.Description))
      .toEqual(['UI image from a public registry']);
  });

  // One synth for both (each synth costs seconds of the npm test budget).
  const bare = synth('bare', {
    ...ENVIRONMENTS.dev, network: { ...ENVIRONMENTS.dev.network, createVpcEndpoints: false }, dsql: { ...ENVIRONMENTS.dev.dsql, privateLink: false },
  });

  test('without VPC endpoints: AWS APIs through the NAT gateways, no lookup', () => {
    expect(Object.values(bare).filter((x) => x.Type === 'Custom::AWS')).toEqual([]);
    const history = sgId(bare, 'Temporal history tasks');
    expect(egress(bare, history).filter((e) => e.startsWith('tcp/443') && e.endsWith('0.0.0.0/0'))).toEqual(['tcp/443-443 -> 0.0.0.0/0']);
  });

  test('DSQL without PrivateLink: 5432 anywhere for the servers and the schema job', () => {
    for (const sg of [sgId(bare, 'Temporal worker tasks'), sgId(bare, 'Temporal schema and visibility index jobs (Lambda): DSQL and OpenSearch')]) {
      expect(egress(bare, sg)).toContain('tcp/5432-5432 -> 0.0.0.0/0');
    }
  });
});

describe('ordering', () => {
  test('prod: every service and job waits for the separate egress rules of its security group', () => {
    const t = prod as Record<string, { Type: string; Properties: any; DependsOn?: string[] }>;
    const rulesOf = (sg: string) => Object.entries(t).filter(([, r]) => r.Type === 'AWS::EC2::SecurityGroupEgress' && target(r.Properties.GroupId) === sg).map(([id]) => id);
    const jobs = sgId(t, 'Temporal schema and visibility index jobs (Lambda): DSQL and OpenSearch');
    const ns = Object.keys(t).find((id) => id.startsWith('NamespacesHandlerSecurityGroup') && t[id].Type === 'AWS::EC2::SecurityGroup')!;
    const jobSg: Record<string, string> = { 'Custom::TemporalDsqlSchema': jobs, 'Custom::TemporalVisibilityIndex': jobs, 'Custom::TemporalNamespaces': ns };
    const waiters = Object.entries(t).filter(([, r]) => r.Type === 'AWS::ECS::Service' || r.Type in jobSg);
    expect(waiters.length).toBe(8); // five services, schema, index, namespaces
    for (const [id, r] of waiters) {
      const sg = r.Type === 'AWS::ECS::Service' ? target(r.Properties.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups[0]) : jobSg[r.Type];
      const rules = rulesOf(sg);
      expect([id, rules.length]).toEqual([id, expect.any(Number)]);
      expect(rules.length).toBeGreaterThan(0);
      expect([id, r.DependsOn ?? []]).toEqual([id, expect.arrayContaining(rules)]);
    }
  });
});
