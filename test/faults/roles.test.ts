/**
 * Fault suite, per-role topology (local/roles.ts: frontend, history, matching and worker as
 * separate server processes, as on ECS): `kill -9` of one role at a time during a steady load,
 * restarted after 5 s. Every started workflow must complete with an intact history and a Completed
 * visibility document; duplicate activity executions are counted. Runs with FAULTS_LONG=1
 * (`FAULTS_LONG=1 npm run test:faults`); figures in docs/reliability.md.
 */
import { join, resolve } from 'node:path';
import { isAlive } from '../../local/process';
import type { ServerRole } from '../../local/roles';
import { LocalStack, startLocalStack } from '../../local/stack';
import { expectIntact, killProcess, runScenario } from './scenario';

jest.setTimeout(10 * 60_000);

const long = process.env.FAULTS_LONG === '1' ? describe : describe.skip;

long('per-role topology: kill -9 of one role at a time', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack({
      dir: join(resolve(__dirname, '..', '..'), 'test-results', 'faults', 'stack-per-role'),
      ui: false,
      topology: 'per-role',
    });
  }, 10 * 60_000);

  afterAll(async () => {
    await stack?.stop();
  }, 120_000);

  test('the stack runs each role as its own process', () => {
    const members = stack.servers.members;
    expect(members.map((m) => m.role)).toEqual(['frontend', 'history', 'matching', 'worker']);
    expect(new Set(members.map((m) => m.process.pid)).size).toBe(4);
    for (const m of members) expect(isAlive(m.process.pid)).toBe(true);
  });

  test.each<ServerRole>(['frontend', 'history', 'matching', 'worker'])('kill -9 of %s, restarted after 5 s: no workflow lost', async (role) => {
    const before = stack.servers.member(role).process.pid;
    const others = stack.servers.members.filter((m) => m.role !== role).map((m) => m.process.pid);
    const r = await runScenario(stack, `kill-${role}`, killProcess(stack, role));
    expectIntact(r);
    expect(isAlive(before)).toBe(false);
    expect(stack.servers.member(role).process.pid).not.toBe(before);
    // Only that role was killed.
    expect(stack.servers.members.filter((m) => m.role !== role).map((m) => m.process.pid)).toEqual(others);
  });
});
