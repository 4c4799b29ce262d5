/**
 * The local proof of read-only containers (issue 24 item 4): runs a local-stack process as its ECS
 * task definition runs it, with the root filesystem read-only, only the declared writable paths
 * writable (lib/services/read-only.ts, the list the task definitions mount) and the container's
 * non-root user. The sandbox is bubblewrap (`bwrap`, Debian package `bubblewrap`, installed by
 * scripts/setup-tests.sh):
 *
 *   bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs <path>... --die-with-parent -- <command>
 *
 * run as the container's uid/gid (bwrap then uses an unprivileged user namespace for its mounts).
 * Every other path, this repository and /tmp included, is read-only inside: a write there fails with
 * EROFS ("read-only file system"). Each writable path is an empty tmpfs owned by that user, private
 * to the process, as the task's volume is empty at start. Loopback networking is shared.
 *
 * `/etc/passwd` and `/etc/group` inside are this machine's plus an entry for the container's uid
 * and gid when missing, as each image has one for its user (distroless `nonroot`, the UI's
 * `temporal`): the server looks its user up at start (the OpenTelemetry resource's process owner)
 * and exits with "user: unknown userid" without one.
 */
import { appendFileSync, chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WritablePath } from '../lib/services/read-only';
import type { ProcessWrapper } from './process';

/** Where Debian's bubblewrap installs `bwrap`. */
export const BWRAP = '/usr/bin/bwrap';

/** Options of {@link readOnlySandbox}. */
export interface ReadOnlySandboxOptions {
  /** The only paths the process may write (each an empty tmpfs). */
  readonly writable: readonly WritablePath[];
  /** The container's user, `uid:gid` (lib/services/read-only.ts CONTAINER_USERS). */
  readonly user: string;
  /**
   * Writable paths backed by a directory of this machine instead of a tmpfs (`--bind`), by
   * container path, so that a test can read what the process wrote after it exits; the directory
   * must be writable by `user`. @default - every writable path is a tmpfs
   */
  readonly hostDirs?: Readonly<Record<string, string>>;
}

/**
 * A {@link ProcessWrapper} that runs the process in the read-only sandbox described in the file
 * comment. Creates each writable path on this machine as an empty directory when missing (a mount
 * needs a mount point; nothing is written into it from inside).
 * @throws Error when bwrap is missing (run `bash scripts/setup-tests.sh`), the user is not
 *   `uid:gid` with a non-zero uid, or a writable path is not absolute
 */
export function readOnlySandbox(o: ReadOnlySandboxOptions): ProcessWrapper {
  if (!existsSync(BWRAP)) throw new Error(`${BWRAP} not found: install Debian's bubblewrap (bash scripts/setup-tests.sh)`);
  const m = /^([0-9]+):([0-9]+)$/.exec(o.user);
  if (!m || Number(m[1]) === 0) throw new Error(`user must be 'uid:gid' with a non-zero uid, got '${o.user}'`);
  for (const p of o.writable) {
    if (!p.containerPath.startsWith('/')) throw new Error(`writable path ${p.volumeName} must be absolute, got '${p.containerPath}'`);
    mkdirSync(p.containerPath, { recursive: true });
  }
  const mounts = o.writable.flatMap((p) => (o.hostDirs?.[p.containerPath] ? ['--bind', o.hostDirs[p.containerPath], p.containerPath] : ['--tmpfs', p.containerPath]));
  const etc = mkdtempSync(join(tmpdir(), 'read-only-sandbox-'));
  chmodSync(etc, 0o755); // bwrap opens the files as the container's user
  for (const [file, id, line] of [['passwd', m[1], `container:x:${m[1]}:${m[2]}:container user:/nonexistent:/usr/sbin/nologin\n`], ['group', m[2], `container:x:${m[2]}:\n`]]) {
    copyFileSync(`/etc/${file}`, join(etc, file));
    if (!readFileSync(join(etc, file), 'utf8').split('\n').some((l) => l.split(':')[2] === id)) appendFileSync(join(etc, file), line);
  }
  return (p) => ({
    command: BWRAP,
    args: [
      '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', ...mounts,
      '--ro-bind', join(etc, 'passwd'), '/etc/passwd', '--ro-bind', join(etc, 'group'), '/etc/group',
      '--die-with-parent', '--', p.command, ...p.args,
    ],
    uid: Number(m[1]),
    gid: Number(m[2]),
  });
}
