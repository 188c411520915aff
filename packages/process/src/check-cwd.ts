import { statSync } from 'node:fs';
import { ConchError, ErrorCodes } from '@conch/protocol';

/**
 * spawn() reports a missing cwd as ENOENT, indistinguishable from a missing executable;
 * checking first lets the error say which one it was.
 */
export function checkCwd(cwd: string): void {
  let isDir = false;
  try {
    isDir = statSync(cwd).isDirectory();
  } catch {
    throw new ConchError(ErrorCodes.SPAWN_FAILED, `working directory ${JSON.stringify(cwd)} does not exist`, { errno: 'ENOENT', cwd });
  }
  if (!isDir) {
    throw new ConchError(ErrorCodes.SPAWN_FAILED, `working directory ${JSON.stringify(cwd)} is not a directory`, { errno: 'ENOTDIR', cwd });
  }
}
