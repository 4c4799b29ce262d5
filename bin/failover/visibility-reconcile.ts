/**
 * Visibility reconcile after a Region failover (issue 25 item 3, docs/multi-region.md
 * "Visibility on failover"). The new Region's visibility store (its own OpenSearch domain) starts
 * without the records the old Region's servers wrote; the database holds every execution. For each
 * execution listed from the shared database (`executions`, keyset-paged, read-only), this calls
 * AdminService.RefreshWorkflowTasks on the new Region's frontend. In go.temporal.io/server v1.32.2
 * (service/history/workflow/task_refresher.go `Refresh`, task_generator.go
 * `GenerateWorkflowCloseTasks`) that regenerates, for a running execution, its record-started and
 * upsert visibility tasks, and for a closed one its close-execution transfer task and
 * close-visibility task; the new Region's history hosts, which own the shards, then write the
 * records into their own store.
 *
 * AdminService is not in @temporalio/proto, so the request is encoded here:
 * RefreshWorkflowTasksRequest { namespace_id = 3 (string), execution = 2 (WorkflowExecution) }
 * (proto/internal/temporal/server/api/adminservice/v1/request_response.proto, v1.32.2).
 */
import { ChannelCredentials, credentials, Client as GrpcClient, Metadata } from '@grpc/grpc-js';
import { Writer } from 'protobufjs/minimal';
import { temporal } from '@temporalio/proto';
import type { Client as PgClient } from 'pg';

const METHOD = '/temporal.server.api.adminservice.v1.AdminService/RefreshWorkflowTasks';

/** One execution to refresh. */
export interface ExecutionKey {
  readonly shardId: number;
  /** UUID text. */
  readonly namespaceId: string;
  readonly workflowId: string;
  /** UUID text. */
  readonly runId: string;
}

/** Encodes an adminservice.v1.RefreshWorkflowTasksRequest for `e` (archetype left unset: workflow). */
export function encodeRefreshRequest(e: Pick<ExecutionKey, 'namespaceId' | 'workflowId' | 'runId'>): Buffer {
  const execution = temporal.api.common.v1.WorkflowExecution.encode({ workflowId: e.workflowId, runId: e.runId }).finish();
  // Field 3 namespace_id (string) and field 2 execution (message), both wire type 2.
  return Buffer.from(Writer.create().uint32((3 << 3) | 2).string(e.namespaceId).uint32((2 << 3) | 2).bytes(execution).finish());
}

/**
 * Lists executions from the shared database, `pageSize` per query, ordered by the primary key
 * (keyset paging: each query reads at most `pageSize` rows, so it stays far below DSQL's limits and
 * needs no transaction; rows written meanwhile may or may not be seen).
 * @param namespaceId only this namespace's executions (UUID text); all when undefined
 */
export async function* listExecutions(db: PgClient, o: { pageSize?: number; namespaceId?: string } = {}): AsyncGenerator<ExecutionKey[]> {
  const pageSize = o.pageSize ?? 500;
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 2000) throw new Error(`pageSize must be an integer from 1 to 2000, got ${pageSize}`);
  let after: [number, string, string, string] = [-1, '00000000-0000-0000-0000-000000000000', '', '00000000-0000-0000-0000-000000000000'];
  for (;;) {
    const r = await db.query(
      `SELECT shard_id, namespace_id::text AS namespace_id, workflow_id, run_id::text AS run_id FROM executions
        WHERE (shard_id, namespace_id, workflow_id, run_id) > ($1, $2::uuid, $3, $4::uuid) ${o.namespaceId ? 'AND namespace_id = $6::uuid' : ''}
        ORDER BY shard_id, namespace_id, workflow_id, run_id LIMIT $5`,
      [...after, pageSize, ...(o.namespaceId ? [o.namespaceId] : [])],
    );
    if (r.rows.length === 0) return;
    const page = r.rows.map((x) => ({ shardId: x.shard_id as number, namespaceId: x.namespace_id as string, workflowId: x.workflow_id as string, runId: x.run_id as string }));
    yield page;
    const last = page[page.length - 1];
    after = [last.shardId, last.namespaceId, last.workflowId, last.runId];
    if (r.rows.length < pageSize) return;
  }
}

/** What {@link reconcileVisibility} did. */
export interface ReconcileReport {
  readonly executions: number;
  readonly refreshed: number;
  /** Failed refreshes (after retries) with the gRPC error. */
  readonly failures: ReadonlyArray<{ readonly workflowId: string; readonly runId: string; readonly error: string }>;
  readonly ms: number;
}

/** Options of {@link reconcileVisibility}. */
export interface ReconcileOptions {
  /** The new Region's frontend, `host:port`. */
  readonly frontendAddress: string;
  /**
   * Channel credentials: `credentials.createSsl(ca, key, cert)` for the platform's TLS frontend
   * (with the client certificate when mTLS is on). @default plaintext (the local stack)
   */
  readonly channelCredentials?: ChannelCredentials;
  /** TLS server name to verify when it differs from the address' host (an NLB name). @default the host */
  readonly serverName?: string;
  /** gRPC metadata of every call, e.g. `{ authorization: 'Bearer <admin token>' }`. @default none */
  readonly metadata?: Record<string, string>;
  /** Refreshes in flight at once. @default 8 */
  readonly concurrency?: number;
  /** Rows per database page. @default 500 */
  readonly pageSize?: number;
  /** Only this namespace (UUID text). @default all */
  readonly namespaceId?: string;
  /** Attempts per execution (Unavailable while shards move). @default 5 */
  readonly attempts?: number;
}

/**
 * Refreshes the tasks of every execution in the database through the new Region's frontend, so its
 * history hosts rewrite the visibility records into its store. Idempotent (a record is upserted).
 * NotFound (the run was deleted meanwhile) counts as done.
 */
export async function reconcileVisibility(db: PgClient, o: ReconcileOptions): Promise<ReconcileReport> {
  const t = Date.now();
  const grpc = new GrpcClient(o.frontendAddress, o.channelCredentials ?? credentials.createInsecure(),
    o.serverName ? { 'grpc.ssl_target_name_override': o.serverName, 'grpc.default_authority': o.serverName } : {});
  const md = new Metadata();
  for (const [k, v] of Object.entries(o.metadata ?? {})) md.set(k, v);
  const call = (e: ExecutionKey) => new Promise<void>((res, rej) => {
    grpc.makeUnaryRequest(METHOD, (b: Buffer) => b, (b: Buffer) => b, encodeRefreshRequest(e), md, { deadline: Date.now() + 10_000 }, (err) => (err && err.code !== 5 ? rej(err) : res()));
  });
  let executions = 0;
  let refreshed = 0;
  const failures: Array<{ workflowId: string; runId: string; error: string }> = [];
  try {
    for await (const page of listExecutions(db, o)) {
      executions += page.length;
      let next = 0;
      const lane = async () => {
        while (next < page.length) {
          const e = page[next++];
          for (let attempt = 1; ; attempt++) {
            try {
              await call(e);
              refreshed++;
              break;
            } catch (err) {
              if (attempt >= (o.attempts ?? 5)) {
                failures.push({ workflowId: e.workflowId, runId: e.runId, error: (err as Error).message });
                break;
              }
              await new Promise((r) => setTimeout(r, 200 * attempt));
            }
          }
        }
      };
      await Promise.all(Array.from({ length: o.concurrency ?? 8 }, lane));
    }
  } finally {
    grpc.close();
  }
  return { executions, refreshed, failures, ms: Date.now() - t };
}
