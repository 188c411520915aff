import { closeSync } from 'node:fs';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { execAsArgv, execAsHelper, openExecStatus, posixSpawnAvailability, type ExecStatus, type SpawnUser } from '@conch/posix-spawn';
import { ConchError, ErrorCodes, isTerminalCells, normalizeSignal } from '@conch/protocol';
import { checkCwd } from './check-cwd.js';
import { loadPtyBinding } from './node-pty-binding.js';
import { PtyMaster } from './pty-master.js';
import { requestedUser } from './requested-user.js';
import { resolveExecutable } from './resolve-executable.js';
import { spawnError } from './spawn-error.js';
import { holdTerminal } from './terminal-hold.js';
import type { ProcessExit, ProcessSpec, PtyProcess } from './spawned-process.js';

const DEFAULT_TERM = 'xterm-256color';
const DEFAULT_SIZE = { cols: 80, rows: 24 };

/** Whether PTY commands can run here: node-pty's addon loaded. */
export function ptyAvailable(): boolean {
  return !(loadPtyBinding() instanceof Error);
}

/**
 * Starts a process on a new pseudo-terminal (forkpty: the process leads a new session and
 * process group, with the terminal as its controlling tty). Its output, stdout and stderr
 * together, is `stdout`; it ends only after every byte written to the terminal was read.
 *
 * Without `spec.stdin` the terminal gets the EOF character at once, so a program reading its
 * input sees end of input, as it would from /dev/null on a pipe.
 * Rejects with PTY_UNAVAILABLE when node-pty cannot be loaded, SPAWN_FAILED or PERMISSION_DENIED
 * when the command cannot start.
 */
export async function spawnPty(spec: ProcessSpec): Promise<PtyProcess> {
  const loaded = loadPtyBinding();
  if (loaded instanceof Error) {
    throw new ConchError(ErrorCodes.PTY_UNAVAILABLE, `PTY support is not available: ${loaded.message}`, { reason: loaded.message }, { cause: loaded });
  }
  const { binding, helperPath } = loaded;
  const [file, ...args] = spec.argv;
  if (file === undefined) throw new TypeError('argv must not be empty');
  checkCwd(spec.cwd);
  let path: string;
  try {
    path = resolveExecutable(file, spec.env, spec.cwd);
  } catch (err) {
    throw spawnError(err as NodeJS.ErrnoException, file, spec.cwd);
  }
  const user = permittedUser(spec, file);
  // node-pty's forkpty child keeps every terminal master the daemon holds (another command's
  // terminal, a root shell's too), and switches user without setgroups (root's groups would
  // stay): exec through conch-exec-as, which closes the first and does the switch properly.
  let exec = { file, args };
  const helper = execAsHelper();
  if (helper instanceof Error && user) {
    throw new ConchError(ErrorCodes.SPAWN_FAILED, `cannot run a PTY command as ${user.uid}:${user.gid} without conch-exec-as: ${helper.message}`, { file, cwd: spec.cwd });
  }
  // How conch-exec-as says it could not exec (a #! interpreter that is missing, a refused user
  // switch): an error here, as for pipe commands, rather than exit 127 and a line on the terminal.
  let status: ExecStatus | undefined;
  if (!(helper instanceof Error)) {
    try {
      if (posixSpawnAvailability().available) status = openExecStatus();
    } catch (err) {
      // Out of fds (EMFILE), as a spawn would be.
      throw spawnError(err as NodeJS.ErrnoException, file, spec.cwd);
    }
    const options = {
      ...(user ? { user } : {}),
      ...(spec.cgroup ? { cgroupProcs: spec.cgroup.procs } : {}),
      ...(status ? { statusFd: status.writeFd } : {}),
    };
    const [helperFile, ...helperArgs] = execAsArgv(helper, options, path, file, args);
    exec = { file: helperFile!, args: helperArgs };
  }
  const size = spec.pty ?? DEFAULT_SIZE;
  const env = { ...spec.env, TERM: spec.pty?.term ?? DEFAULT_TERM };

  let onExit!: (exit: ProcessExit) => void;
  const exited = new Promise<ProcessExit>((resolve) => (onExit = resolve));
  let forked: { fd: number; pid: number; pty: string };
  try {
    forked = binding.fork(
      exec.file, exec.args, Object.entries(env).map(([k, v]) => `${k}=${v}`), spec.cwd, size.cols, size.rows,
      -1, -1, true, helperPath,
      (exitCode, signal) => onExit(signal ? { exitCode: null, signal: normalizeSignal(signal) ?? 'SIGKILL' } : { exitCode, signal: null }),
    );
  } catch (err) {
    status?.discard();
    // forkpty itself failed: no pty left (kernel.pty.max) or no process slots.
    throw new ConchError(ErrorCodes.SPAWN_FAILED, `cannot start ${JSON.stringify(file)} on a terminal: ${(err as Error).message}`, { file, cwd: spec.cwd }, { cause: err });
  }
  // Without conch-exec-as the child cannot join before it runs: as near as a move can be.
  if (helper instanceof Error) spec.cgroup?.adopt(forked.pid);
  // Before anything can read the master: see terminal-hold.ts for the SIGHUP this prevents.
  const releaseTerminal = holdTerminal(forked.pty);
  const failed = await status?.wait();
  if (failed) {
    // It has exited already (node-pty reaps it); nothing will read its terminal.
    releaseTerminal();
    closeSync(forked.fd);
    throw spawnError(failed, file, spec.cwd, resolve(spec.cwd, path));
  }
  void exited.then(releaseTerminal);
  const master = new PtyMaster(forked.fd);
  const stdin = spec.stdin
    ? new Writable({
        write: (chunk: Buffer, _encoding, done) => master.write(chunk, done),
        final: (done) => master.endInput(() => done()),
      })
    : null;
  // Input written after the process has gone has nowhere to go; that is not a daemon error.
  stdin?.on('error', () => {});
  if (!stdin) master.endInput();

  return {
    pid: forked.pid,
    pty: true,
    stdout: master.output,
    stderr: null,
    stdin,
    exited,
    // Through stdin.end(), so the EOF character follows any input still queued.
    endInput: () => stdin?.end(),
    resize: (cols, rows) => {
      if (!isTerminalCells(cols) || !isTerminalCells(rows)) throw new RangeError(`invalid terminal size ${cols}x${rows}`);
      master.resize(cols, rows, (fd, c, r) => binding.resize(fd, c, r));
    },
    abandonOutput: () => {
      releaseTerminal();
      master.close();
    },
  };
}

/**
 * The user to switch to, if any. Without root, a switch is refused here, with the error
 * spawn() would give (requestedUser asks for none when the ids are the daemon's own).
 */
function permittedUser(spec: ProcessSpec, file: string): SpawnUser | undefined {
  const user = requestedUser(spec);
  if (user && process.getuid?.() !== 0) {
    throw spawnError(Object.assign(new Error('EPERM'), { code: 'EPERM' }), file, spec.cwd);
  }
  return user;
}
