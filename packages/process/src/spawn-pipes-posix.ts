import { resolve } from 'node:path';
import { posixSpawn } from '@conch/posix-spawn';
import { ConchError, normalizeSignal } from '@conch/protocol';
import { cwdError } from './check-cwd.js';
import { pipedProcess } from './piped-process.js';
import { requestedUser } from './requested-user.js';
import { resolveExecutable } from './resolve-executable.js';
import { spawnError } from './spawn-error.js';
import type { ProcessSpec, SpawnedProcess } from './spawned-process.js';

/**
 * posix_spawn with pipes, as the leader of a new session and process group: no fork, so an
 * exec costs the same whatever the daemon's heap (see @conch/posix-spawn). argv[0] is looked
 * up in the child's PATH, as execvp in the child would. Another user (requestedUser) goes
 * through conch-exec-as (see @conch/posix-spawn), which sets the supplementary groups too.
 *
 * Nothing is checked before the spawn that the spawn reports itself: a path goes to posix_spawn
 * as is (its exec fails with ENOENT or EACCES), and the cwd is looked at only once a spawn has
 * failed, because the child's chdir fails with the same errnos as its exec. Two statx and an
 * access per command were about 17 µs of the daemon's exec path (bench/README.md).
 */
export function spawnPipesPosix(spec: ProcessSpec): Promise<SpawnedProcess> {
  const file = spec.argv[0]!;
  let child;
  let path: string | undefined;
  try {
    const user = requestedUser(spec);
    path = file.includes('/') ? file : resolveExecutable(file, spec.env, spec.cwd);
    child = posixSpawn({
      file: path, argv: spec.argv, env: spec.env, cwd: spec.cwd, stdin: spec.stdin,
      ...(user ? { user } : {}),
      ...(spec.cgroup ? { cgroup: spec.cgroup.path } : {}),
    });
  } catch (err) {
    if (err instanceof ConchError) return Promise.reject(err);
    const errno = err as NodeJS.ErrnoException;
    return Promise.reject((errno.syscall === 'cgroup' ? undefined : cwdError(spec.cwd)) ?? spawnError(errno, file, spec.cwd, path && resolve(spec.cwd, path)));
  }
  const exited = child.exited.then(({ exitCode, signal }) =>
    signal !== null ? { exitCode: null, signal: normalizeSignal(signal) ?? 'SIGKILL' } : { exitCode, signal: null },
  );
  return Promise.resolve(pipedProcess(child.pid, child, exited));
}
