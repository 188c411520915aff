import { accessSync, constants, statSync } from 'node:fs';
import { ConchError, ErrorCodes } from '@conch/protocol';

/**
 * spawn() reports a missing cwd as ENOENT and one it may not enter as EACCES, indistinguishable
 * from a missing or unexecutable executable; this says which one it was. undefined when `cwd` is
 * a directory the daemon may enter. The daemon's own ids are the right ones to ask with: the
 * child changes directory before any switch to another user (posix_spawn's file actions,
 * forkpty's child and libuv's child all chdir first, and conch-exec-as switches after).
 */
export function cwdError(cwd: string): ConchError | undefined {
  let isDir = false;
  try {
    isDir = statSync(cwd).isDirectory();
  } catch {
    return new ConchError(ErrorCodes.SPAWN_FAILED, `working directory ${JSON.stringify(cwd)} does not exist`, { errno: 'ENOENT', cwd });
  }
  if (!isDir) {
    return new ConchError(ErrorCodes.SPAWN_FAILED, `working directory ${JSON.stringify(cwd)} is not a directory`, { errno: 'ENOTDIR', cwd });
  }
  try {
    accessSync(cwd, constants.X_OK);
  } catch {
    return new ConchError(ErrorCodes.SPAWN_FAILED, `working directory ${JSON.stringify(cwd)} cannot be entered: permission denied`, { errno: 'EACCES', cwd });
  }
  return undefined;
}

/** Throws cwdError(cwd), if any: for spawns that cannot tell a failed chdir from their errno. */
export function checkCwd(cwd: string): void {
  const err = cwdError(cwd);
  if (err) throw err;
}
