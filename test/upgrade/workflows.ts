/**
 * Workflows of the upgrade rehearsal (test/upgrade/upgrade.test.ts): long-lived work that is in
 * flight while the server roles are replaced by another version. Bundled by the worker; runs in the
 * workflow sandbox (import only @temporalio/workflow and types). The same code replays every
 * history afterwards, so a history the new server wrote differently fails the replay.
 */
import { condition, continueAsNew, defineSignal, executeChild, proxyActivities, setHandler, sleep } from '@temporalio/workflow';
import type * as activities from './activities';

const { greet } = proxyActivities<typeof activities>({ startToCloseTimeout: '30 seconds' });
// Retried every 500 ms until the test releases it: the activity is mid-retry during the replacement.
const { flaky } = proxyActivities<typeof activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 1, maximumInterval: '500 milliseconds' },
});

/** Signal that lets {@link signalThenChild} go on. */
export const proceedSignal = defineSignal<[string]>('proceed');

/** A durable timer of `ms` milliseconds, then one activity. Returns `"Hello, timer-<ms>!"`. */
export async function timerThenActivity(ms: number): Promise<string> {
  await sleep(ms);
  return await greet(`timer-${ms}`);
}

/**
 * Waits for {@link proceedSignal}, then runs {@link childGreeting} as a child workflow.
 * Returns `"<child result> via <signal argument>"`.
 */
export async function signalThenChild(name: string): Promise<string> {
  let by: string | undefined;
  setHandler(proceedSignal, (who: string) => {
    by = who;
  });
  await condition(() => by !== undefined);
  const child = await executeChild(childGreeting, { args: [name] });
  return `${child} via ${by}`;
}

/** Child of {@link signalThenChild}, also the schedule's action: one activity. */
export async function childGreeting(name: string): Promise<string> {
  return await greet(name);
}

/** One activity that fails until the test releases it (see activities.ts); returns its attempt. */
export async function retryingActivity(key: string): Promise<number> {
  return await flaky(key);
}

/**
 * Sleeps `sleepMs`, then continues as new with `round + 1` until `round` reaches `rounds`; the
 * last run returns `rounds`. Each run is a new execution the replay checks.
 */
export async function continueAsNewLoop(round: number, rounds: number, sleepMs: number): Promise<number> {
  await sleep(sleepMs);
  if (round >= rounds) return round;
  return await continueAsNew<typeof continueAsNewLoop>(round + 1, rounds, sleepMs);
}
