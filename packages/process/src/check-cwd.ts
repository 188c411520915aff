import { statSync } from 'node:fs';
import { ConchError, ErrorCodes } from '@conch/protocol';

/**
 * spawn() reports a missing cwd as ENOENT, indistinguishable from a missing executable; this
 * says which one it was. undefined when `cwd` is a directory.
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
  return undefined;
}

/** Throws cwdError(cwd), if any: for spawns that cannot tell a failed chdir from their errno. */
export function checkCwd(cwd: string): void {
  const err = cwdError(cwd);
  if (err) throw err;
}
