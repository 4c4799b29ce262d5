/**
 * Workflows of the hello-activity sample. This file is bundled by the worker and runs in
 * Temporal's deterministic workflow sandbox: import only `@temporalio/workflow` and types here.
 */
import { proxyActivities } from '@temporalio/workflow';
import type * as activities from './activities';

const { greet } = proxyActivities<typeof activities>({
  startToCloseTimeout: '30 seconds',
});

/**
 * Greets `name` through one activity and returns the greeting.
 * @param name - who to greet.
 * @returns the activity's result, `"Hello, <name>!"`.
 */
export async function helloActivity(name: string): Promise<string> {
  return await greet(name);
}
