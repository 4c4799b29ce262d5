/**
 * The schema migration runner: applies a versioned DSQL schema (see `schema-dir.ts`) up to a target
 * version, resumably. Used by the custom-resource handlers, the operator CLI and the tests.
 *
 * Bookkeeping, in the same database:
 *   - `schema_version` and `schema_update_history`: Temporal's own layout (the server reads
 *     `schema_version.curr_version` for `db_name` = its configured database at start-up);
 *   - `schema_migration_progress`: ours, one row per statement of a version being applied
 *     (`started`, `submitted` with the index job id, `done`), so that a crash, a timeout or a
 *     Lambda restart resumes where it stopped.
 *
 * Rules followed (DSQL): every statement in its own query call and its own transaction, DDL never
 * mixed with DML; `CREATE INDEX ASYNC` job ids collected and awaited with `CALL sys.wait_for_job`
 * outside any transaction, independent builds awaited together; never drops or truncates.
 */
import type { Client } from 'pg';
import { connectDsql, DsqlConnectionOptions } from './connection';
import { ALREADY_EXISTS_CODES, classifyError, DeadlineExceededError, describeError, MigrationError, withRetry } from './errors';
import { compareVersions, SchemaStatement, SchemaVersionDir, VersionedSchema } from './schema-dir';
import { DsqlSession, Logger } from './session';

/** Name of our per-statement progress table. */
export const PROGRESS_TABLE = 'schema_migration_progress';
/** Tables the runner itself owns or writes (Temporal's version tables and our progress table). */
export const BOOKKEEPING_TABLES = ['schema_version', 'schema_update_history', PROGRESS_TABLE] as const;

const BOOKKEEPING_DDL = [
  `CREATE TABLE IF NOT EXISTS schema_version (version_partition INT NOT NULL, db_name VARCHAR(255) NOT NULL, creation_time TIMESTAMP, curr_version VARCHAR(64), min_compatible_version VARCHAR(64), PRIMARY KEY (version_partition, db_name))`,
  `CREATE TABLE IF NOT EXISTS schema_update_history (version_partition INT NOT NULL, year INT NOT NULL, month INT NOT NULL, update_time TIMESTAMP NOT NULL, description VARCHAR(255), manifest_md5 VARCHAR(64), new_version VARCHAR(64), old_version VARCHAR(64), PRIMARY KEY (version_partition, year, month, update_time))`,
  `CREATE TABLE IF NOT EXISTS ${PROGRESS_TABLE} (db_name VARCHAR(255) NOT NULL, version VARCHAR(64) NOT NULL, step INT NOT NULL, statement_sha256 VARCHAR(64) NOT NULL, state VARCHAR(16) NOT NULL, job_id VARCHAR(64), updated_at TIMESTAMP NOT NULL, PRIMARY KEY (db_name, version, step))`,
];

/** Version "0.0": the state after `setup` and before any version is applied (Temporal's convention). */
export const INITIAL_VERSION = '0.0';

/** Test and operations hooks. */
export interface RunnerHooks {
  /**
   * Called after a statement succeeded on the database and before its progress is recorded: the
   * worst moment for a crash. Throwing here simulates one (tests inject crashes this way).
   */
  readonly afterStatement?: (version: string, statement: SchemaStatement) => void | Promise<void>;
  /** Called when every statement and index of a version is done, before the version is marked complete. */
  readonly beforeVersionComplete?: (version: string) => void | Promise<void>;
}

/** Runner configuration. */
export interface SchemaRunnerOptions {
  /** Admin connection (see `connection.ts`). `user` must be `admin` (or unset). */
  readonly connection: DsqlConnectionOptions;
  /** The loaded versioned schema directory. */
  readonly schema: VersionedSchema;
  /** Value of `db_name` in the version tables: the database the Temporal servers are configured with. @default 'postgres' */
  readonly dbName?: string;
  /**
   * How many index builds are awaited at the same time (one connection each). 1 waits one after the
   * other. @default 8
   */
  readonly indexWaitConcurrency?: number;
  /**
   * true: submit independent index builds together and await them together (before the first
   * statement that touches their table, or at the end of the version). false: await each build
   * right after submitting it, one at a time (the naive order; kept as the measurement baseline).
   * @default true
   */
  readonly batchIndexBuilds?: boolean;
  /** One line per event. @default - silent */
  readonly log?: Logger;
  readonly hooks?: RunnerHooks;
}

/** What `status` reports. */
export interface SchemaStatus {
  /** `curr_version` for `db_name`, or undefined when the version tables or the row do not exist. */
  readonly currentVersion?: string;
  readonly minCompatibleVersion?: string;
  /** Highest version in the schema directory. */
  readonly latestVersion: string;
  /** Versions in the directory above the current one. */
  readonly pendingVersions: string[];
  /** Statements recorded in progress for versions not yet complete, by state. */
  readonly inFlight: Array<{ version: string; step: number; state: string; jobId?: string }>;
}

/** What `apply` did. */
export interface ApplyResult {
  /**
   * `applied`: at least one version was completed now; `up-to-date`: nothing to do;
   * `target-below-current`: the target is lower than the current version (a CloudFormation
   * rollback): nothing is changed; `in-progress`: the deadline came first, call again to resume.
   */
  readonly outcome: 'applied' | 'up-to-date' | 'target-below-current' | 'in-progress';
  readonly fromVersion: string;
  readonly currentVersion: string;
  readonly targetVersion: string;
  /** Versions completed by this call. */
  readonly appliedVersions: string[];
  /** Statements executed by this call (index submissions included). */
  readonly statementsExecuted: number;
  /** Index build jobs still running when this call returned (`in-progress` only). */
  readonly pendingJobs: string[];
}

interface ProgressRow {
  step: number;
  state: 'started' | 'submitted' | 'done';
  sha: string;
  jobId?: string;
}

interface PendingIndex {
  readonly statement: SchemaStatement;
  jobId?: string;
}

const JOB_ID_RE = /^[a-z0-9]{1,64}$/;

/**
 * Applies a versioned schema. One instance per run; call {@link close} at the end.
 *
 * Errors: {@link MigrationError} for anything an operator must fix (a refused statement with its
 * SQLSTATE and location, a failed index build with the job's status and details, a statement
 * changed after it was applied); retryable errors are retried until the deadline.
 */
export class SchemaRunner {
  private readonly dbName: string;
  private readonly concurrency: number;
  private readonly log: Logger;

  constructor(private readonly options: SchemaRunnerOptions) {
    if ((options.connection.user ?? 'admin') !== 'admin') {
      throw new Error(`the schema runner connects as admin only, got user ${JSON.stringify(options.connection.user)}`);
    }
    this.dbName = options.dbName ?? 'postgres';
    this.concurrency = options.indexWaitConcurrency ?? 8;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1 || this.concurrency > 64) {
      throw new Error(`indexWaitConcurrency must be an integer from 1 to 64, got ${options.indexWaitConcurrency}`);
    }
    this.log = options.log ?? (() => undefined);
  }

  /** Creates the bookkeeping tables if missing and records version 0.0 if no version is recorded. Idempotent. */
  async setup(deadline = Date.now() + 10 * 60_000): Promise<void> {
    const s = new DsqlSession(this.options.connection, deadline, this.log);
    try {
      await this.ensureBookkeeping(s);
    } finally {
      await s.close();
    }
  }

  /** Reads the recorded version and in-flight progress (creates nothing). */
  async status(deadline = Date.now() + 60_000): Promise<SchemaStatus> {
    const s = new DsqlSession(this.options.connection, deadline, this.log);
    try {
      const exists = await s.query('read catalog', `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name = ANY($1)`, [[...BOOKKEEPING_TABLES]]);
      const have = new Set(exists.rows.map((r) => r.table_name as string));
      let currentVersion: string | undefined;
      let minCompatibleVersion: string | undefined;
      if (have.has('schema_version')) {
        const r = await s.query('read schema_version', 'SELECT curr_version, min_compatible_version FROM schema_version WHERE version_partition = 0 AND db_name = $1', [this.dbName]);
        currentVersion = r.rows[0]?.curr_version ?? undefined;
        minCompatibleVersion = r.rows[0]?.min_compatible_version ?? undefined;
      }
      const pendingVersions = this.options.schema.versions
        .map((v) => v.version)
        .filter((v) => currentVersion === undefined || compareVersions(v, currentVersion) > 0);
      const inFlight: SchemaStatus['inFlight'] = [];
      if (have.has(PROGRESS_TABLE)) {
        const r = await s.query('read progress', `SELECT version, step, state, job_id FROM ${PROGRESS_TABLE} WHERE db_name = $1 ORDER BY version, step`, [this.dbName]);
        for (const row of r.rows) {
          if (pendingVersions.includes(row.version)) inFlight.push({ version: row.version, step: row.step, state: row.state, jobId: row.job_id ?? undefined });
        }
      }
      return { currentVersion, minCompatibleVersion, latestVersion: this.options.schema.latestVersion, pendingVersions, inFlight };
    } finally {
      await s.close();
    }
  }

  /**
   * Applies every version above the current one up to `targetVersion` (default: the latest).
   * Returns `in-progress` when `deadline` (epoch ms) arrives first; progress is kept and the next
   * call resumes. A target below the current version changes nothing.
   * @throws MigrationError (see the class doc); Error when `targetVersion` is not in the directory
   */
  async apply(opts: { targetVersion?: string; deadline: number }): Promise<ApplyResult> {
    const schema = this.options.schema;
    const target = opts.targetVersion ?? schema.latestVersion;
    if (!schema.versions.some((v) => v.version === target)) {
      throw new MigrationError(`target version ${JSON.stringify(target)} is not in the schema directory; allowed: ${schema.versions.map((v) => v.version).join(', ')}`);
    }
    const s = new DsqlSession(this.options.connection, opts.deadline, this.log);
    const applied: string[] = [];
    let executed = 0;
    let from = INITIAL_VERSION;
    let current = INITIAL_VERSION;
    const pendingJobs: string[] = [];
    try {
      try {
        await this.ensureBookkeeping(s);
        from = current = await this.currentVersion(s);
      } catch (e) {
        if (e instanceof DeadlineExceededError) return this.result('in-progress', from, current, target, applied, executed, pendingJobs);
        throw e;
      }
      if (compareVersions(target, current) < 0) {
        this.log(`target ${target} is below the current version ${current}: nothing to do (rollback keeps the newer schema)`);
        return this.result('target-below-current', from, current, target, applied, executed, pendingJobs);
      }
      for (const v of schema.versions) {
        if (compareVersions(v.version, current) <= 0 || compareVersions(v.version, target) > 0) continue;
        const r = await this.applyVersion(s, v, current, opts.deadline);
        executed += r.executed;
        if (!r.complete) {
          pendingJobs.push(...r.pendingJobs);
          return this.result('in-progress', from, current, target, applied, executed, pendingJobs);
        }
        applied.push(v.version);
        current = v.version;
      }
      return this.result(applied.length > 0 ? 'applied' : 'up-to-date', from, current, target, applied, executed, pendingJobs);
    } catch (e) {
      if (e instanceof DeadlineExceededError) {
        this.log(`deadline reached: ${e.message}`);
        return this.result('in-progress', from, current, target, applied, executed, pendingJobs);
      }
      throw e;
    } finally {
      await s.close();
    }
  }

  private result(outcome: ApplyResult['outcome'], fromVersion: string, currentVersion: string, targetVersion: string,
    appliedVersions: string[], statementsExecuted: number, pendingJobs: string[]): ApplyResult {
    return { outcome, fromVersion, currentVersion, targetVersion, appliedVersions, statementsExecuted, pendingJobs };
  }

  private async ensureBookkeeping(s: DsqlSession): Promise<void> {
    const existing = await s.query('read catalog', `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name = ANY($1)`, [[...BOOKKEEPING_TABLES]]);
    const have = new Set(existing.rows.map((r) => r.table_name as string));
    for (const [i, ddl] of BOOKKEEPING_DDL.entries()) {
      if (!have.has(BOOKKEEPING_TABLES[i])) await s.query(`create ${BOOKKEEPING_TABLES[i]}`, ddl);
    }
    const now = new Date();
    await s.query('record initial version',
      `INSERT INTO schema_version (version_partition, db_name, creation_time, curr_version, min_compatible_version) VALUES (0, $1, $2, $3, $3) ON CONFLICT (version_partition, db_name) DO NOTHING`,
      [this.dbName, now, INITIAL_VERSION]);
  }

  private async currentVersion(s: DsqlSession): Promise<string> {
    const r = await s.query('read schema_version', 'SELECT curr_version FROM schema_version WHERE version_partition = 0 AND db_name = $1', [this.dbName]);
    return (r.rows[0]?.curr_version as string | undefined) ?? INITIAL_VERSION;
  }

  private async readProgress(s: DsqlSession, version: string): Promise<Map<number, ProgressRow>> {
    const r = await s.query(`read progress of ${version}`, `SELECT step, state, statement_sha256, job_id FROM ${PROGRESS_TABLE} WHERE db_name = $1 AND version = $2`, [this.dbName, version]);
    return new Map(r.rows.map((row) => [row.step as number, { step: row.step, state: row.state, sha: row.statement_sha256, jobId: row.job_id ?? undefined }]));
  }

  private async record(s: DsqlSession, version: string, st: SchemaStatement, state: ProgressRow['state'], jobId?: string): Promise<void> {
    await s.query(`record ${version} step ${st.index} ${state}`,
      `INSERT INTO ${PROGRESS_TABLE} (db_name, version, step, statement_sha256, state, job_id, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (db_name, version, step) DO UPDATE SET statement_sha256 = EXCLUDED.statement_sha256, state = EXCLUDED.state, job_id = EXCLUDED.job_id, updated_at = EXCLUDED.updated_at`,
      [this.dbName, version, st.index, st.sha256, state, jobId ?? null, new Date()]);
  }

  private where(v: SchemaVersionDir, st: SchemaStatement): string {
    return `v${v.version}/${st.file}:${st.line}`;
  }

  /** Applies one version; `complete: false` when the deadline came first. */
  private async applyVersion(s: DsqlSession, v: SchemaVersionDir, previous: string, deadline: number):
  Promise<{ complete: boolean; executed: number; pendingJobs: string[] }> {
    const progress = await this.readProgress(s, v.version);
    this.log(`applying v${v.version} (${v.statements.length} statements, ${[...progress.values()].filter((p) => p.state === 'done').length} already done): ${v.description}`);
    const pending = new Map<number, PendingIndex>();
    let executed = 0;
    for (const st of v.statements) {
      const p = progress.get(st.index);
      if (p && p.sha !== st.sha256) {
        throw new MigrationError(`${this.where(v, st)} changed after it was applied (recorded sha256 ${p.sha.slice(0, 12)}, now ${st.sha256.slice(0, 12)}); a released version must never change: put the change in a new version`);
      }
      if (p?.state === 'done') continue;
      if (Date.now() >= deadline) {
        this.log(`deadline reached before ${this.where(v, st)}`);
        return { complete: false, executed, pendingJobs: jobIds(pending) };
      }
      if (st.kind === 'async-index') {
        if (p?.state === 'submitted' && p.jobId) {
          const next = await this.resumeJob(s, v, st, p.jobId);
          if (next === 'wait') pending.set(st.index, { statement: st, jobId: p.jobId });
          if (next !== 'resubmit') continue;
        }
        const jobId = await this.submitIndex(s, v, st, p?.state === 'started');
        executed++;
        pending.set(st.index, { statement: st, jobId });
        if (this.options.batchIndexBuilds === false) {
          const done = await this.awaitIndexes(s, v, [...pending.values()], deadline);
          for (const b of done) pending.delete(b.statement.index);
          if (pending.size > 0) return { complete: false, executed, pendingJobs: jobIds(pending) };
        }
        continue;
      }
      // A statement that touches a table whose index is still building waits for that build first.
      const blockers = [...pending.values()].filter((x) => x.statement.tableName && mentions(st.sql, x.statement.tableName));
      if (blockers.length > 0) {
        const done = await this.awaitIndexes(s, v, blockers, deadline);
        for (const b of done) pending.delete(b.statement.index);
        if (done.length < blockers.length) return { complete: false, executed, pendingJobs: jobIds(pending) };
      }
      await this.record(s, v.version, st, 'started');
      await this.executeStatement(s, v, st, p?.state === 'started');
      executed++;
      await this.options.hooks?.afterStatement?.(v.version, st);
      await this.record(s, v.version, st, 'done');
    }
    if (pending.size > 0) {
      const all = [...pending.values()];
      const done = await this.awaitIndexes(s, v, all, deadline);
      for (const b of done) pending.delete(b.statement.index);
      if (pending.size > 0) return { complete: false, executed, pendingJobs: jobIds(pending) };
    }
    await this.options.hooks?.beforeVersionComplete?.(v.version);
    const now = new Date();
    await s.transaction(`mark v${v.version} complete`, [
      {
        sql: `INSERT INTO schema_version (version_partition, db_name, creation_time, curr_version, min_compatible_version) VALUES (0, $1, $2, $3, $4)
              ON CONFLICT (version_partition, db_name) DO UPDATE SET creation_time = EXCLUDED.creation_time, curr_version = EXCLUDED.curr_version, min_compatible_version = EXCLUDED.min_compatible_version`,
        params: [this.dbName, now, v.version, v.minCompatibleVersion],
      },
      {
        sql: `INSERT INTO schema_update_history (version_partition, year, month, update_time, description, manifest_md5, new_version, old_version) VALUES (0, $1, $2, $3, $4, $5, $6, $7)`,
        params: [now.getUTCFullYear(), now.getUTCMonth() + 1, now, v.description.slice(0, 255), v.manifestMd5, v.version, previous],
      },
    ]);
    this.log(`v${v.version} complete`);
    return { complete: true, executed, pendingJobs: [] };
  }

  /** Runs one DDL or DML statement in autocommit mode. `resumed`: a previous run may have applied it. */
  private async executeStatement(s: DsqlSession, v: SchemaVersionDir, st: SchemaStatement, resumed: boolean): Promise<void> {
    let maybeApplied = resumed;
    try {
      await s.run(`${this.where(v, st)}`, async (c, attempt) => {
        // After a lost connection the statement may have committed: "already exists" then means done.
        if (attempt > 1) maybeApplied = true;
        await c.query(st.sql);
      });
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      if (maybeApplied && ALREADY_EXISTS_CODES.has(code)) {
        this.log(`${this.where(v, st)} had already been applied (${describeError(e)})`);
        return;
      }
      if (e instanceof DeadlineExceededError) throw e;
      throw new MigrationError(`${this.where(v, st)} failed: ${describeError(e)}${classifyError(e) === 'fatal' ? ' (not retried: a bug or a DSQL limit)' : ''}; statement: ${oneLine(st.sql, 160)}`, e);
    }
  }

  /** Submits `CREATE INDEX ASYNC`; returns the job id, or undefined when the index is already complete. */
  private async submitIndex(s: DsqlSession, v: SchemaVersionDir, st: SchemaStatement, resumed: boolean): Promise<string | undefined> {
    await this.record(s, v.version, st, 'started');
    let jobId: string | undefined;
    try {
      const r = await s.run(`${this.where(v, st)}`, (c) => c.query(st.sql));
      const row = r.rows?.[0];
      jobId = row ? (row.job_id ?? Object.values(row)[0]) as string | undefined : undefined;
    } catch (e) {
      if (e instanceof DeadlineExceededError) throw e;
      throw new MigrationError(`${this.where(v, st)} failed: ${describeError(e)}; statement: ${oneLine(st.sql, 160)}`, e);
    }
    await this.options.hooks?.afterStatement?.(v.version, st);
    if (!jobId) {
      // IF NOT EXISTS found the index: it is either built, or being built by a job we lost track of.
      jobId = await this.findRunningJob(s, st);
      if (!jobId) {
        await this.checkIndexValid(s, v, st, resumed);
        await this.record(s, v.version, st, 'done');
        return undefined;
      }
    }
    if (!JOB_ID_RE.test(jobId)) throw new MigrationError(`${this.where(v, st)}: unexpected job id ${JSON.stringify(jobId)} from CREATE INDEX ASYNC`);
    this.log(`${this.where(v, st)} index ${st.indexName} submitted as job ${jobId}`);
    await this.record(s, v.version, st, 'submitted', jobId);
    return jobId;
  }

  /**
   * A job id recorded by an earlier run. `wait`: still running; `done`: the index is built (recorded
   * as done); `resubmit`: the build failed or was lost and left no index (after the operator fixed
   * the cause), so the statement is submitted again. Finished jobs leave `sys.jobs` after about 30
   * minutes, so a missing job is judged by the index itself.
   * @throws MigrationError when the build failed and left an index behind (the operator must drop it)
   */
  private async resumeJob(s: DsqlSession, v: SchemaVersionDir, st: SchemaStatement, jobId: string): Promise<'wait' | 'done' | 'resubmit'> {
    const r = await s.query(`read job ${jobId}`, 'SELECT status FROM sys.jobs WHERE job_id = $1', [jobId]);
    const status = r.rows[0]?.status as string | undefined;
    if (status !== undefined && !['completed', 'failed', 'cancelled'].includes(status)) return 'wait';
    if (status !== 'completed' && !(await this.indexExists(s, st))) {
      this.log(`${this.where(v, st)} index ${st.indexName}: earlier job ${jobId} ${status ?? 'is gone'} and left no index; submitting again`);
      return 'resubmit';
    }
    await this.checkIndexValid(s, v, st, true);
    await this.record(s, v.version, st, 'done', jobId);
    return 'done';
  }

  private async indexExists(s: DsqlSession, st: SchemaStatement): Promise<boolean> {
    const r = await s.query(`check index ${st.indexName}`,
      `SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = $1 AND n.nspname = 'public'`, [st.indexName]);
    return r.rows.length > 0;
  }

  private async findRunningJob(s: DsqlSession, st: SchemaStatement): Promise<string | undefined> {
    const r = await s.query(`find job of ${st.indexName}`,
      `SELECT job_id, status, object_name FROM sys.jobs WHERE status NOT IN ('completed', 'failed', 'cancelled') ORDER BY start_time DESC`);
    const row = r.rows.find((x) => typeof x.object_name === 'string' && (x.object_name === st.indexName || x.object_name.endsWith(`.${st.indexName}`)));
    return row?.job_id;
  }

  private async checkIndexValid(s: DsqlSession, v: SchemaVersionDir, st: SchemaStatement, resumed: boolean): Promise<void> {
    const r = await s.query(`check index ${st.indexName}`,
      `SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = $1 AND n.nspname = 'public'`, [st.indexName]);
    if (r.rows.length === 0) {
      throw new MigrationError(`${this.where(v, st)}: CREATE INDEX ASYNC returned no job id and index ${st.indexName} does not exist`);
    }
    if (!r.rows[0].indisvalid) {
      throw new MigrationError(`${this.where(v, st)}: index ${st.indexName} exists but is not valid and no build job is running (an earlier build failed${resumed ? ' or was lost' : ''}); drop that index by hand (DROP INDEX ${st.indexName}; it holds no data) and run the migration again`);
    }
  }

  /**
   * Waits for index builds together, up to `concurrency` at a time, each with `CALL sys.wait_for_job`
   * on its own connection, outside any transaction. Records `done` for each success. Returns the
   * ones completed; fewer than given means the deadline came first.
   * @throws MigrationError listing every failed build with its `sys.jobs` status and details
   */
  private async awaitIndexes(s: DsqlSession, v: SchemaVersionDir, items: PendingIndex[], deadline: number): Promise<PendingIndex[]> {
    const done: PendingIndex[] = [];
    const failures: string[] = [];
    const queue = [...items];
    const started = Date.now();
    const clients = new Set<Client>();
    let timedOut = false;
    // The waits run on their own connections, but progress and failure reads go through the one
    // session `s`: a pg Client must not run two queries at once, so those are chained.
    let sessionChain: Promise<unknown> = Promise.resolve();
    const onSession = <T>(fn: () => Promise<T>): Promise<T> => {
      const p = sessionChain.then(fn);
      sessionChain = p.catch(() => undefined);
      return p;
    };
    const timer = setTimeout(() => {
      timedOut = true;
      for (const c of clients) c.end().catch(() => undefined);
    }, Math.max(0, deadline - Date.now()));
    const worker = async () => {
      for (let item = queue.shift(); item && !timedOut; item = queue.shift()) {
        const jobId = item.jobId;
        if (!jobId) { done.push(item); continue; }
        try {
          const ok = await withRetry(`wait for job ${jobId}`, async () => {
            const c = await connectDsql(this.options.connection);
            clients.add(c);
            try {
              const r = await c.query(`CALL sys.wait_for_job('${jobId}')`);
              const row = r.rows?.[0];
              return Boolean(row ? (row.succeeded ?? Object.values(row)[0]) : false);
            } finally {
              clients.delete(c);
              await c.end().catch(() => undefined);
            }
          }, { deadline, onRetry: (err, cls, attempt) => this.log(`retry ${attempt} waiting for job ${jobId} after ${cls} error: ${describeError(err)}`) });
          if (ok) {
            await onSession(() => this.record(s, v.version, item.statement, 'done', jobId));
            done.push(item);
          } else {
            failures.push(await onSession(() => this.describeJobFailure(s, v, item)));
          }
        } catch (e) {
          if (timedOut || e instanceof DeadlineExceededError) return;
          failures.push(`${this.where(v, item.statement)} index ${item.statement.indexName} job ${jobId}: waiting failed: ${describeError(e)}`);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.concurrency, items.length) }, worker));
    } finally {
      clearTimeout(timer);
    }
    this.log(`awaited ${done.length}/${items.length} index builds of v${v.version} in ${Date.now() - started} ms (concurrency ${this.concurrency})`);
    if (failures.length > 0) throw new MigrationError(`index build failed: ${failures.join('; ')}`);
    return done;
  }

  private async describeJobFailure(s: DsqlSession, v: SchemaVersionDir, item: PendingIndex): Promise<string> {
    const r = await s.query(`read job ${item.jobId}`, 'SELECT job_id, status, details, job_type, object_name FROM sys.jobs WHERE job_id = $1', [item.jobId]);
    const j = r.rows[0];
    const what = `${this.where(v, item.statement)} index ${item.statement.indexName} job ${item.jobId}`;
    return j ? `${what}: status ${j.status}, details: ${oneLine(String(j.details ?? ''), 300)}` : `${what}: sys.wait_for_job returned false and the job is no longer in sys.jobs`;
  }
}

function jobIds(pending: Map<number, PendingIndex>): string[] {
  return [...pending.values()].map((p) => p.jobId).filter((j): j is string => !!j);
}

/** True when `sql` names `table` as a whole identifier (case-insensitive). */
function mentions(sql: string, table: string): boolean {
  return new RegExp(`(^|[^\\w$])"?${table.replace(/[^\w$]/g, '')}"?([^\\w$]|$)`, 'i').test(sql);
}

function oneLine(text: string, max: number): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 3)}...` : t;
}
