/**
 * Read-only containers (issue 24 item 4) in the synthesized prod template: every container definition
 * of every task definition has a read-only root filesystem and a non-root numeric user, and mounts
 * exactly the writable paths lib/services/read-only.ts declares for it (the list the local proof,
 * test/e2e/read-only.test.ts, runs with), each on a volume of its own task.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENTS } from '../../config';
import { COLLECTOR_CONTAINER_NAME } from '../../lib/observability/otel-collector';
import {
  COLLECTOR_WRITABLE_PATHS, CONTAINER_USERS, SERVER_RUNTIME_DIR, SERVER_RUNTIME_ENV, SERVER_WRITABLE_PATHS, UI_WRITABLE_PATHS, WritablePath,
} from '../../lib/services/read-only';
import { SERVER_CONTAINER_NAME } from '../../lib/services/temporal-services';
import { buildApp } from './helpers';

type Resources = Record<string, { Type: string; Properties?: any }>;

function taskDefinitions(envName: 'prod'): Array<[string, any]> {
  const { stack } = buildApp(envName, { ...ENVIRONMENTS }, { quick: true });
  const resources = Template.fromStack(stack).toJSON().Resources as Resources;
  return Object.entries(resources).filter(([, r]) => r.Type === 'AWS::ECS::TaskDefinition').map(([id, r]) => [id, r.Properties]);
}

const prod = taskDefinitions('prod');

/** The declared writable paths of a container, by its name in the task definition. */
const DECLARED: Record<string, readonly WritablePath[]> = {
  [SERVER_CONTAINER_NAME]: SERVER_WRITABLE_PATHS,
  ui: UI_WRITABLE_PATHS,
  [COLLECTOR_CONTAINER_NAME]: COLLECTOR_WRITABLE_PATHS,
};

describe('prod template', () => {
  const tasks = prod;
  const containers = tasks.flatMap(([id, p]) => (p.ContainerDefinitions as any[]).map((c) => ({ task: id, props: p, c })));

  test('has the four server roles with their collector and the UI (nothing left out of the checks below)', () => {
    const names = containers.map((x) => x.c.Name).sort();
    expect(new Set(names)).toEqual(new Set([SERVER_CONTAINER_NAME, 'ui', COLLECTOR_CONTAINER_NAME]));
    expect(names.filter((n) => n === SERVER_CONTAINER_NAME)).toHaveLength(4);
    expect(names.filter((n) => n === COLLECTOR_CONTAINER_NAME)).toHaveLength(4);
  });

  test('every container: ReadonlyRootFilesystem true and a non-root numeric User', () => {
    const bad = containers
      .filter(({ c }) => c.ReadonlyRootFilesystem !== true || !/^[1-9][0-9]*:[0-9]+$/.test(String(c.User)))
      .map(({ task, c }) => `${task}/${c.Name}: ReadonlyRootFilesystem=${c.ReadonlyRootFilesystem} User=${c.User}`);
    expect(bad).toEqual([]);
  });

  test('users are the images\' own non-root users', () => {
    const users = Object.fromEntries(containers.map(({ c }) => [c.Name, c.User]));
    expect(users[SERVER_CONTAINER_NAME]).toBe(CONTAINER_USERS.server);
    expect(users.ui).toBe(CONTAINER_USERS.ui);
    expect(users[COLLECTOR_CONTAINER_NAME]).toBe(CONTAINER_USERS.collector);
  });

  test('every container mounts exactly its declared writable paths, read-write, on a volume of its task', () => {
    for (const { task, props, c } of containers) {
      const declared = DECLARED[c.Name];
      expect({ container: `${task}/${c.Name}`, declared: declared !== undefined }).toEqual({ container: `${task}/${c.Name}`, declared: true });
      const mounts = (c.MountPoints ?? []).map((m: any) => ({ path: m.ContainerPath, volume: m.SourceVolume, readOnly: m.ReadOnly }));
      expect(mounts).toEqual(declared.map((p) => ({ path: p.containerPath, volume: p.volumeName, readOnly: false })));
      const volumes = (props.Volumes ?? []).map((v: any) => v.Name);
      for (const p of declared) expect(volumes).toContain(p.volumeName);
      expect(c.VolumesFrom ?? []).toEqual([]);
    }
    // Volumes are bind mounts on the task's ephemeral storage: no host path, no EFS, no Docker volume.
    for (const [, p] of tasks) for (const v of p.Volumes ?? []) expect(Object.keys(v)).toEqual(['Name']);
  });

  test('the server writes its dynamic config and TLS files inside its writable directory', () => {
    for (const { c } of containers.filter((x) => x.c.Name === SERVER_CONTAINER_NAME)) {
      const env = Object.fromEntries((c.Environment as Array<{ Name: string; Value: string }>).map((e) => [e.Name, e.Value]));
      for (const [k, v] of Object.entries(SERVER_RUNTIME_ENV)) {
        expect(env[k]).toBe(v);
        expect(v.startsWith(`${SERVER_RUNTIME_DIR}/`)).toBe(true);
      }
    }
  });
});
