/**
 * Fault suite: `kill -9` of the combined server process (all four roles) during a steady load of
 * hello-activity and signal/timer workflows, restarted after 5 s on the same ports. Every started
 * workflow must complete with an intact history and a Completed visibility document; duplicate
 * activity executions are counted. Real parts only: dsql-local, OpenSearch, our server, an SDK
 * worker in this process. Part of `npm test` and `npm run test:faults`; figures in
 * docs/reliability.md.
 */
import { join, resolve } from 'node:path';
import { isAlive } from '../../local/process';
import { LocalStack, startLocalStack } from '../../local/stack';
import { expectIntact, killProcess, runScenario } from './scenario';

jest.setTimeout(10 * 60_000);

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({ dir: join(resolve(__dirname, '..', '..'), 'test-results', 'faults', 'stack-combined'), ui: false });
}, 10 * 60_000);

afterAll(async () => {
  await stack?.stop();
}, 120_000);

test('kill -9 of the combined server during load, restarted after 5 s: no workflow lost', async () => {
  const before = stack.servers.member('all').process.pid;
  const r = await runScenario(stack, 'kill-combined', killProcess(stack, 'all'));
  expectIntact(r);
  // The fault really happened: the old process is gone and a new one serves.
  expect(isAlive(before)).toBe(false);
  expect(stack.servers.member('all').process.pid).not.toBe(before);
  expect(stack.servers.member('all').down).toBe(false);
});
