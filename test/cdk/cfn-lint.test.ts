/**
 * cfn-lint (the Python tool from PyPI, installed into .venv by scripts/setup.sh) over every
 * synthesized template: the prod app through the real CLI exactly as the README's main job runs it
 * (cdk.json, bin/app.ts, cdk-nag registered), the dev app and an existing-VPC variant in-process.
 * No errors allowed.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ENVIRONMENTS } from '../../config';
import { buildApp, REPO, synthProdWithCli, tempDir, templatesIn } from './helpers';

const CFN_LINT = path.join(REPO, '.venv', 'bin', 'cfn-lint');
const CDK = path.join(REPO, 'node_modules', '.bin', 'cdk');

/**
 * Checks switched off, each with its reason:
 * - W3005 (DependsOn already implied by a Ref/GetAtt): aws-cdk-lib adds these explicit
 *   dependencies itself (ECS service -> listener, custom resource provider -> role); harmless.
 */
const IGNORED_CHECKS = ['W3005'];

function cfnLint(templates: string[]): { status: number | null; output: string } {
  const r = spawnSync(CFN_LINT, ['--format', 'parseable', '--ignore-checks', ...IGNORED_CHECKS, '--', ...templates], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('cfn-lint', () => {
  const templates: string[] = [];
  const dirs: string[] = [];
  let prodDir: string;

  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  beforeAll(() => {
    expect(fs.existsSync(CFN_LINT)).toBe(true); // run scripts/setup.sh first
    prodDir = tempDir('cli-prod');
    dirs.push(prodDir);
    // The README's main job, with an explicit image so the test does not need the Dockerfile.
    templates.push(...synthProdWithCli(prodDir));

    const devDir = tempDir('dev');
    dirs.push(devDir);
    buildApp('dev', { ...ENVIRONMENTS }, { nag: true, outdir: devDir }).app.synth();
    templates.push(...templatesIn(devDir));

    const existingDir = tempDir('existing');
    dirs.push(existingDir);
    buildApp('shared', {
      shared: {
        numHistoryShards: 64,
        security: { allowNoAuth: true },
        network: {
          existingVpc: {
            vpcId: 'vpc-0123456789abcdef0',
            cidr: '172.31.0.0/16',
            availabilityZones: ['eu-west-1a', 'eu-west-1b'],
            privateSubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
            privateSubnetRouteTableIds: ['rtb-0123456789abcdef0', 'rtb-0123456789abcdef1'],
          },
        },
        env: { account: '123456789012', region: 'eu-west-1' },
        opensearch: { masterNodes: 0 },
        dsql: { kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/0b7a4c52-8a11-4a8a-9d57-3c0e8e1f2a10' },
        ui: { certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/5d1f3a2b-7c4e-4b8f-9e21-0a6b3c9d8e7f' },
      },
    }, { nag: true, outdir: existingDir }).app.synth();
    templates.push(...templatesIn(existingDir));
  });

  test('the CLI synthesized the prod platform: DSQL with deletion protection, five services, encrypted in-VPC domain, NLB on 7233, DSQL endpoint', () => {
    const t = JSON.parse(fs.readFileSync(path.join(prodDir, 'Temporal-prod.template.json'), 'utf8'));
    const of = (type: string) => Object.values(t.Resources as Record<string, any>).filter((r) => r.Type === type);
    expect(of('AWS::DSQL::Cluster').map((r) => r.Properties.DeletionProtectionEnabled)).toEqual([true]);
    expect(of('AWS::ECS::Service')).toHaveLength(5);
    const domain = of('AWS::OpenSearchService::Domain')[0];
    expect(domain.Properties.EncryptionAtRestOptions.Enabled).toBe(true);
    expect(domain.Properties.VPCOptions.SubnetIds).toHaveLength(3);
    expect(of('AWS::ElasticLoadBalancingV2::Listener').some((l) => l.Properties.Port === 7233 && l.Properties.Protocol === 'TCP')).toBe(true);
    expect(of('AWS::EC2::VPCEndpoint').some((e) => JSON.stringify(e.Properties.ServiceName).includes('VpcEndpointServiceName'))).toBe(true);
  });

  test('variant: customer KMS key on DSQL, HTTPS (TLS 1.2+) UI listener with the given certificate', () => {
    const t = JSON.parse(fs.readFileSync(templates.find((f) => f.endsWith('Temporal-shared.template.json'))!, 'utf8'));
    const of = (type: string) => Object.values(t.Resources as Record<string, any>).filter((r) => r.Type === type);
    expect(of('AWS::DSQL::Cluster')[0].Properties.KmsEncryptionKey).toBe('arn:aws:kms:eu-west-1:123456789012:key/0b7a4c52-8a11-4a8a-9d57-3c0e8e1f2a10');
    const https = of('AWS::ElasticLoadBalancingV2::Listener').find((l) => l.Properties.Protocol === 'HTTPS')!;
    expect(https.Properties.Port).toBe(443);
    expect(https.Properties.Certificates).toEqual([{ CertificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/5d1f3a2b-7c4e-4b8f-9e21-0a6b3c9d8e7f' }]);
    expect(https.Properties.SslPolicy).toMatch(/TLS13|TLS-1-2/);
  });

  test('an existing VPC is used as given: no VPC, subnets or NAT created', () => {
    const t = JSON.parse(fs.readFileSync(templates.find((f) => f.endsWith('Temporal-shared.template.json'))!, 'utf8'));
    const types = Object.values(t.Resources as Record<string, any>).map((r) => r.Type);
    expect(types).not.toContain('AWS::EC2::VPC');
    expect(types).not.toContain('AWS::EC2::NatGateway');
    const svc = Object.values(t.Resources as Record<string, any>).find((r) => r.Type === 'AWS::ECS::Service')!;
    expect(svc.Properties.NetworkConfiguration.AwsvpcConfiguration.Subnets).toEqual(['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1']);
  });

  test('no errors in any template (prod via the CLI, dev, existing VPC)', () => {
    expect(templates.map((t) => path.basename(t)).sort()).toEqual(['Temporal-dev.template.json', 'Temporal-prod.template.json', 'Temporal-shared.template.json']);
    const { status, output } = cfnLint(templates);
    // cfn-lint exit status is a bit mask: 2 = errors, 4 = warnings, 8 = informational.
    expect({ errors: (status ?? 1) & 2 ? output : '' }).toEqual({ errors: '' });
    // The one expected warning, W8003 "will always return False": the rule that refuses a deploy
    // while the config holds example values (lib/example-values.ts) is false by design. Anything else fails.
    const lines = output.split('\n').filter((l) => l.trim() !== '');
    const refusals = lines.filter((l) => /:W8003:\['[a-zA-Z.[\]0-9]+', 'a value of your own'\] will always return False$/.test(l));
    expect(lines.filter((l) => !refusals.includes(l))).toEqual([]);
    expect(refusals.filter((l) => l.includes('Temporal-prod.template.json')).length).toBe(10); // one per example value of config/prod.ts (images.dockerHubCredentialArn is the 10th)
    expect(refusals.filter((l) => l.includes('Temporal-dev.template.json'))).toEqual([]);
  });

  test('the pinned CDK CLI is the one npx runs (2.1148.1)', () => {
    expect(execFileSync(CDK, ['--version'], { cwd: REPO, encoding: 'utf8' })).toMatch(/^2\.1148\.1 /);
  });

  test('cfn-lint does find errors (the check can fail)', () => {
    const dir = tempDir('bad');
    const bad = path.join(dir, 'bad.template.json');
    fs.writeFileSync(bad, JSON.stringify({ Resources: { Q: { Type: 'AWS::SQS::Queue', Properties: { VisibilityTimeout: 'soon' } } } }));
    const { status, output } = cfnLint([bad]);
    expect((status ?? 0) & 2).toBe(2);
    expect(output).toMatch(/E3012:'soon' is not of type 'integer'/);
  });
});
