/**
 * Workflows the end-to-end suite runs on the local stack. Bundled by the worker; runs in the
 * workflow sandbox (import only @temporalio/workflow and types).
 */
import { condition, defineQuery, defineSignal, executeChild, proxyActivities, setHandler, sleep } from '@temporalio/workflow';
import type * as activities from './activities';

export { helloActivity } from '../../samples/hello-activity/workflows';

const { greet, tick } = proxyActivities<typeof activities>({ startToCloseTimeout: '30 seconds' });

/**
 * `greet` with eager dispatch refused, so the activity always goes through the matching service.
 * Since v1.32 upstream enables eager activity execution by default
 * (`system.enableActivityEagerExecution`, go.temporal.io/server common/dynamicconfig/constants.go):
 * a worker with free slots gets the activity in its workflow-task reply, and such an activity
 * never records `task_schedule_to_start_latency{task_type="Activity"}` (only
 * service/history/api/recordactivitytaskstarted does).
 */
const { greet: greetThroughMatching } = proxyActivities<typeof activities>({ startToCloseTimeout: '30 seconds', allowEagerDispatch: false });

/**
 * Like the hello-activity sample, but its one activity is dispatched through matching (never
 * eagerly), so the run records the activity schedule-to-start latency the alarm watches.
 * Returns `"Hello, <name>!"`.
 */
export async function helloMatchedActivity(name: string): Promise<string> {
  return await greetThroughMatching(name);
}

/** Signal carrying an approver's name. */
export const approveSignal = defineSignal<[string]>('approve');
/** Query returning the workflow's current stage. */
export const stageQuery = defineQuery<string>('stage');

/**
 * Exercises signals, queries, timers and a child workflow:
 * waits for the `approve` signal, sleeps `timerMs` on a durable timer, runs `childGreeting` as a
 * child workflow and returns `"<child result> (approved by <name>)"`.
 * The `stage` query answers `waiting-for-approval`, `timer`, `child`, `done`.
 */
export async function approvalWorkflow(name: string, timerMs: number): Promise<string> {
  let stage = 'waiting-for-approval';
  let approver: string | undefined;
  setHandler(stageQuery, () => stage);
  setHandler(approveSignal, (who: string) => {
    approver = who;
  });
  await condition(() => approver !== undefined);
  stage = 'timer';
  await sleep(timerMs);
  stage = 'child';
  const greeting = await executeChild(childGreeting, { args: [name] });
  stage = 'done';
  return `${greeting} (approved by ${approver})`;
}

/** Child workflow of {@link approvalWorkflow}: one activity. */
export async function childGreeting(name: string): Promise<string> {
  return await greet(name);
}

/**
 * Runs `steps` activities, each followed by a durable timer of `sleepMs`, and returns the number of
 * completed steps: a workflow that keeps writing to persistence for `steps * (sleepMs + activity)`
 * milliseconds (used to outlive dsql-local's shortened token lifetime and connection age).
 */
export async function longRunningWorkflow(steps: number, sleepMs: number): Promise<number> {
  let done = 0;
  for (let i = 0; i < steps; i++) {
    done = await tick(done, 50);
    await sleep(sleepMs);
  }
  return done;
}
