import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { binding } from './binding.js';
import { execAsArgv, execAsHelper, type SpawnUser } from './exec-as.js';
import { PipeReader } from './pipe-reader.js';

export interface PosixSpawnOptions {
  /** An executable path, already resolved: no PATH search happens here. */
  readonly file: string;
  /** The full argv, argv[0] included. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** A pipe for stdin; otherwise stdin is /dev/null. */
  readonly stdin: boolean;
  /**
   * Run as this uid:gid, with `groups` as the supplementary groups or none (the caller must be root). posix_spawn
   * cannot switch users, so the process starts as conch-exec-as, which switches and executes
   * `file`; a failure of either still throws here, with its errno (EPERM, EACCES, …).
   */
  readonly user?: SpawnUser;
  /**
   * A cgroup's directory: the child starts in it (clone3's CLONE_INTO_CGROUP; before Linux 5.7
   * it joins before its exec), so that every process it ever starts is in it too, however it
   * detaches (setsid, a double fork). A cgroup that would not take it throws with syscall "cgroup".
   */
  readonly cgroup?: string;
}

export interface PosixSpawnExit {
  /** null when a signal ended the process (or, never seen, when its status could not be read). */
  readonly exitCode: number | null;
  /** The signal's name as Node spells it (`SIGTERM`), or its number when Node has no name for it. */
  readonly signal: string | null;
}

export interface PosixChild {
  readonly pid: number;
  readonly stdin: Socket | null;
  readonly stdout: PipeReader;
  readonly stderr: PipeReader;
  /** Resolves once the process has exited and been reaped. */
  readonly exited: Promise<PosixSpawnExit>;
}

/** Number → name, the first of Node's names for it: SIGABRT before its alias SIGIOT, SIGIO before SIGPOLL. */
const SIGNAL_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(constants.signals)) if (!SIGNAL_NAMES.has(n as number)) SIGNAL_NAMES.set(n as number, name);

/**
 * Starts a process as the leader of a new session and process group, with pipes for stdout
 * and stderr (and stdin when asked), through posix_spawn: no fork, so the cost does not grow
 * with the caller's heap. Throws the errno error (ENOENT, EACCES, EMFILE, …) synchronously when
 * it cannot start. A file without a #! line that the kernel cannot execute runs as a /bin/sh
 * script (argv[0] becomes its path), as execvp does. Output is read through PipeReaders (pause() is backpressure: the pipe fills);
 * stdin, when asked for, is an ordinary net.Socket.
 */
export function posixSpawn(options: PosixSpawnOptions): PosixChild {
  const envp = Object.entries(options.env).map(([k, v]) => `${k}=${v}`);
  const cgroup = options.cgroup ?? null;
  let fds;
  if (options.user) {
    const helper = execAsHelper();
    if (helper instanceof Error) throw helper;
    const [argv0 = options.file, ...args] = options.argv;
    const argv = execAsArgv(helper, { user: options.user, statusFd: 3 }, options.file, argv0, args);
    fds = binding().spawn(helper, argv, envp, options.cwd, options.stdin, true, cgroup);
  } else {
    try {
      fds = binding().spawn(options.file, options.argv, envp, options.cwd, options.stdin, false, cgroup);
    } catch (err) {
      // Not a binary the kernel runs, and no #! line: a shell script, as execvp (POSIX) and so
      // Node's spawn take it; the addon's child execs once, as posix_spawn does (conch-exec-as
      // falls back itself, for the rest).
      if ((err as NodeJS.ErrnoException).code !== 'ENOEXEC') throw err;
      fds = binding().spawn('/bin/sh', ['/bin/sh', options.file, ...options.argv.slice(1)], envp, options.cwd, options.stdin, false, cgroup);
    }
  }
  const exited = new Promise<PosixSpawnExit>((resolve) => {
    binding().watchExit(fds.pid, (err, exitCode, signal) => {
      if (err) resolve({ exitCode: null, signal: null });
      else resolve({ exitCode, signal: signal === null ? null : (SIGNAL_NAMES.get(signal) ?? String(signal)) });
    });
  });
  // The child runs already: if reading its pipes cannot start (out of memory, out of epoll
  // watches), it must not be left running unseen with fds of ours open. A PipeReader owns its
  // fd from its construction on, and closes it itself when that throws.
  const readers: PipeReader[] = [];
  try {
    for (const fd of [fds.stdout, fds.stderr]) readers.push(new PipeReader(fd));
  } catch (err) {
    for (const reader of readers) reader.destroy();
    // The fds after the one whose reader failed were never handed over.
    for (const fd of [fds.stdout, fds.stderr, fds.stdin].slice(readers.length + 1)) if (fd >= 0) closeSync(fd);
    // Its exit watcher reaps it.
    try {
      process.kill(-fds.pid, 'SIGKILL');
    } catch {}
    throw err;
  }
  return {
    pid: fds.pid,
    stdin: fds.stdin >= 0 ? new Socket({ fd: fds.stdin, readable: false, writable: true }) : null,
    stdout: readers[0]!,
    stderr: readers[1]!,
    exited,
  };
}
