/**
 * Configuration validation, the numHistoryShards lock, the dynamic config merge and the server
 * image choice. No full synth here except where an error must come out of the stack itself.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import * as YAML from 'yaml';
import { ENVIRONMENTS } from '../../config';
import { ConfigError, PlatformConfigInput, resolveConfig } from '../../lib/config';
import { buildDynamicConfig } from '../../lib/services/dynamic-config';
import { TemporalPlatformStack } from '../../lib/platform-stack';
import { checkShardLock } from '../../lib/dsql/shard-lock';
import { createPlatformApp } from '../../lib/app';
import { cdkJsonContext, REPO, tempDir } from './helpers';

const base: PlatformConfigInput = { numHistoryShards: 16, security: { allowNoAuth: true } };
const withBase = (extra: Record<string, unknown>) => ({ ...base, ...extra }) as PlatformConfigInput;

describe('resolveConfig: defaults', () => {
  test('only numHistoryShards given: documented defaults', () => {
    const c = resolveConfig('test', base);
    expect(c.sizing).toBe('medium');
    // README, "Sizing presets" (cpu units / memory MiB / tasks), medium row.
    expect(c.services).toEqual({
      frontend: { cpu: 1024, memoryMiB: 2048, desiredCount: 2 },
      history: { cpu: 2048, memoryMiB: 4096, desiredCount: 3 },
      matching: { cpu: 1024, memoryMiB: 2048, desiredCount: 2 },
      worker: { cpu: 512, memoryMiB: 1024, desiredCount: 2 },
      ui: { cpu: 256, memoryMiB: 512, desiredCount: 2 },
    });
    // The recorded version is the one the image is built from: go.temporal.io/server in the
    // server module's go.mod (an upgrade is that line, and this default follows it).
    const goMod = fs.readFileSync(path.join(REPO, 'docker', 'temporal-server', 'go.mod'), 'utf8');
    const pinned = /^\s*go\.temporal\.io\/server v(\d+\.\d+\.\d+)$/m.exec(goMod)?.[1];
    expect(pinned).toBeDefined();
    expect(c.temporalVersion).toBe(pinned);
    expect(c.uiVersion).toBe('2.56.1');
    expect(c.network).toMatchObject({ azCount: 2, natGateways: 'perAz', cidr: '10.0.0.0/16', createVpcEndpoints: true });
    expect(c.dsql).toEqual({ deletionProtection: true, kmsKeyArn: undefined, databaseRole: 'temporal_server', privateLink: true, adminPrincipals: [] });
    expect(c.opensearch).toMatchObject({
      engineVersion: '2.19', dataNodes: 2, masterNodes: 3, domainName: 'temporal-test', visibilityIndex: 'temporal_visibility_v1_test',
    });
    expect(c.removalPolicies).toEqual({ dsqlCluster: 'retain', visibilityDomain: 'retain', logs: 'retain' });
    expect(c.logRetentionDays).toBe(30);
    expect(c.stopTimeoutSeconds).toBe(120);
    expect(c.serverImage).toBeUndefined();
    expect(c.cpuArchitecture).toBe('arm64');
  });

  test('per-service overrides apply on top of the preset', () => {
    const c = resolveConfig('test', withBase({ sizing: 'small', services: { history: { desiredCount: 4 } } }));
    // README, "Sizing presets", small row: history 1024/2048/1, frontend 512/1024/1.
    expect(c.services.history).toEqual({ cpu: 1024, memoryMiB: 2048, desiredCount: 4 });
    expect(c.services.frontend).toEqual({ cpu: 512, memoryMiB: 1024, desiredCount: 1 });
  });

  test('the committed dev and prod examples are valid', () => {
    expect(resolveConfig('dev', ENVIRONMENTS.dev).numHistoryShards).toBe(16);
    expect(resolveConfig('prod', ENVIRONMENTS.prod).network.azCount).toBe(3);
  });
});

describe('resolveConfig: each kind of bad input names the field, the value and what is allowed', () => {
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['shards not a power of two', { numHistoryShards: 500, security: { allowNoAuth: true } }, 'test.numHistoryShards', /= 500; allowed: a power of two from 1 to 16384/],
    ['shards too large', { numHistoryShards: 32768, security: { allowNoAuth: true } }, 'test.numHistoryShards', /= 32768;/],
    ['shards missing', { numHistoryShards: undefined }, 'test.numHistoryShards', /= undefined;/],
    ['unknown top-level field', { numHistoryShard: 4 }, 'test.numHistoryShard', /allowed: one of the known fields/],
    ['OpenSearch 2.11 refused', { opensearch: { engineVersion: '2.11' } }, 'test.opensearch.engineVersion', /"2\.11".*gzip request handling breaks Temporal's bulk writes/],
    ['OpenSearch 2.17 refused', { opensearch: { engineVersion: '2.17' } }, 'test.opensearch.engineVersion', /"2\.17".*gzip/],
    ['OpenSearch 3.x not verified', { opensearch: { engineVersion: '3.1' } }, 'test.opensearch.engineVersion', /= "3\.1"; allowed: one of 2\.3, /],
    ['OpenSearch unknown version', { opensearch: { engineVersion: '1.3' } }, 'test.opensearch.engineVersion', /allowed: one of 2\.3, .*2\.19/],
    ['data nodes not a multiple of AZs', { opensearch: { dataNodes: 3 } }, 'test.opensearch.dataNodes', /= 3; allowed: a multiple of network.azCount \(2\)/],
    ['master nodes', { opensearch: { masterNodes: 2 } }, 'test.opensearch.masterNodes', /= 2; allowed: 0, 3 or 5/],
    ['t2 instance', { opensearch: { dataNodeInstanceType: 't2.small.search' } }, 'test.opensearch.dataNodeInstanceType', /encryption at rest/],
    ['index name prefix', { opensearch: { visibilityIndex: 'visibility' } }, 'test.opensearch.visibilityIndex', /starting with temporal_visibility_v1/],
    ['domain name too long', { opensearch: { domainName: 'a'.repeat(29) } }, 'test.opensearch.domainName', /3-28 characters/],
    ['fargate cpu', { services: { history: { cpu: 3000 } } }, 'test.services.history.cpu', /= 3000; allowed: one of Fargate's CPU sizes/],
    ['fargate memory', { services: { history: { cpu: 1024, memoryMiB: 1024 } } }, 'test.services.history.memoryMiB', /= 1024; allowed: a Fargate memory size for cpu 1024: 2048-8192 MiB/],
    ['desired count', { services: { ui: { desiredCount: -1 } } }, 'test.services.ui.desiredCount', /= -1; allowed: an integer from 0 to 100/],
    ['unknown service', { services: { scheduler: {} } }, 'test.services.scheduler', /known fields frontend, history, matching, worker, ui/],
    ['preset', { sizing: 'huge' }, 'test.sizing', /= "huge"; allowed: 'small' or 'medium' or 'large'/],
    ['AZ count', { network: { azCount: 4 } }, 'test.network.azCount', /= 4; allowed: 2 or 3/],
    ['3 AZs without zones or env', { network: { azCount: 3 } }, 'test.network.availabilityZones', /a list of 3 zones/],
    ['zone count mismatch', { network: { availabilityZones: ['us-east-1a'] } }, 'test.network.availabilityZones', /2 distinct availability zone names/],
    ['zones outside the region', { env: { region: 'eu-west-1' }, network: { availabilityZones: ['us-east-1a', 'us-east-1b'] } }, 'test.network.availabilityZones', /zones of env.region eu-west-1/],
    ['NAT', { network: { natGateways: 'none' } }, 'test.network.natGateways', /= "none"; allowed: 'one' or 'perAz'/],
    ['CIDR', { network: { cidr: '10.0.0.0/33' } }, 'test.network.cidr', /IPv4 CIDR block/],
    ['CIDR too small', { network: { cidr: '10.0.0.0/19' } }, 'test.network.cidr', /= "10\.0\.0\.0\/19"; allowed: a block of \/18 or larger/],
    ['client CIDR open to the world', { network: { clientCidrs: ['0.0.0.0/0'] } }, 'test.network.clientCidrs', /0\.0\.0\.0\/0 is refused/],
    ['existing VPC id', { network: { existingVpc: { vpcId: 'vpc-1', availabilityZones: ['a', 'b'], privateSubnetIds: [], cidr: '10.0.0.0/16' } } }, 'test.network.existingVpc.vpcId', /a VPC id/],
    ['existing VPC subnets', { network: { existingVpc: { vpcId: 'vpc-0123456789abcdef0', availabilityZones: ['us-east-1a', 'us-east-1b'], privateSubnetIds: ['subnet-01234567'], cidr: '10.0.0.0/16' } } }, 'test.network.existingVpc.privateSubnetIds', /2 subnet ids \(one per availability zone\)/],
    ['existing VPC route tables', { network: { existingVpc: { vpcId: 'vpc-0123456789abcdef0', availabilityZones: ['us-east-1a', 'us-east-1b'], privateSubnetIds: ['subnet-01234567', 'subnet-89abcdef'], cidr: '10.0.0.0/16' } } }, 'test.network.existingVpc.privateSubnetRouteTableIds', /2 route table ids/],
    ['account', { env: { account: '123' } }, 'test.env.account', /12-digit AWS account id/],
    ['region', { env: { region: 'mars-1' } }, 'test.env.region', /AWS region name/],
    ['database role admin', { dsql: { databaseRole: 'admin' } }, 'test.dsql.databaseRole', /non-admin role/],
    ['database role syntax', { dsql: { databaseRole: 'Temporal Server' } }, 'test.dsql.databaseRole', /PostgreSQL role name/],
    ['KMS key', { dsql: { kmsKeyArn: 'alias/foo' } }, 'test.dsql.kmsKeyArn', /a KMS key ARN/],
    ['deletion protection type', { dsql: { deletionProtection: 'yes' } }, 'test.dsql.deletionProtection', /= "yes"; allowed: true or false/],
    ['log retention', { logRetentionDays: 31 }, 'test.logRetentionDays', /= 31; allowed: one of 1, 3, 5, 7, 14, 30/],
    ['removal policy', { removalPolicies: { dsqlCluster: 'snapshot' } }, 'test.removalPolicies.dsqlCluster', /'retain' or 'destroy'/],
    ['server image without tag', { serverImage: 'temporal-dsql' }, 'test.serverImage', /explicit tag or digest/],
    ['UI version latest', { uiVersion: 'latest' }, 'test.uiVersion', /never latest/],
    ['stop timeout', { stopTimeoutSeconds: 300 }, 'test.stopTimeoutSeconds', /= 300; allowed: an integer from 70 to 120/],
    ['log level', { logLevel: 'verbose' }, 'test.logLevel', /'debug' or 'info' or 'warn' or 'error'/],
    ['dynamic config key', { dynamicConfig: { persistenceMaxQPS: [{ value: 1 }] } }, 'test.dynamicConfig["persistenceMaxQPS"]', /a dynamic config key/],
    ['dynamic config not a list', { dynamicConfig: { 'history.persistenceMaxQPS': 3000 } }, 'test.dynamicConfig["history.persistenceMaxQPS"]', /a non-empty list/],
    ['dynamic config item without value', { dynamicConfig: { 'history.persistenceMaxQPS': [{ constraints: {} }] } }, 'test.dynamicConfig["history.persistenceMaxQPS"][0]', /with a value/],
    ['cpu architecture', { cpuArchitecture: 'arm' }, 'test.cpuArchitecture', /'arm64' or 'x86_64'/],
    ['tag key', { tags: { 'aws:owner': 'x' } }, 'test.tags["aws:owner"]', /not starting with aws:/],
    ['security.kmsKeyArn alias', { security: { allowNoAuth: true, kmsKeyArn: 'alias/x' } }, 'test.security.kmsKeyArn', /a KMS key ARN .*not an alias/],
  ];
  test.each(cases)('%s', (_name, extra, field, message) => {
    let error: unknown;
    try {
      resolveConfig('test', withBase(extra));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe(field);
    expect((error as Error).message).toContain(`Invalid configuration: ${field} = `);
    expect((error as Error).message).toMatch(message);
  });

  test('environment name', () => {
    expect(() => resolveConfig('Prod_1', base)).toThrow(/env = "Prod_1"; allowed: an environment name/);
  });

  test('unknown environment selected with -c env=', () => {
    expect(() => createPlatformApp({ environments: ENVIRONMENTS, envName: 'staging', lockDir: tempDir('lock') }))
      .toThrow('Invalid configuration: env = "staging"; allowed: one of dev, prod');
  });
});

describe('numHistoryShards lock', () => {
  test('first synth writes the lock, the same value matches, another value fails loudly', () => {
    const dir = tempDir('lock');
    expect(checkShardLock(dir, 'prod', 512)).toBe('created');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'prod.lock.json'), 'utf8'))).toMatchObject({ environment: 'prod', numHistoryShards: 512 });
    expect(checkShardLock(dir, 'prod', 512)).toBe('matched');
    expect(() => checkShardLock(dir, 'prod', 1024)).toThrow(
      /numHistoryShards of environment prod is 1024, but .*prod\.lock\.json pins it to 512\. Temporal can never change the history shard count after the first deploy\. Set numHistoryShards back to 512/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a malformed lock file is an error, not a reset', () => {
    const dir = tempDir('lock');
    fs.writeFileSync(path.join(dir, 'dev.lock.json'), '{"numHistoryShards": "sixteen"}');
    expect(() => checkShardLock(dir, 'dev', 16)).toThrow(/has no numeric numHistoryShards; restore it from git/);
    fs.writeFileSync(path.join(dir, 'dev.lock.json'), 'not json');
    expect(() => checkShardLock(dir, 'dev', 16)).toThrow(/is not valid JSON/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a missing lock can be required', () => {
    expect(() => checkShardLock(tempDir('lock'), 'dev', 16, { createIfMissing: false })).toThrow(/does not exist/);
  });

  test('the committed locks match the committed environments', () => {
    for (const [name, input] of Object.entries(ENVIRONMENTS)) {
      expect(checkShardLock(path.join(REPO, 'config'), name, input.numHistoryShards, { createIfMissing: false })).toBe('matched');
    }
  });

  test('the app refuses to build when the configuration differs from the lock', () => {
    const dir = tempDir('lock');
    fs.writeFileSync(path.join(dir, 'dev.lock.json'), JSON.stringify({ environment: 'dev', numHistoryShards: 8 }));
    expect(() => createPlatformApp({ environments: ENVIRONMENTS, envName: 'dev', lockDir: dir, nag: false }))
      .toThrow(/numHistoryShards of environment dev is 16, but .* pins it to 8/);
  });
});

describe('dynamic config', () => {
  const defaultFile = path.join(REPO, 'docker', 'temporal-server', 'config', 'dynamicconfig', 'default.yaml');

  test('default file merged with overrides; an override replaces the key; output sorted and parseable', () => {
    const yaml = buildDynamicConfig(defaultFile, {
      'limit.maxIDLength': [{ value: 200 }],
      'history.persistenceMaxQPS': [{ value: 3000 }, { value: 500, constraints: { namespace: 'batch' } }],
    });
    const parsed = YAML.parse(yaml);
    expect(parsed['limit.maxIDLength']).toEqual([{ value: 200 }]);
    expect(parsed['history.persistenceMaxQPS']).toEqual([{ value: 3000 }, { value: 500, constraints: { namespace: 'batch' } }]);
    expect(Object.keys(parsed)).toEqual([...Object.keys(parsed)].sort());
  });

  test('without overrides the defaults pass through', () => {
    const defaults = YAML.parse(fs.readFileSync(defaultFile, 'utf8'));
    expect(YAML.parse(buildDynamicConfig(defaultFile, {}))).toEqual(defaults);
  });

  test('a missing or malformed default file is reported', () => {
    const dir = tempDir('dc');
    expect(() => buildDynamicConfig(path.join(dir, 'none.yaml'), {})).toThrow(/does not exist/);
    fs.writeFileSync(path.join(dir, 'bad.yaml'), 'limit.maxIDLength: 255\n');
    expect(() => buildDynamicConfig(path.join(dir, 'bad.yaml'), {})).toThrow(/limit.maxIDLength must be a list/);
    fs.writeFileSync(path.join(dir, 'broken.yaml'), 'a: [1\n');
    expect(() => buildDynamicConfig(path.join(dir, 'broken.yaml'), {})).toThrow(/is not valid YAML/);
  });
});

describe('server image', () => {
  const config = resolveConfig('dev', ENVIRONMENTS.dev);

  test('no serverImage and no Dockerfile: synth fails telling the user to set the image', () => {
    const app = new App({ context: cdkJsonContext() });
    expect(() => new TemporalPlatformStack(app, 'NoImage', { config, serverImageContext: tempDir('noimage') }))
      .toThrow(/No Temporal server image: .*Dockerfile does not exist and the environment sets no serverImage\. Set serverImage: '<registry>\/<repository>:<tag>'/);
  });

  test('a Dockerfile in the context: the image is an arm64 asset, tests and caches excluded', () => {
    const ctx = tempDir('image');
    const files = {
      kept: ['Dockerfile', 'go.mod', 'main.go', 'dsql/plugin.go'],
      excluded: ['main_test.go', 'dsql/plugin_test.go', 'dsql/testdata/case.json', '.cache/go-build/x', 'server.log', 'dsql.test', 'bin/server'],
    };
    for (const f of [...files.kept, ...files.excluded]) {
      fs.mkdirSync(path.dirname(path.join(ctx, f)), { recursive: true });
      fs.writeFileSync(path.join(ctx, f), f === 'Dockerfile' ? 'FROM scratch\n' : `${f}\n`);
    }
    const app = new App({ context: cdkJsonContext({ quick: true }), outdir: tempDir('out') });
    const stack = new TemporalPlatformStack(app, 'AssetImage', { config, serverImageContext: ctx });
    const asm = app.synth();
    const assets = JSON.parse(fs.readFileSync(path.join(asm.directory, `${stack.artifactId}.assets.json`), 'utf8'));
    const images = Object.values(assets.dockerImages) as any[];
    expect(images).toHaveLength(1);
    expect(images[0].source.platform).toBe('linux/arm64');
    // The build context as staged in the cloud assembly: sources kept, tests and caches left out.
    const staged = path.join(asm.directory, images[0].source.directory);
    const present = (f: string) => fs.existsSync(path.join(staged, f));
    expect(files.kept.filter((f) => !present(f))).toEqual([]);
    expect(files.excluded.filter(present)).toEqual([]);
  });

  test('an ECR image gets pull permissions for that repository; another registry is used as is', () => {
    const ecr = resolveConfig('dev', { ...ENVIRONMENTS.dev, serverImage: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/temporal:1.31.2' });
    const app = new App({ context: cdkJsonContext({ quick: true }), outdir: tempDir('out') });
    const stack = new TemporalPlatformStack(app, 'EcrImage', { config: ecr });
    const t = app.synth().getStackArtifact(stack.artifactId).template;
    const policies = JSON.stringify(Object.values(t.Resources).filter((r: any) => r.Type === 'AWS::IAM::Policy'));
    expect(policies).toContain('arn:aws:ecr:eu-west-1:123456789012:repository/team/temporal');
    expect(policies).toContain('ecr:BatchGetImage');
    const td = Object.values(t.Resources).find((r: any) => r.Type === 'AWS::ECS::TaskDefinition'
      && r.Properties.ContainerDefinitions[0].Name === 'temporal') as any;
    expect(JSON.stringify(td.Properties.ContainerDefinitions[0].Image)).toContain('/team/temporal:1.31.2');
  });
});

describe('dynamicConfig: history.shardIOConcurrency is pinned to 1 on DSQL', () => {
  test.each([
    [[{ value: 2 }], 'history.shardIOConcurrency"][0].value = 2'],
    [[{ value: 1 }, { value: 4, constraints: { shardID: 3 } }], 'history.shardIOConcurrency"][1].value = 4'],
    [[{ value: '1' }], 'history.shardIOConcurrency"][0].value = "1"'],
  ])('%j is refused with the field, the value and why', (list, shown) => {
    const run = () => resolveConfig('test', withBase({ dynamicConfig: { 'history.shardIOConcurrency': list } }));
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(`Invalid configuration: test.dynamicConfig["${shown}; allowed: 1 only: the shard fence is SELECT ... FOR UPDATE`);
  });

  test('1 is accepted, and the shipped default file pins it to 1', () => {
    const c = resolveConfig('test', withBase({ dynamicConfig: { 'history.shardIOConcurrency': [{ value: 1 }] } }));
    expect(c.dynamicConfig['history.shardIOConcurrency']).toEqual([{ value: 1 }]);
    const defaults = YAML.parse(fs.readFileSync(path.join(REPO, 'docker/temporal-server/config/dynamicconfig/default.yaml'), 'utf8'));
    expect(defaults['history.shardIOConcurrency']).toEqual([{ value: 1 }]);
  });
});

describe('mistakes found synthesizing an existing-VPC environment as a new user would (issue 16)', () => {
  const vpc3 = {
    vpcId: 'vpc-0123456789abcdef0',
    cidr: '10.20.0.0/16',
    availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'],
    privateSubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1', 'subnet-0123456789abcdef2'],
    privateSubnetRouteTableIds: ['rtb-0123456789abcdef0', 'rtb-0123456789abcdef1', 'rtb-0123456789abcdef2'],
  };
  const vpc2 = {
    ...vpc3,
    availabilityZones: ['us-east-1a', 'us-east-1b'],
    privateSubnetIds: vpc3.privateSubnetIds.slice(0, 2),
    privateSubnetRouteTableIds: vpc3.privateSubnetRouteTableIds.slice(0, 2),
  };
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['existing VPC with 3 zones and no azCount: says to set it', { network: { existingVpc: vpc3 } },
      'Invalid configuration: test.network.azCount = undefined; allowed: 3, set explicitly (network.existingVpc lists 3 zones and network.azCount defaults to 2: add network.azCount: 3)'],
    ['existing VPC zones of another Region', { env: { region: 'eu-west-1' }, network: { existingVpc: vpc2 } },
      'Invalid configuration: test.network.existingVpc.availabilityZones = ["us-east-1a","us-east-1b"]; allowed: zones of env.region eu-west-1'],
    ['existing VPC zones of two Regions (no env.region)', { network: { existingVpc: { ...vpc2, availabilityZones: ['us-east-1a', 'us-west-2b'] } } },
      'Invalid configuration: test.network.existingVpc.availabilityZones = ["us-east-1a","us-west-2b"]; allowed: zones of one Region (got us-east-1, us-west-2)'],
    ['new VPC zones of two Regions (no env.region)', { network: { availabilityZones: ['us-east-1a', 'eu-west-1a'] } },
      'Invalid configuration: test.network.availabilityZones = ["us-east-1a","eu-west-1a"]; allowed: zones of one Region (got us-east-1, eu-west-1)'],
    ['existing VPC duplicate zones', { network: { existingVpc: { ...vpc2, availabilityZones: ['us-east-1a', 'us-east-1a'] } } },
      'Invalid configuration: test.network.existingVpc.availabilityZones = ["us-east-1a","us-east-1a"]; allowed: zone names, one subnet per zone, without duplicates (us-east-1a appears twice)'],
    ['existing VPC duplicate subnets', { network: { existingVpc: { ...vpc2, privateSubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef0'] } } },
      'Invalid configuration: test.network.existingVpc.privateSubnetIds = ["subnet-0123456789abcdef0","subnet-0123456789abcdef0"]; allowed: subnet ids without duplicates (subnet-0123456789abcdef0 appears twice)'],
    ['cidr alongside existingVpc', { network: { existingVpc: vpc2, cidr: '10.20.0.0/16' } },
      'Invalid configuration: test.network.cidr = "10.20.0.0/16"; allowed: unset when network.existingVpc is given (the existing VPC\'s block is network.existingVpc.cidr)'],
    ['natGateways alongside existingVpc', { network: { existingVpc: vpc2, natGateways: 'one' } },
      'Invalid configuration: test.network.natGateways = "one"; allowed: unset when network.existingVpc is given (the existing VPC\'s routes and NAT gateways are not managed by this stack)'],
    ['KMS key of another Region', { env: { region: 'us-east-1' }, dsql: { kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' } },
      'Invalid configuration: test.dsql.kmsKeyArn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"; allowed: a KMS key in env.region us-east-1 (DSQL only uses a key of the cluster\'s own Region)'],
    ['ACM certificate of another Region', { env: { region: 'us-east-1' }, ui: { certificateArn: 'arn:aws:acm:us-west-2:123456789012:certificate/1234abcd-12ab-34cd-56ef-1234567890ab' } },
      'Invalid configuration: test.ui.certificateArn = "arn:aws:acm:us-west-2:123456789012:certificate/1234abcd-12ab-34cd-56ef-1234567890ab"; allowed: an ACM certificate in env.region us-east-1 (a load balancer only uses certificates of its own Region)'],
    ['KMS key and certificate of two Regions (no env.region)', {
      dsql: { kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/k1' },
      ui: { certificateArn: 'arn:aws:acm:us-west-2:123456789012:certificate/c1' },
    }, 'Invalid configuration: test.ui.certificateArn = "arn:aws:acm:us-west-2:123456789012:certificate/c1"; allowed: an ACM certificate in the Region of dsql.kmsKeyArn (eu-west-1): the stack deploys to one Region and both must be in it'],
    ['server image tag latest', { serverImage: '123456789012.dkr.ecr.us-east-1.amazonaws.com/temporal-dsql:latest' },
      'Invalid configuration: test.serverImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/temporal-dsql:latest"; allowed: an image pinned by a version tag or digest, never latest'],
    ['client CIDRs covering all of IPv4 in two halves', { network: { clientCidrs: ['0.0.0.0/1', '128.0.0.0/1'] } },
      'Invalid configuration: test.network.clientCidrs = ["0.0.0.0/1","128.0.0.0/1"]; allowed: private CIDR blocks; blocks that together cover all of IPv4 are refused like 0.0.0.0/0'],
    ['client CIDRs covering all of IPv4 in overlapping pieces', { network: { clientCidrs: ['192.0.0.0/2', '0.0.0.0/1', '128.0.0.0/2', '10.0.0.0/8'] } },
      'Invalid configuration: test.network.clientCidrs = ["192.0.0.0/2","0.0.0.0/1","128.0.0.0/2","10.0.0.0/8"]; allowed: private CIDR blocks; blocks that together cover all'],
    ['log retention between CloudWatch values', { logRetentionDays: 3000 },
      'Invalid configuration: test.logRetentionDays = 3000; allowed: one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653'],
  ];
  test.each(cases)('%s', (_name, extra, message) => {
    expect(() => resolveConfig('test', withBase(extra))).toThrow(message);
  });

  test('the same environments written correctly are accepted', () => {
    const existing = resolveConfig('test', withBase({ env: { region: 'us-east-1' }, network: { azCount: 3, existingVpc: vpc3 } }));
    expect(existing.network.existingVpc?.availabilityZones).toEqual(['us-east-1a', 'us-east-1b', 'us-east-1c']);
    expect(existing.network.azCount).toBe(3);
    const arns = resolveConfig('test', withBase({
      env: { region: 'us-east-1' },
      dsql: { kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/k1' },
      ui: { certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/c1' },
    }));
    expect(arns.ui.certificateArn).toBe('arn:aws:acm:us-east-1:123456789012:certificate/c1');
    // Pinned by digest, even with the latest tag in front of it, is a pinned image.
    const digest = `123456789012.dkr.ecr.us-east-1.amazonaws.com/temporal-dsql:latest@sha256:${'a'.repeat(64)}`;
    expect(resolveConfig('test', withBase({ serverImage: digest })).serverImage).toBe(digest);
    // A tag that merely contains "latest" is a version tag.
    expect(resolveConfig('test', withBase({ serverImage: 'registry.example.com/t:latest-1.31.2' })).serverImage).toBe('registry.example.com/t:latest-1.31.2');
    // Client CIDRs that leave one address out are not the whole space.
    expect(resolveConfig('test', withBase({ network: { clientCidrs: ['0.0.0.0/1', '128.0.0.0/2', '192.0.0.0/3', '224.0.0.0/4'] } })).network.clientCidrs).toHaveLength(4);
  });

  test.each([3288, 3653, 2922, 1])('logRetentionDays %d (a CloudWatch value) is accepted', (days) => {
    expect(resolveConfig('test', withBase({ logRetentionDays: days })).logRetentionDays).toBe(days);
  });
});
