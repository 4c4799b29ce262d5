/**
 * Read-only containers (issue 24 item 4): every container the platform runs has a read-only root
 * filesystem and a non-root user, and may write only to the paths listed here, each a task-level
 * volume mounted at that path. This file is the one list: the task definitions
 * (lib/services/temporal-services.ts, lib/observability/otel-collector.ts) and the local proof
 * (local/read-only.ts, test/e2e/read-only.test.ts, which runs the server and the UI with exactly
 * these paths writable) both read it.
 *
 * What each process writes, found by reading its start-up code and by running it read-only:
 * - our server (docker/temporal-server/cmd/temporal-dsql-server): at start, the validated dynamic
 *   config (`TEMPORAL_DYNAMIC_CONFIG_FILE`, rewritten once more to turn ringpop TLS on when TLS is
 *   on) and, with the certificate secrets set, the five PEM files fetched from Secrets Manager
 *   (`TEMPORAL_TLS_DIR`, rewritten on every refresh); nothing else (logs go to stdout). Both paths
 *   are set here, under {@link SERVER_RUNTIME_DIR}.
 * - the Temporal UI (`temporalio/ui`, upstream ui-server v2.55+): nothing. Its start script renders
 *   a config file only when a legacy `config-template.yaml` is mounted (we mount none); the server
 *   reads `config/docker.yaml` and renders its templates in memory.
 * - the ADOT collector: nothing. Its configuration comes from `AOT_CONFIG_CONTENT`, it logs to
 *   stderr in a container (`RUN_IN_CONTAINER`, set by its image), and no component we configure
 *   keeps state on disk (no file_storage, no remote-write WAL).
 */
import * as ecs from 'aws-cdk-lib/aws-ecs';

/** One path a process writes: a task-level volume mounted read-write at `containerPath`. */
export interface WritablePath {
  /** Task definition volume name (unique in the task). */
  readonly volumeName: string;
  /** Absolute path in the container. */
  readonly containerPath: string;
  /** What the process writes there (docs and error messages). */
  readonly what: string;
}

/**
 * The server's only writable directory. The image creates it owned by its user and declares it a
 * `VOLUME` (docker/temporal-server/Dockerfile), so that on Fargate the task's bind-mount volume
 * takes the directory's owner instead of root's 0755 (ECS copies a `VOLUME` path's content into a
 * volume mounted at the same path; Amazon ECS Developer Guide, "Use bind mounts with Amazon ECS").
 */
export const SERVER_RUNTIME_DIR = '/tmp/temporal';

/** Where the server writes what it renders at start, set in every server container's environment. */
export const SERVER_RUNTIME_ENV: Readonly<Record<'TEMPORAL_DYNAMIC_CONFIG_FILE' | 'TEMPORAL_TLS_DIR', string>> = {
  TEMPORAL_DYNAMIC_CONFIG_FILE: `${SERVER_RUNTIME_DIR}/dynamicconfig.yaml`,
  TEMPORAL_TLS_DIR: `${SERVER_RUNTIME_DIR}/tls`,
};

/** Paths the server container writes. */
export const SERVER_WRITABLE_PATHS: readonly WritablePath[] = [
  {
    volumeName: 'temporal-runtime',
    containerPath: SERVER_RUNTIME_DIR,
    what: 'the dynamic config rendered at start (TEMPORAL_DYNAMIC_CONFIG_FILE) and the TLS files fetched from Secrets Manager (TEMPORAL_TLS_DIR)',
  },
];

/** Paths the UI container writes: none. */
export const UI_WRITABLE_PATHS: readonly WritablePath[] = [];

/** Paths the collector sidecar writes: none. */
export const COLLECTOR_WRITABLE_PATHS: readonly WritablePath[] = [];

/**
 * The users the containers run as (`uid:gid`, numeric so that ECS need not look a name up in the
 * image): each image's own non-root user, set explicitly in the task definition.
 * - server: distroless `nonroot` (65532), the Dockerfile's `USER` (checked by docker/temporal-server/imagetest);
 * - ui: `temporal` (1000), the user temporalio/ui's Dockerfile creates and switches to (ui-server v2.55);
 * - collector: `aoc` (4317), the user aws-otel-collector's Dockerfile creates and switches to.
 */
export const CONTAINER_USERS = {
  server: '65532:65532',
  ui: '1000:1000',
  collector: '4317:4317',
} as const;

/**
 * Adds each path as a task-level volume (a Fargate bind mount on the task's ephemeral storage,
 * removed with the task) mounted read-write into `container`. Volume names must be unique in the
 * task (ECS rejects a task definition with two volumes of one name).
 */
export function addWritablePaths(taskDefinition: ecs.TaskDefinition, container: ecs.ContainerDefinition, paths: readonly WritablePath[]): void {
  for (const p of paths) {
    taskDefinition.addVolume({ name: p.volumeName });
    container.addMountPoints({ sourceVolume: p.volumeName, containerPath: p.containerPath, readOnly: false });
  }
}
