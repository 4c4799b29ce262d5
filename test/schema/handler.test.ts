/**
 * The custom-resource handlers with real CloudFormation event shapes against dsql-local, driven
 * the way the CDK Provider framework drives them: onEvent once, then isComplete until it reports
 * completion. The Lambda context is a stand-in (only getRemainingTimeInMillis is read): a Lambda
 * runtime cannot exist here. Credentials come from the AWS SDK default chain (environment).
 */
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { hashDirectory } from '../../lambda/dsql/schema/schema-dir';
import { isComplete, MAX_REASON_CHARS, onEvent, resetSchemaCache } from '../../lambda/dsql/schema/handler';
import { DsqlLocal } from '../support/dsql-local';
import { credentialEnv, describeSchema, FIXTURES_DIR, startDsql } from './helpers';

const STACK_ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/TemporalPlatform/4f6d7a70-c7b4-11f0-9a51-0a1b2c3d4e5f';
const SERVICE_TOKEN = 'arn:aws:lambda:us-east-1:123456789012:function:TemporalPlatform-SchemaProviderframeworkonEvent';
let requestNo = 0;

type Props = Record<string, string>;

function event(type: 'Create' | 'Update' | 'Delete', props: Props, extra: { physicalId?: string; old?: Props } = {}): CloudFormationCustomResourceEvent {
  const base = {
    ServiceToken: SERVICE_TOKEN,
    ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/presigned',
    StackId: STACK_ID,
    RequestId: `d3b07384-d9a0-4c9b-8f3e-${String(++requestNo).padStart(12, '0')}`,
    LogicalResourceId: 'SchemaResourceC2C7E7E6',
    ResourceType: 'Custom::TemporalDsqlSchema',
    ResourceProperties: { ServiceToken: SERVICE_TOKEN, ...props },
  };
  if (type === 'Create') return { ...base, RequestType: 'Create' };
  if (type === 'Update') return { ...base, RequestType: 'Update', PhysicalResourceId: extra.physicalId as string, OldResourceProperties: { ServiceToken: SERVICE_TOKEN, ...extra.old } };
  return { ...base, RequestType: 'Delete', PhysicalResourceId: extra.physicalId as string };
}

/** What the Provider framework does: onEvent, then isComplete every interval until complete. */
async function provider(ev: CloudFormationCustomResourceEvent, remainingMs = 60_000, maxPolls = 30) {
  const first = await onEvent(ev);
  const pollEvent = { ...ev, PhysicalResourceId: first.PhysicalResourceId, Data: first.Data };
  for (let polls = 1; polls <= maxPolls; polls++) {
    const r = await isComplete(pollEvent, { getRemainingTimeInMillis: () => remainingMs });
    if (r.IsComplete) return { physicalId: first.PhysicalResourceId, data: r.Data ?? {}, polls };
    await new Promise((res) => setTimeout(res, 200));
  }
  throw new Error(`not complete after ${maxPolls} polls`);
}

describe('Custom::TemporalDsqlSchema handlers', () => {
  let dsql: DsqlLocal;
  const savedEnv = { ...process.env };
  let props: Props;
  let physicalId: string;

  beforeAll(async () => {
    dsql = await startDsql({ indexBuildDelayMs: 3000 });
    Object.assign(process.env, credentialEnv(dsql, 'admin'), {
      SCHEMA_DIR: FIXTURES_DIR, DSQL_HOST: dsql.host, DSQL_PORT: String(dsql.port), DSQL_TLS_CA_FILE: dsql.caFile, SCHEMA_HANDLER_QUIET: '1',
    });
    resetSchemaCache();
    props = {
      SchemaName: 'dsql/temporal', TargetVersion: '1.1', ContentHash: hashDirectory(FIXTURES_DIR), ClusterEndpoint: dsql.hostname,
      ServerRoleName: 'temporal_server', ServerTaskRoleArn: dsql.principal('temporal-server'),
    };
  });
  afterAll(async () => {
    process.env = savedEnv;
    resetSchemaCache();
    await dsql?.stop();
  });

  const mappings = async () => {
    const c = await dsql.connect();
    try {
      return (await c.query(`SELECT arn FROM sys.iam_pg_role_mappings WHERE pg_role_name = 'temporal_server' ORDER BY arn`)).rows.map((r) => r.arn);
    } finally {
      await c.end();
    }
  };

  test('Create applies up to TargetVersion across several isComplete calls while index builds run', async () => {
    // 25 s left in the invocation minus the 20 s safety margin: each call has 5 s, builds take 3 s each.
    const r = await provider(event('Create', props), 25_000);
    physicalId = r.physicalId;
    expect(physicalId).toBe('dsql/temporal@localhost/postgres');
    expect(r.polls).toBeGreaterThanOrEqual(2);
    expect(r.data).toEqual({ SchemaVersion: '1.1', TargetVersion: '1.1', Outcome: 'applied', ServerRoleName: 'temporal_server' });
    expect(await mappings()).toEqual([dsql.principal('temporal-server')]);
  });

  test('Update to a new version and a new task role ARN applies it and moves the mapping', async () => {
    const next = { ...props, TargetVersion: '1.2', ServerTaskRoleArn: dsql.principal('other') };
    const r = await provider(event('Update', next, { physicalId, old: props }));
    expect(r.physicalId).toBe(physicalId);
    expect(r.data).toMatchObject({ SchemaVersion: '1.2', Outcome: 'applied' });
    expect(await mappings()).toEqual([dsql.principal('other')]);
  });

  test('rollback Update (old properties, lower version) succeeds, keeps the schema and restores the old mapping', async () => {
    const current = { ...props, TargetVersion: '1.2', ServerTaskRoleArn: dsql.principal('other') };
    const r = await provider(event('Update', props, { physicalId, old: current }));
    expect(r.polls).toBe(1);
    expect(r.data).toMatchObject({ SchemaVersion: '1.2', TargetVersion: '1.1', Outcome: 'target-below-current' });
    expect(await mappings()).toEqual([dsql.principal('temporal-server')]);
  });

  test('an Update with unchanged properties is a no-op', async () => {
    const same = { ...props, TargetVersion: '1.2' };
    const r = await provider(event('Update', same, { physicalId, old: same }));
    expect(r.polls).toBe(1);
    expect(r.data).toMatchObject({ SchemaVersion: '1.2', Outcome: 'up-to-date' });
  });

  test('Delete keeps every table and row', async () => {
    const c = await dsql.connect();
    try {
      const before = await describeSchema(c);
      const r = await provider(event('Delete', { ...props, TargetVersion: '1.2' }, { physicalId }));
      expect(r).toEqual({ physicalId, data: {}, polls: 1 });
      expect(await describeSchema(c)).toEqual(before);
    } finally {
      await c.end();
    }
  });

  test('bad properties fail in onEvent with the field, the value and what is allowed', async () => {
    await expect(onEvent(event('Create', { ...props, TargetVersion: '3.0' })))
      .rejects.toThrow('property TargetVersion "3.0" is not in the bundled schema; allowed: 1.0, 1.1, 1.2');
    const { ServerRoleName: _omit, ...noRole } = props;
    void _omit;
    await expect(onEvent(event('Create', noRole))).rejects.toThrow('property ServerRoleName is required (a non-empty string), got undefined');
    await expect(onEvent(event('Create', { ...props, ServerTaskRoleArn: 'arn:aws:iam::123:role/x' })))
      .rejects.toThrow(/server IAM principal must be an IAM role or user ARN .* got "arn:aws:iam::123:role\/x"/);
  });
});

test('a failed index build reaches CloudFormation as one short reason with the job details', async () => {
  const dsql = await startDsql();
  const savedEnv = { ...process.env };
  try {
    Object.assign(process.env, credentialEnv(dsql, 'admin'), {
      SCHEMA_DIR: FIXTURES_DIR, DSQL_HOST: dsql.host, DSQL_PORT: String(dsql.port), DSQL_TLS_CA_FILE: dsql.caFile, SCHEMA_HANDLER_QUIET: '1',
    });
    resetSchemaCache();
    await dsql.failIndexBuilds('^public\\.executions_by_state_idx$', `could not create index: ${'x'.repeat(2000)}`);
    const props = {
      SchemaName: 'dsql/temporal', TargetVersion: '1.2', ContentHash: hashDirectory(FIXTURES_DIR), ClusterEndpoint: dsql.hostname, ServerRoleName: 'temporal_server',
    };
    const err = await provider(event('Create', props)).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/^schema dsql\/temporal to v1\.2: index build failed: v1\.2\/buffered_events\.sql:11 index executions_by_state_idx job [a-z2-7]{26}: status failed, details: could not create index: x+/);
    expect(err?.message.length).toBeLessThanOrEqual(MAX_REASON_CHARS);
  } finally {
    process.env = savedEnv;
    resetSchemaCache();
    await dsql.stop();
  }
});
