/**
 * Activities of the end-to-end workflows (test/e2e/workflows.ts). They run in the jest process's
 * worker, outside the workflow sandbox.
 */
export { greet } from '../../samples/hello-activity/activities';

/**
 * Returns `step` + 1 after `delayMs` milliseconds: a small unit of work that makes the long-running
 * workflow write to persistence at a steady pace.
 */
export async function tick(step: number, delayMs: number): Promise<number> {
  await new Promise((r) => setTimeout(r, delayMs));
  return step + 1;
}
