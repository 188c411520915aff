import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { localRequire } from './local-require.js';

/** The addon's functions (src/posix-spawn.c). Errors it throws carry `code`, `errno` and `syscall`. */
export interface PosixSpawnBinding {
  /**
   * With statusPipe the child gets fd 3 to report a failed exec of its own on (conch-exec-as
   * --status-fd 3). With cgroupDir (a cgroup's directory) the child starts in that cgroup.
   * A cgroup that would not take the child throws with syscall "cgroup".
   */
  spawn(path: string, argv: readonly string[], envp: readonly string[], cwd: string, stdinPipe: boolean, statusPipe: boolean, cgroupDir: string | null): {
    pid: number;
    stdin: number;
    stdout: number;
    stderr: number;
  };
  watchExit(pid: number, callback: (err: NodeJS.ErrnoException | null, exitCode: number | null, signal: number | null) => void): void;
  /** null when the kernel has what watchExit needs (pidfd_open), else the error. */
  probe(): NodeJS.ErrnoException | null;
  /**
   * Takes ownership of an fd (made non-blocking) and reads it into `buffer`: callback(null, n)
   * per read of n > 0 bytes (buffer[0, n), until the next read into that buffer), then
   * callback(null, 0) at EOF or callback(err, 0), after which the fd is closed; calls on the
   * handle after that (or after closeReader) do nothing.
   */
  openReader(fd: number, callback: (err: NodeJS.ErrnoException | null, n: number) => void, buffer: Buffer): ReaderHandle;
  pauseReader(reader: ReaderHandle): void;
  resumeReader(reader: ReaderHandle): void;
  /** Stops reading and closes the fd, with no further callback. */
  closeReader(reader: ReaderHandle): void;
  /** Whether any process is left in process group `pgid` (above 1): kill(-pgid, 0) without an exception. */
  groupExists(pgid: number): boolean;
  /**
   * From now on, children join their cgroup by writing to cgroup.procs before their exec, as
   * on kernels before 5.7 and off x86-64, instead of being born in it: for tests of that path.
   */
  joinByWrite(): void;
  /** How many children started into a cgroup: born in it (clone3), or by their own write. */
  cgroupSpawns(): { bornIn: number; joinedByWrite: number };
  /** [readFd, writeFd] for conch-exec-as --status-fd writeFd; the write end is inheritable (close it after the fork). */
  statusPipe(): [number, number];
}

/** The addon's reader: an opaque external. */
export type ReaderHandle = { readonly __brand: 'PosixSpawnReader' };

/** Where a bundled daemon keeps posix_spawn.node (the single-file conchd has no package directory). */
export const POSIX_SPAWN_ADDON_ENV = 'CONCH_POSIX_SPAWN_ADDON';

let cached: PosixSpawnBinding | undefined;

/** Loads the addon on first use, so merely importing this package never fails. */
export function binding(): PosixSpawnBinding {
  if (cached) return cached;
  const require = localRequire();
  const override = process.env[POSIX_SPAWN_ADDON_ENV];
  const file = override && existsSync(override)
    ? override
    : join(dirname(require.resolve('@conch/posix-spawn/package.json')), 'build/Release/posix_spawn.node');
  cached = require(file) as PosixSpawnBinding;
  return cached;
}
