import { spawn } from 'node:child_process';
import { normalizeSignal } from '@conch/protocol';
import { checkCwd } from './check-cwd.js';
import { spawnError } from './spawn-error.js';
import type { ProcessExit, ProcessSpec, SpawnedProcess } from './spawned-process.js';

/**
 * Starts a process with pipes, as the leader of a new session and process group
 * (`detached: true` is setsid), so that kills reach the whole tree.
 * Resolves once the process is running; rejects with a typed error if it could not start.
 */
export function spawnPipes(spec: ProcessSpec): Promise<SpawnedProcess> {
  checkCwd(spec.cwd);
  const [file, ...args] = spec.argv;
  if (file === undefined) throw new TypeError('argv must not be empty');
  const child = spawn(file, args, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: [spec.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    detached: true,
    uid: spec.uid,
    gid: spec.gid,
    windowsHide: true,
  });
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(spawnError(err, file, spec.cwd)));
    child.once('spawn', () => {
      // After spawn, 'error' only reports failed kill()s, which we never call on the child object.
      child.removeAllListeners('error');
      child.on('error', () => {});
      const stdout = child.stdout!;
      const stderr = child.stderr!;
      const stdin = child.stdin ?? null;
      // A child that exits before reading its stdin makes our writes fail with EPIPE. That is the
      // child's business, not a daemon crash.
      stdin?.on('error', () => {});
      const exited = new Promise<ProcessExit>((done) => {
        child.once('exit', (code, signal) => {
          done(signal ? { exitCode: null, signal: normalizeSignal(signal) ?? 'SIGKILL' } : { exitCode: code ?? 0, signal: null });
        });
      });
      resolve({
        pid: child.pid!,
        pty: false,
        stdout,
        stderr,
        stdin,
        exited,
        endInput: () => stdin?.end(),
        resize: () => {},
        // Called only once our side has consumed everything it read, so nothing buffered is lost.
        abandonOutput: () => {
          stdout.destroy();
          stderr.destroy();
        },
      });
    });
  });
}
