/**
 * Archival end to end, on the local stack: our Temporal server with upstream's S3 archiver
 * (s3store) writing to a local moto server. moto (test/support/moto.ts) stands in for Amazon S3,
 * the one part that cannot run here; everything else is real: dsql-local, OpenSearch, our server,
 * a TypeScript SDK worker and client.
 *
 * What it proves, in order:
 *  1. the stack's namespace defaults turn archival on for `default` (namespaceDefaults.archival);
 *  2. a namespace registered with history and visibility archival ENABLED and the bucket's URI
 *     (RegisterNamespace through `stack.clientOptions`) archives a completed workflow on close:
 *     the history object appears in the bucket under `<namespace-id>/history/<workflow-id>/<run-id>/`
 *     and parses as the archived history of that run;
 *  3. the visibility record is archived too and ListArchivedWorkflowExecutions finds the run;
 *  4. once the run is deleted from the primary store (OperatorService.DeleteWorkflowExecution),
 *     GetWorkflowExecutionHistory on that run answers `archived: true` with the same events, read
 *     back from the bucket by the frontend.
 * `history.archivalProcessorArchiveDelay` is 1 s here (default 5 min: upstream spreads archival of
 * closed runs over that window) and `history.transferProcessorUpdateAckInterval` 1 s (default 30 s:
 * a delete waits for the close task's acknowledgement); retention is untouched (deletion stands in
 * for its expiry).
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { waitFor } from '../../local/process';
import { LocalStack, startLocalStack } from '../../local/stack';
import { MotoServer, startMoto } from '../support/moto';
import * as activities from './activities';
import { helloActivity } from './workflows';

const ROOT = resolve(__dirname, '..', '..');
/** Logs of moto and the stack (CI artifacts). */
const ARTIFACTS = join(ROOT, 'test-results', 'e2e-archival');
const BUCKET = 'temporal-archive-e2e';
const URI = `s3://${BUCKET}`;
const NAMESPACE = 'archival-e2e';
const TASK_QUEUE = 'archival-e2e';
const ENABLED = temporal.api.enums.v1.ArchivalState.ARCHIVAL_STATE_ENABLED;
const EventType = temporal.api.enums.v1.EventType;

let moto: MotoServer;
let s3: S3Client;
let stack: LocalStack;
let connection: Connection;
let nativeConnection: NativeConnection | undefined;

jest.setTimeout(4 * 60_000);

beforeAll(async () => {
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  moto = await startMoto({ logDir: ARTIFACTS });
  s3 = new S3Client({ endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  stack = await startLocalStack({
    dir: join(ARTIFACTS, 'stack'),
    ui: false,
    archival: { uri: URI, region: moto.region, endpoint: moto.endpoint },
    // Archive 1 s after close instead of within 5 min; persist the transfer queue's ack level every
    // second instead of 30 s (a delete waits until the run's close task is acknowledged).
    dynamicConfig: 'history.archivalProcessorArchiveDelay:\n  - value: 1s\nhistory.transferProcessorUpdateAckInterval:\n  - value: 1s\n',
  });
  connection = await Connection.connect(stack.clientOptions);
});

afterAll(async () => {
  await connection?.close();
  await nativeConnection?.close();
  await stack?.stop();
  s3?.destroy();
  await moto?.stop();
});

/** Keys in the bucket under `prefix`. */
async function keys(prefix: string): Promise<string[]> {
  const r = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key!);
}

test('namespace defaults: the stack\'s default namespace archives history and visibility to the bucket', async () => {
  const d = await connection.workflowService.describeNamespace({ namespace: 'default' });
  expect(d.config?.historyArchivalState).toBe(ENABLED);
  expect(d.config?.historyArchivalUri).toBe(URI);
  expect(d.config?.visibilityArchivalState).toBe(ENABLED);
  expect(d.config?.visibilityArchivalUri).toBe(URI);
});

test('a completed workflow is archived to S3 and read back through the frontend after it left the primary store', async () => {
  const svc = connection.workflowService;
  await svc.registerNamespace({
    namespace: NAMESPACE,
    workflowExecutionRetentionPeriod: msToTs('1 day'),
    historyArchivalState: ENABLED,
    historyArchivalUri: URI,
    visibilityArchivalState: ENABLED,
    visibilityArchivalUri: URI,
  });
  const ns = await svc.describeNamespace({ namespace: NAMESPACE });
  const namespaceId = ns.namespaceInfo!.id!;
  expect(ns.config?.historyArchivalUri).toBe(URI);

  Runtime.install({ logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => console.error(m) } });
  nativeConnection = await NativeConnection.connect(stack.clientOptions);
  const worker = await Worker.create({
    connection: nativeConnection, namespace: NAMESPACE, taskQueue: TASK_QUEUE, workflowsPath: require.resolve('./workflows'), activities,
  });
  const client = new Client({ connection, namespace: NAMESPACE });
  const workflowId = `archived-${randomUUID()}`;
  // A new namespace reaches every role's namespace cache within its refresh interval: retry the start until then.
  let handle: Awaited<ReturnType<typeof client.workflow.start>> | undefined;
  const result = await worker.runUntil(async () => {
    await waitFor(`namespace ${NAMESPACE} accepts a workflow`, async () => {
      handle = await client.workflow.start(helloActivity, { args: ['archive'], taskQueue: TASK_QUEUE, workflowId });
      return true;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    return handle!.result();
  });
  expect(result).toBe('Hello, archive!');
  const runId = handle!.firstExecutionRunId;
  const live = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const liveTypes = live.events!.map((e) => e.eventType);
  expect(liveTypes[liveTypes.length - 1]).toBe(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);

  // History archival: the run's blobs appear under its key prefix (upstream s3store layout).
  const historyPrefix = `${namespaceId}/history/${workflowId}/${runId}/`;
  let historyKeys: string[] = [];
  await waitFor(`archived history under s3://${BUCKET}/${historyPrefix}`, async () => (historyKeys = await keys(historyPrefix)).length > 0, { timeoutMs: 60_000, intervalMs: 500 });
  const blob = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: historyKeys[0] }))).Body!.transformToString());
  expect(blob.header).toMatchObject({ namespaceId, workflowId, runId, isLast: true });
  expect(blob.body.flatMap((b: { events: unknown[] }) => b.events)).toHaveLength(liveTypes.length);

  // Visibility archival: the record is in the bucket and the archived-visibility API finds the run.
  await waitFor('archived visibility record', async () => (await keys(`${namespaceId}/visibility/`)).some((k) => k.endsWith(runId)), { timeoutMs: 30_000, intervalMs: 500 });
  const listed = await svc.listArchivedWorkflowExecutions({ namespace: NAMESPACE, query: `WorkflowId = '${workflowId}'`, pageSize: 10 });
  expect(listed.executions?.map((e) => e.execution?.runId)).toEqual([runId]);

  // Delete the run from the primary store (what retention does a day later); the frontend then
  // reads its history from the archive.
  await svc.deleteWorkflowExecution({ namespace: NAMESPACE, workflowExecution: { workflowId, runId } });
  await waitFor('run deleted from the primary store', async () => {
    try {
      await svc.describeWorkflowExecution({ namespace: NAMESPACE, execution: { workflowId, runId } });
      return false;
    } catch (e) {
      return (e as { code?: number }).code === 5; // NOT_FOUND
    }
  }, { timeoutMs: 60_000, intervalMs: 500 });
  const archived = await svc.getWorkflowExecutionHistory({ namespace: NAMESPACE, execution: { workflowId, runId } });
  expect(archived.archived).toBe(true);
  expect(archived.history!.events!.map((e) => e.eventType)).toEqual(liveTypes);
  const completed = archived.history!.events![liveTypes.length - 1].workflowExecutionCompletedEventAttributes!;
  expect(Buffer.from(completed.result!.payloads![0].data!).toString()).toBe('"Hello, archive!"');
});
