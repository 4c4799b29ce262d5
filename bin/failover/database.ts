/**
 * {@link ClusterDatabase} over `pg` with DSQL IAM authentication: the schema tool's connection
 * (lambda/dsql/schema/connection.ts) and its error classification and retry
 * (lambda/dsql/schema/errors.ts). Works the same against Aurora DSQL and dsql-local.
 *
 * Transactions (each statement is its own implicit transaction):
 *  - reads of `cluster_membership` and `shards` change no row;
 *  - `deleteMembers` deletes at most the ids given, by primary key (`membership_partition` 0,
 *    `host_id`); the caller passes at most {@link MEMBER_DELETE_BATCH} (500) ids, far below DSQL's
 *    3,000 rows per transaction, and each row is a few hundred bytes. Two failover runs deleting the
 *    same rows at once: the later committer gets 40001 (OC000) and is retried; it then deletes 0.
 *    A host heartbeating at that moment (upstream upserts its row every 10-15 s) conflicts the same
 *    way; the retry deletes its row, and its next heartbeat inserts it again.
 */
import { Reader } from 'protobufjs/minimal';
import type { Client } from 'pg';
import { connectDsql, DsqlConnectionOptions } from '../../lambda/dsql/schema/connection';
import { classifyError, withRetry } from '../../lambda/dsql/schema/errors';
import { MEMBER_DELETE_BATCH } from './failover';
import type { ClusterDatabase, MemberRow, ShardRecord } from './types';

/** Upstream's membership partition (go.temporal.io/server v1.32.2 sqlplugin, `constMembershipPartition`). */
const MEMBERSHIP_PARTITION = 0;

/**
 * `ShardInfo.owner` from a `shards.data` blob (upstream's persistence.v1.ShardInfo, Proto3: field 3,
 * string; proto/internal/temporal/server/api/persistence/v1/executions.proto). '' when absent.
 * @throws Error for an encoding other than Proto3 or a blob that is not protobuf
 */
export function shardOwnerFromBlob(data: Uint8Array, encoding: string): string {
  if (encoding !== 'Proto3') throw new Error(`shards.data_encoding is ${JSON.stringify(encoding)}; only Proto3 is read (upstream writes Proto3)`);
  const r = Reader.create(data);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 3 && (tag & 7) === 2) return r.string();
    r.skipType(tag & 7);
  }
  return '';
}

/** Options of {@link PgClusterDatabase}. */
export interface PgClusterDatabaseOptions {
  /** Where and as whom to connect (default user `admin`, `dsql:DbConnectAdmin`). */
  readonly connection: DsqlConnectionOptions;
  /** Give up retrying a conflict or connection error after this long, ms. @default 60000 */
  readonly retryMs?: number;
}

/** The shared database's membership and shard tables, over one lazily opened connection. Call {@link close}. */
export class PgClusterDatabase implements ClusterDatabase {
  private client?: Promise<Client>;

  constructor(private readonly options: PgClusterDatabaseOptions) {}

  private async query<R>(what: string, text: string, values: unknown[] = []): Promise<R[]> {
    return withRetry(what, async () => {
      this.client ??= connectDsql({ applicationName: 'temporal-dsql-failover', ...this.options.connection });
      const c = await this.client.catch((e) => { this.client = undefined; throw e; });
      return (await c.query(text, values)).rows as R[];
    }, {
      deadline: Date.now() + (this.options.retryMs ?? 60_000),
      onRetry: async (err) => {
        if (classifyError(err) === 'connection') await this.close();
      },
    });
  }

  async listMembers(): Promise<MemberRow[]> {
    // TIMESTAMP without time zone holding UTC (upstream writes time.Now().UTC()): the epoch reads it as UTC.
    const rows = await this.query<{ host_id: string; rpc_address: string; rpc_port: number; role: number; hb: string; exp: string }>('list cluster_membership',
      `SELECT host_id::text AS host_id, rpc_address, rpc_port, role, extract(epoch FROM last_heartbeat)::text AS hb, extract(epoch FROM record_expiry)::text AS exp
         FROM cluster_membership WHERE membership_partition = $1 ORDER BY rpc_address, rpc_port, host_id`, [MEMBERSHIP_PARTITION]);
    return rows.map((r) => ({
      hostId: r.host_id, rpcAddress: r.rpc_address, rpcPort: Number(r.rpc_port), role: Number(r.role),
      lastHeartbeat: new Date(Math.round(Number(r.hb) * 1000)), recordExpiry: new Date(Math.round(Number(r.exp) * 1000)),
    }));
  }

  /** @throws Error for more than {@link MEMBER_DELETE_BATCH} ids (one bounded transaction per call) */
  async deleteMembers(hostIds: readonly string[]): Promise<number> {
    if (hostIds.length === 0) return 0;
    if (hostIds.length > MEMBER_DELETE_BATCH) throw new Error(`deleteMembers: ${hostIds.length} ids; at most ${MEMBER_DELETE_BATCH} per call (DSQL: 3,000 rows per transaction)`);
    const params = hostIds.map((_, i) => `$${i + 2}::uuid`).join(', ');
    const rows = await this.query<{ host_id: string }>('delete cluster_membership rows',
      `DELETE FROM cluster_membership WHERE membership_partition = $1 AND host_id IN (${params}) RETURNING host_id`, [MEMBERSHIP_PARTITION, ...hostIds]);
    return rows.length;
  }

  async shardRangeIds(): Promise<Map<number, bigint>> {
    const rows = await this.query<{ shard_id: number; range_id: string }>('read shards', 'SELECT shard_id, range_id::text AS range_id FROM shards ORDER BY shard_id');
    return new Map(rows.map((r) => [Number(r.shard_id), BigInt(r.range_id)]));
  }

  async shardRecords(): Promise<Map<number, ShardRecord>> {
    const rows = await this.query<{ shard_id: number; range_id: string; data: Buffer; data_encoding: string }>('read shards',
      'SELECT shard_id, range_id::text AS range_id, data, data_encoding FROM shards ORDER BY shard_id');
    return new Map(rows.map((r) => [Number(r.shard_id), { rangeId: BigInt(r.range_id), owner: shardOwnerFromBlob(r.data, r.data_encoding) }]));
  }

  async now(): Promise<Date> {
    const [r] = await this.query<{ t: string }>('read the database clock', 'SELECT extract(epoch FROM now())::text AS t');
    return new Date(Math.round(Number(r.t) * 1000));
  }

  /** Closes the connection (idempotent); a later call opens a new one. */
  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.then((x) => x.end()).catch(() => undefined);
  }
}
