/**
 * The AWS Backup opt-in check's handler (lambda/dsql/backup-opt-in) against a stand-in for the
 * AWS Backup API: an HTTP server answering `GET /account-settings` (DescribeRegionSettings) as the
 * API reference documents it. moto does not implement DescribeRegionSettings, so this stub is the
 * AWS control plane here; the SDK client, its signing and its error parsing are real.
 */
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { BackupClient } from '@aws-sdk/client-backup';
import { handler } from '../../lambda/dsql/backup-opt-in';

let server: Server;
let answer: { status: number; body: unknown; headers?: Record<string, string> };
const requests: IncomingMessage[] = [];
let client: BackupClient;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req);
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
    res.end(JSON.stringify(answer.body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  client = new BackupClient({ endpoint: `http://127.0.0.1:${port}`, region: 'eu-west-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' }, maxAttempts: 1 });
});

afterAll(async () => {
  client.destroy();
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  requests.length = 0;
});

const event = (Mode: string, RequestType: 'Create' | 'Update' | 'Delete' = 'Create') => ({ RequestType, ResourceProperties: { Mode } as any, PhysicalResourceId: 'aws-backup-opt-in-dsql' });

test('opted in: success, and the request is a signed DescribeRegionSettings', async () => {
  answer = { status: 200, body: { ResourceTypeOptInPreference: { DSQL: true, RDS: false } } };
  const r = await handler(event('fail'), client);
  expect(r.Data).toEqual({ OptedIn: 'true', Message: 'AWS Backup in eu-west-1 is opted in to Aurora DSQL' });
  expect(requests.map((q) => `${q.method} ${q.url}`)).toEqual(['GET /account-settings']);
  expect(requests[0].headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/backup\/aws4_request/);
});

test('not opted in, mode fail: the deploy fails naming the setting and the command that fixes it', async () => {
  answer = { status: 200, body: { ResourceTypeOptInPreference: { DSQL: false, Aurora: true } } };
  await expect(handler(event('fail'), client)).rejects.toThrow(
    'AWS Backup in eu-west-1 is not opted in to Aurora DSQL (DescribeRegionSettings: ResourceTypeOptInPreference has DSQL = false), so the backup jobs of the cluster would fail. ' +
    'Fix: aws backup update-region-settings --region eu-west-1 --resource-type-opt-in-preference DSQL=true, then deploy again');
});

test('no DSQL entry at all (an account or Region that predates it), mode warn: success, with the same message', async () => {
  answer = { status: 200, body: { ResourceTypeOptInPreference: { RDS: true } } };
  const r = await handler(event('warn'), client);
  expect(r.Data!.OptedIn).toBe('false');
  expect(r.Data!.Message).toContain('ResourceTypeOptInPreference has no DSQL entry');
  expect(r.Data!.Message).toContain('--resource-type-opt-in-preference DSQL=true');
});

test('the API refuses (no permission): the error names the call and the Region, whatever the mode', async () => {
  answer = { status: 403, body: { message: 'User is not authorized to perform: backup:DescribeRegionSettings' }, headers: { 'x-amzn-errortype': 'AccessDeniedException' } };
  for (const mode of ['fail', 'warn']) {
    await expect(handler(event(mode), client)).rejects.toThrow(/^backup:DescribeRegionSettings in eu-west-1 failed: User is not authorized to perform: backup:DescribeRegionSettings$/);
  }
});

test('Delete calls nothing; an unknown mode is refused before any call', async () => {
  answer = { status: 500, body: {} };
  expect(await handler(event('fail', 'Delete'), client)).toEqual({ PhysicalResourceId: 'aws-backup-opt-in-dsql' });
  await expect(handler(event('maybe'), client)).rejects.toThrow('Mode = "maybe"; allowed: "fail" or "warn"');
  expect(requests).toEqual([]);
});
