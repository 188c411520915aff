import { ConchError, ErrorCodes, signalNumber, type SignalName } from '@conch/protocol';
import type { CommandExit } from '../exec-result.js';

/** The daemon is unavailable (sysexits EX_UNAVAILABLE), as DESIGN §5 fixes. */
export const EXIT_UNAVAILABLE = 69;
/** Bad usage of conch itself (sysexits EX_USAGE). */
export const EXIT_USAGE = 64;
/** conch or the daemon failed for another reason (as `docker exec` uses 125). */
export const EXIT_CONCH_FAILED = 125;
/** The command was found but could not be executed. */
export const EXIT_CANNOT_EXECUTE = 126;
/** The command was not found. */
export const EXIT_NOT_FOUND = 127;

/** The command's code, or 128+signal number when it was killed, as shells report it. */
export function exitStatusOf(exit: CommandExit): number {
  if (exit.signal !== null) return 128 + signalNumber(exit.signal as SignalName);
  return exit.exitCode ?? EXIT_CONCH_FAILED;
}

export function exitStatusOfError(err: unknown): number {
  if (!(err instanceof ConchError)) return EXIT_CONCH_FAILED;
  if (err.code === ErrorCodes.UNAVAILABLE) return EXIT_UNAVAILABLE;
  if (err.code === ErrorCodes.INVALID_ARGUMENT) return EXIT_USAGE;
  if (err.code === ErrorCodes.SPAWN_FAILED) return err.details?.errno === 'ENOENT' ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE;
  if (err.code === ErrorCodes.PERMISSION_DENIED) return EXIT_CANNOT_EXECUTE;
  return EXIT_CONCH_FAILED;
}
