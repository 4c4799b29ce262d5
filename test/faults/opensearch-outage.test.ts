/**
 * Fault suite: the OpenSearch node stopped for 60 s during a steady load and started again on the
 * same port with its data (test/support/opensearch-local.ts pause/resume). Workflows must keep
 * running meanwhile (visibility is not on their path), visibility must catch up, and the catch-up
 * delay (from the restart to every workflow completed so far showing Completed in the index) is
 * reported. Runs with FAULTS_LONG=1 (`FAULTS_LONG=1 npm run test:faults`); figures in
 * docs/reliability.md.
 */
import { join, resolve } from 'node:path';
import { LocalStack, startLocalStack } from '../../local/stack';
import { expectIntact, runScenario } from './scenario';
import { missingCompleted } from './workload';

jest.setTimeout(15 * 60_000);

const long = process.env.FAULTS_LONG === '1' ? describe : describe.skip;
const OUTAGE_MS = 60_000;

long('OpenSearch outage', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack({ dir: join(resolve(__dirname, '..', '..'), 'test-results', 'faults', 'stack-opensearch'), ui: false });
  }, 10 * 60_000);

  afterAll(async () => {
    await stack?.stop();
  }, 120_000);

  test('OpenSearch stopped for 60 s: workflows keep completing, visibility catches up', async () => {
    let unreachableDuringOutage = false;
    let catchUpMs = -1;
    let backlog = 0;
    const r = await runScenario(
      stack,
      'opensearch-60s',
      {
        inject: () => stack.openSearch.pause(),
        clear: async () => {
          await new Promise((res) => setTimeout(res, 1000));
          unreachableDuringOutage = await fetch(stack.openSearchUrl).then(() => false, () => true);
          await new Promise((res) => setTimeout(res, OUTAGE_MS - 1000));
          await stack.openSearch.resume();
        },
        afterClear: async (load, clearedAt) => {
          // Workflows that completed before the node came back must all show Completed.
          const ids = load.started.filter((s) => s.completedAt !== undefined && s.completedAt <= clearedAt).map((s) => s.workflowId);
          backlog = ids.length;
          const deadline = clearedAt + 5 * 60_000;
          while (Date.now() < deadline) {
            const missing = await missingCompleted(stack, ids).catch(() => ids);
            if (missing.length === 0) {
              catchUpMs = Date.now() - clearedAt;
              break;
            }
            await new Promise((res) => setTimeout(res, 500));
          }
          return { visibilityBacklog: backlog, visibilityCatchUpMs: catchUpMs };
        },
      },
      { afterMs: 15_000 },
    );
    expectIntact(r);
    expect(unreachableDuringOutage).toBe(true);
    expect(r.completedDuringFault).toBeGreaterThan(0);
    expect(backlog).toBeGreaterThan(0);
    expect(catchUpMs).toBeGreaterThanOrEqual(0);
  });
});
