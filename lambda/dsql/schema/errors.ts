/**
 * Error classification and retry for DSQL (see /work/shared/DSQL.md):
 *   - retried: 40001 (OC000 data conflict, OC001 schema changed), 53400 (connection rate),
 *     53300 (too many connections), connection failures (08xxx, socket errors, closed connections);
 *   - never retried: 0A000 (unsupported), 42xxx (syntax/undefined/duplicate), 54000 (limits),
 *     25P02 (aborted transaction) and anything not listed above: those are bugs or limits.
 */

/** What the runner does with an error. */
export type ErrorClass = 'occ' | 'rate' | 'connection' | 'fatal';

/** Shape of a `pg` DatabaseError or a Node socket error, as far as we read it. */
interface ErrorLike {
  code?: string;
  message?: string;
}

// ENOTFOUND (no such host) is left out on purpose: a wrong endpoint name is a configuration error.
const SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
const CONNECTION_MESSAGES = [/connection terminated/i, /connection timeout/i, /client was closed/i, /not queryable/i, /socket hang up/i, /server closed the connection/i];

/** Classifies an error from `pg` or the network. Never matches on message text for SQL errors. */
export function classifyError(err: unknown): ErrorClass {
  const e = (err ?? {}) as ErrorLike;
  const code = typeof e.code === 'string' ? e.code : '';
  if (code === '40001') return 'occ';
  if (code === '53400' || code === '53300') return 'rate';
  if (code.startsWith('08') || code === '57P01' || SOCKET_CODES.has(code)) return 'connection';
  if (/^[0-9A-Z]{5}$/.test(code)) return 'fatal';
  if (CONNECTION_MESSAGES.some((re) => re.test(e.message ?? ''))) return 'connection';
  return 'fatal';
}

/** SQLSTATEs that mean "this object already exists": a resumed statement that had been applied. */
export const ALREADY_EXISTS_CODES = new Set(['42P07', '42701', '42710', '42P06', '42723', '23505']);

/** Returns `"SQLSTATE 0A000: message"` (or the plain message), for error reports. */
export function describeError(err: unknown): string {
  const e = (err ?? {}) as ErrorLike;
  const msg = (e.message ?? String(err)).replace(/\s+/g, ' ').trim();
  return e.code && /^[0-9A-Z]{5}$/.test(e.code) ? `SQLSTATE ${e.code}: ${msg}` : msg;
}

/** A failure the operator must act on (bad schema, refused statement, failed index build, deadline). */
export class MigrationError extends Error {
  constructor(message: string, readonly cause?: unknown) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** Thrown by {@link withRetry} when the deadline passes while an operation keeps failing with a retryable error. */
export class DeadlineExceededError extends Error {
  constructor(message: string, readonly lastError?: unknown) {
    super(message);
    this.name = 'DeadlineExceededError';
  }
}

/** Retry policy: exponential backoff with full jitter, bounded by an absolute deadline. */
export interface RetryOptions {
  /** Absolute deadline (epoch ms); no attempt starts after it. */
  readonly deadline: number;
  /** First backoff in ms. @default 50 */
  readonly baseDelayMs?: number;
  /** Backoff cap in ms. @default 5000 */
  readonly maxDelayMs?: number;
  /** Called before each retry (for logging and for reconnecting after a connection error). */
  readonly onRetry?: (err: unknown, cls: ErrorClass, attempt: number, delayMs: number) => Promise<void> | void;
}

/**
 * Runs `fn` until it succeeds, a non-retryable error is thrown (rethrown as is), or the deadline
 * passes (throws {@link DeadlineExceededError} carrying the last error). `attempt` starts at 1.
 */
export async function withRetry<T>(what: string, fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const base = opts.baseDelayMs ?? 50;
  const cap = opts.maxDelayMs ?? 5000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const cls = classifyError(err);
      if (cls === 'fatal') throw err;
      const delay = Math.floor(Math.random() * Math.min(cap, base * 2 ** Math.min(attempt, 20)));
      if (Date.now() + delay >= opts.deadline) {
        throw new DeadlineExceededError(`${what}: still failing at the deadline after ${attempt} attempts: ${describeError(err)}`, err);
      }
      await opts.onRetry?.(err, cls, attempt, delay);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
