import { existsSync } from 'node:fs';
import { ConchError, ErrorCodes } from '@conch/protocol';

/**
 * Turns an errno from spawn into a typed SPAWN_FAILED / PERMISSION_DENIED with a useful message.
 * `path`, the file as resolved, tells a missing #! interpreter (ENOENT for a file that is there)
 * from a missing file; so does a missing /dev/null, which the child opens for its stdin before
 * the exec, in a guest whose /dev was never populated.
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
        if (!existsSync('/dev/null')) {
          return new ConchError(ErrorCodes.SPAWN_FAILED, `cannot run ${JSON.stringify(file)}: /dev/null does not exist here, and a command's stdin is /dev/null unless it asks for one (mount a devtmpfs on /dev, or create the node)`, details);
        }
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
