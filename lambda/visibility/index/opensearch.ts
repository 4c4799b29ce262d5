/**
 * The OpenSearch client the handler uses (SigV4-signed for service `es` with the Lambda's role), and
 * a retry wrapper: 429 and 5xx responses and connection errors are retried with exponential backoff
 * and full jitter until a deadline; everything else fails at once.
 */
import { Client, errors } from '@opensearch-project/opensearch';
import { AwsSigv4Signer } from '@opensearch-project/opensearch/aws-v3';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';

/** Options for {@link createClient}. */
export interface ClientOptions {
  /** Endpoint URL (scheme, host, optional port). */
  readonly endpoint: URL;
  /** Region to sign for. */
  readonly region: string;
  /** Sign requests with SigV4 (service `es`), credentials from the default Node provider chain. */
  readonly signing: boolean;
}

/**
 * Creates a client with the client's own retries off (this module retries, bounded by a deadline).
 * Credentials come from the default provider chain: in Lambda, the function role's credentials in
 * the AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN environment variables.
 */
export function createClient(opts: ClientOptions): Client {
  const node = opts.endpoint.origin;
  const common = { node, maxRetries: 0, requestTimeout: 30_000 } as const;
  if (!opts.signing) return new Client(common);
  const credentials = fromNodeProviderChain();
  return new Client({
    ...common,
    ...AwsSigv4Signer({ region: opts.region, service: 'es', getCredentials: () => credentials() }),
  });
}

/** Retry policy. Times in milliseconds. */
export interface RetryPolicy {
  /** Epoch milliseconds after which no new attempt starts. */
  readonly deadline: number;
  /** First backoff. @default 250 */
  readonly baseDelayMs?: number;
  /** Longest backoff. @default 8000 */
  readonly maxDelayMs?: number;
  /** Called before each sleep (for logs). */
  readonly onRetry?: (label: string, attempt: number, delayMs: number, error: unknown) => void;
}

/** True for errors worth retrying: HTTP 429, HTTP 5xx, connection failures and timeouts. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof errors.ResponseError) return e.statusCode === 429 || e.statusCode >= 500;
  return (
    e instanceof errors.ConnectionError || e instanceof errors.TimeoutError || e instanceof errors.NoLivingConnectionsError
  );
}

/** HTTP status of an OpenSearch response error, or undefined. */
export function statusOf(e: unknown): number | undefined {
  return e instanceof errors.ResponseError ? e.statusCode : undefined;
}

/** OpenSearch `error.type` of a response error (e.g. `resource_already_exists_exception`), or undefined. */
export function errorTypeOf(e: unknown): string | undefined {
  if (!(e instanceof errors.ResponseError)) return undefined;
  const body = e.body as { error?: { type?: string } | string } | undefined;
  return typeof body?.error === 'object' ? body.error.type : undefined;
}

/** One short line for an error: `HTTP 403 security_exception: no permissions for [...]`. */
export function describeError(e: unknown): string {
  if (e instanceof errors.ResponseError) {
    const body = e.body as { error?: { type?: string; reason?: string } | string; message?: string; Message?: string } | undefined;
    let detail: string;
    if (typeof body?.error === 'object') detail = `${body.error.type ?? 'error'}: ${body.error.reason ?? ''}`;
    else if (typeof body?.error === 'string') detail = body.error;
    else detail = body?.message ?? body?.Message ?? (typeof e.body === 'string' ? e.body : JSON.stringify(e.body ?? ''));
    const hint =
      e.statusCode === 403
        ? ' (is the handler role in the domain access policy, with es:ESHttp* on this index and template? With fine-grained access control, is it the master user?)'
        : '';
    return `HTTP ${e.statusCode} ${detail.slice(0, 200)}${hint}`;
  }
  if (e instanceof Error) return `${e.name}: ${e.message.slice(0, 200)}`;
  return String(e).slice(0, 200);
}

/**
 * Runs `fn` until it succeeds, fails with a non-retryable error, or the next attempt would start
 * after the deadline. The error thrown names the step, the attempts and the last cause.
 */
export async function withRetry<T>(label: string, fn: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  const base = policy.baseDelayMs ?? 250;
  const max = policy.maxDelayMs ?? 8000;
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const delay = Math.round(Math.random() * Math.min(max, base * 2 ** (attempt - 1)));
      if (!isRetryable(e)) throw new StepError(label, e, attempt, Date.now() - started);
      if (Date.now() + delay >= policy.deadline) throw new StepError(label, e, attempt, Date.now() - started);
      policy.onRetry?.(label, attempt, delay, e);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** A failed step: `put template temporal_visibility_v1_template failed (3 attempts, 4.2 s): HTTP 503 ...`. */
export class StepError extends Error {
  constructor(
    readonly step: string,
    readonly causeError: unknown,
    readonly attempts: number,
    elapsedMs: number,
  ) {
    const tries = attempts > 1 ? ` (${attempts} attempts, ${(elapsedMs / 1000).toFixed(1)} s)` : '';
    super(`${step} failed${tries}: ${describeError(causeError)}`);
    this.name = 'StepError';
  }
}
