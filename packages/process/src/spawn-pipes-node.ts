import { spawn } from 'node:child_process';
import { normalizeSignal } from '@conch/protocol';
import { pipedProcess } from './piped-process.js';
import { requestedUser } from './requested-user.js';
import { spawnError } from './spawn-error.js';
import type { ProcessExit, ProcessSpec, SpawnedProcess } from './spawned-process.js';

/**
 * child_process.spawn with pipes, as the leader of a new session and process group
 * (`detached: true` is setsid). The fallback where the addon is missing (and, for another
 * uid/gid, where conch-exec-as is), or when CONCH_SPAWN=node asks for it. libuv drops the
 * supplementary groups of a switch and cannot set others: a uid alone gets its primary group
 * here, and not the rest of its groups.
 */
export function spawnPipesNode(spec: ProcessSpec): Promise<SpawnedProcess> {
  const [file, ...args] = spec.argv as [string, ...string[]];
  const user = requestedUser(spec);
  const child = spawn(file, args, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: [spec.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    detached: true,
    uid: user?.uid,
    gid: user?.gid,
    windowsHide: true,
  });
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(spawnError(err, file, spec.cwd)));
    child.once('spawn', () => {
      // After spawn, 'error' only reports failed kill()s, which we never call on the child object.
      child.removeAllListeners('error');
      child.on('error', () => {});
      spec.cgroup?.adopt(child.pid!);
      const exited = new Promise<ProcessExit>((done) => {
        child.once('exit', (code, signal) => {
          done(signal ? { exitCode: null, signal: normalizeSignal(signal) ?? 'SIGKILL' } : { exitCode: code ?? 0, signal: null });
        });
      });
      resolve(pipedProcess(child.pid!, { stdout: child.stdout!, stderr: child.stderr!, stdin: child.stdin ?? null }, exited));
    });
  });
}
