import { existsSync } from 'node:fs';
import { ConchError, ErrorCodes } from '@conch/protocol';

/**
 * Turns an errno from spawn into a typed SPAWN_FAILED / PERMISSION_DENIED with a useful message.
 * `path`, the file as resolved, tells a missing #! interpreter (ENOENT for a file that is there)
 * from a missing file.
 */
export function spawnError(err: NodeJS.ErrnoException, file: string, cwd: string, path?: string): ConchError {
  const errno = err.code ?? 'UNKNOWN';
  const details = { errno, file, cwd };
  // The cgroup would not take the child (gone, or one that may not hold processes): the program is not at fault.
  if (err.syscall === 'cgroup') {
    return new ConchError(ErrorCodes.SPAWN_FAILED, `cannot start ${JSON.stringify(file)} in its cgroup: ${err.message}`, { ...details, cgroup: true }, { cause: err });
  }
  switch (errno) {
    case 'ENOENT':
      if (path !== undefined && existsSync(path)) {
        return new ConchError(ErrorCodes.SPAWN_FAILED, `cannot run ${JSON.stringify(file)}: its interpreter (the program its #! line names, or an ELF binary's loader) does not exist`, details);
      }
      return new ConchError(ErrorCodes.SPAWN_FAILED, `cannot run ${JSON.stringify(file)}: no such file or directory`, details);
    case 'EACCES':
      return new ConchError(ErrorCodes.SPAWN_FAILED, `cannot run ${JSON.stringify(file)}: permission denied`, details);
    case 'EPERM':
      return new ConchError(ErrorCodes.PERMISSION_DENIED, `not permitted to run ${JSON.stringify(file)} as the requested user`, details);
    default:
      return new ConchError(ErrorCodes.SPAWN_FAILED, `cannot run ${JSON.stringify(file)}: ${err.message}`, details);
  }
}
