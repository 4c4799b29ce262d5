/**
 * Workflows of the fault suite's workload (test/faults/workload.ts). Bundled by the worker; runs in
 * the workflow sandbox (import only @temporalio/workflow and types).
 */
import { condition, defineSignal, proxyActivities, setHandler, sleep } from '@temporalio/workflow';

/** The activities the fault workflows call (the worker's side is in workload.ts). */
export interface FaultActivities {
  /** The hello-activity sample's greeting, recorded in the ledger. */
  greet(name: string): Promise<string>;
}

export { helloActivity } from '../../samples/hello-activity/workflows';

const { greet } = proxyActivities<FaultActivities>({ startToCloseTimeout: '30 seconds' });

/** Signal that lets {@link signalTimerWorkflow} go on; carries a word that ends up in the result. */
export const goSignal = defineSignal<[string]>('go');

/**
 * Waits for the `go` signal, sleeps `timerMs` on a durable timer, then runs the `greet` activity
 * with `"<name>/<signal word>"` and returns its result: `"Hello, <name>/<word>!"`. One signal, one
 * timer and one activity per run: the parts a crash between them must not lose.
 */
export async function signalTimerWorkflow(name: string, timerMs: number): Promise<string> {
  let word: string | undefined;
  setHandler(goSignal, (w: string) => {
    word ??= w;
  });
  await condition(() => word !== undefined);
  await sleep(timerMs);
  return await greet(`${name}/${word}`);
}
