/**
 * A reconnecting admin session: one `pg.Client` at a time, replaced after a connection failure,
 * with every unit of work run under {@link withRetry}.
 */
import type { Client, QueryResult } from 'pg';
import { connectDsql, DsqlConnectionOptions } from './connection';
import { describeError, withRetry } from './errors';

/** Logger used across the runner: one line per call. */
export type Logger = (message: string) => void;

export class DsqlSession {
  private client?: Client;

  constructor(
    readonly connection: DsqlConnectionOptions,
    readonly deadline: number,
    private readonly log: Logger = () => undefined,
  ) {}

  /** The open client, connecting first if needed (the connect itself is retried by {@link run}). */
  async getClient(): Promise<Client> {
    if (!this.client) this.client = await connectDsql(this.connection);
    return this.client;
  }

  /** Closes the current client (ignores errors); the next call reconnects. */
  async reset(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.end().catch(() => undefined);
  }

  /**
   * Runs `fn` on the session's client with retries on OCC, rate and connection errors until the
   * session deadline. `attempt` starts at 1; after a connection error `fn` runs on a new client.
   */
  async run<T>(what: string, fn: (client: Client, attempt: number) => Promise<T>): Promise<T> {
    return withRetry(what, async (attempt) => fn(await this.getClient(), attempt), {
      deadline: this.deadline,
      onRetry: async (err, cls, attempt, delay) => {
        this.log(`retry ${attempt} of ${what} in ${delay} ms after ${cls} error: ${describeError(err)}`);
        if (cls === 'connection' || cls === 'rate') await this.reset();
      },
    });
  }

  /** One statement in autocommit mode (its own implicit transaction), retried like {@link run}. */
  async query(what: string, sql: string, params?: unknown[]): Promise<QueryResult> {
    return this.run(what, (c) => c.query(sql, params));
  }

  /**
   * Several DML statements in one explicit transaction (BEGIN ... COMMIT), retried as a whole.
   * Never pass DDL here: DSQL refuses DDL mixed with DML and more than one DDL per transaction.
   */
  async transaction(what: string, statements: Array<{ sql: string; params?: unknown[] }>): Promise<void> {
    await this.run(what, async (c) => {
      await c.query('BEGIN');
      try {
        for (const s of statements) await c.query(s.sql, s.params);
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    });
  }

  async close(): Promise<void> {
    await this.reset();
  }
}
