/**
 * Activities of the upgrade rehearsal's workflows (test/upgrade/workflows.ts). They run in the
 * jest process's worker, so the test controls {@link flaky} directly.
 */
import { Context } from '@temporalio/activity';

export { greet } from '../../samples/hello-activity/activities';

/** Keys whose {@link flaky} activity may succeed, and how many attempts each key has seen. */
const released = new Set<string>();
const attempts = new Map<string, number>();

/** Lets the {@link flaky} activity of `key` succeed on its next attempt. */
export function release(key: string): void {
  released.add(key);
}

/** Attempts seen by the {@link flaky} activity of `key` so far. */
export function attemptsOf(key: string): number {
  return attempts.get(key) ?? 0;
}

/**
 * Fails (a retryable error) until {@link release} was called for `key`, then returns the attempt
 * number Temporal reports.
 * @throws Error `not released yet` while `key` is not released
 */
export async function flaky(key: string): Promise<number> {
  attempts.set(key, (attempts.get(key) ?? 0) + 1);
  if (!released.has(key)) throw new Error(`${key}: not released yet`);
  return Context.current().info.attempt;
}
