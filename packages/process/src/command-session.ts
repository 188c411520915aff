import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ConchError, ErrorCodes, type PtyOptions } from '@conch/protocol';
import { cgroupsRequired, commandCgroups, type CommandCgroup } from './cgroup.js';
import { defaultShell } from './default-shell.js';
import { resolveExecutable } from './resolve-executable.js';
import { Execution, type ExecutionOptions, type OutputSink } from './execution.js';
import { ProcessTree } from './process-tree.js';
import { mergeShellState, shellArgv, takeShellState, type ShellState } from './shell-state.js';
import { spawnPipes } from './spawn-pipes.js';
import { spawnPty } from './spawn-pty.js';
import { userEnvironment } from './user-environment.js';
import type { ProcessSpec, SpawnedProcess } from './spawned-process.js';

export interface CommandSessionOptions {
  readonly cwd?: string;
  /** Overlaid on the base environment (or replacing it with `clearEnv`). */
  readonly env?: Readonly<Record<string, string>>;
  readonly clearEnv?: boolean;
  /** The environment sessions start from. @default process.env */
  readonly baseEnv?: Readonly<Record<string, string | undefined>>;
  readonly shell?: string;
  readonly uid?: number;
  readonly gid?: number;
}

export interface CommandRequest extends ExecutionOptions {
  /** A shell string; `cd` and `export` in it persist to the session. */
  readonly command?: string;
  /** An argv, executed directly and never shell-interpolated. */
  readonly argv?: readonly string[];
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Open stdin for writing. @default true with a PTY (a terminal takes input), false otherwise */
  readonly stdin?: boolean;
  readonly pty?: PtyOptions;
  readonly uid?: number;
  readonly gid?: number;
}

let stateFiles = 0;

/**
 * Where `env` is, found once in the daemon's PATH: the state save runs it by this path, so that
 * a command that breaks its own PATH still has its environment saved (see shellArgv).
 */
let envPath: string | undefined;
function envExecutable(): string {
  if (envPath === undefined) {
    try {
      // Absolute: a relative PATH entry of the daemon's would be relative to each command's cwd.
      envPath = resolve('/', resolveExecutable('env', { PATH: process.env.PATH ?? '/usr/bin:/bin' }, '/'));
    } catch {
      envPath = 'env';
    }
  }
  return envPath;
}

/** An empty directory, for one command, in place of a session cwd that was removed. */
interface RemovedCwdStandIn {
  readonly cwd: string;
  /** Where the command ended, in terms of the removed directory `removed` it stood in for. */
  translate(after: string, removed: string): string;
  remove(): void;
}

/**
 * `<tmp>/conch-removed-cwd-XXXX/cwd`, mode 0555 inside 0755, so that a command run as any user
 * can enter it and none but root can write there; what root writes goes with it.
 */
function removedCwdStandIn(): RemovedCwdStandIn {
  let base: string;
  try {
    base = mkdtempSync(join(tmpdir(), 'conch-removed-cwd-'));
    chmodSync(base, 0o755);
    mkdirSync(join(base, 'cwd'), { mode: 0o555 });
  } catch (err) {
    throw stateDirError(err as NodeJS.ErrnoException);
  }
  const cwd = join(base, 'cwd');
  return {
    cwd,
    translate: (after, removed) => (after === cwd ? removed : after === base ? dirname(removed) : after),
    remove: () => rmSync(base, { recursive: true, force: true }),
  };
}

/**
 * A session's state (cwd, environment, shell, user) and the one way to run commands in it.
 * Each command is a fresh process, so a stuck, killed or half-typed command cannot break the
 * next one; what a shell command changes with `cd`/`export` is carried over explicitly.
 */
export class CommandSession {
  readonly shell: string;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
  #state: ShellState;
  #stateDir: string | undefined;
  readonly #clearEnv: boolean;

  constructor(options: CommandSessionOptions = {}) {
    const base = options.clearEnv ? {} : definedEntries(options.baseEnv ?? process.env);
    const cwd = resolve(options.cwd ?? process.cwd());
    this.#state = { cwd, env: { ...base, ...options.env, PWD: cwd } };
    this.shell = options.shell ?? defaultShell();
    this.#clearEnv = Boolean(options.clearEnv);
    this.uid = options.uid;
    this.gid = options.gid;
  }

  get state(): ShellState {
    return this.#state;
  }

  /** Starts a command. Rejects with SPAWN_FAILED / PERMISSION_DENIED / PTY_UNAVAILABLE if it cannot start. */
  async start(request: CommandRequest, sink: OutputSink): Promise<Execution> {
    const before = this.#state;
    const cwd = request.cwd === undefined ? before.cwd : resolve(before.cwd, request.cwd);
    const uid = request.uid ?? this.uid;
    const env = userEnvironment({ ...before.env, ...request.env, PWD: cwd }, uid, this.#clearEnv);
    // The session's state directory belongs to the session's user; a command run as another
    // user could not write its state there, so what it changes with cd/export stays its own.
    // (The daemon's own ids are asked for only when the request names one: two syscalls per exec.)
    const asSessionUser =
      (request.uid === undefined || request.uid === (this.uid ?? process.getuid?.())) &&
      (request.gid === undefined || request.gid === (this.gid ?? process.getgid?.()));
    const stateFile = request.command === undefined || !asSessionUser ? undefined : this.#nextStateFile();
    let argv: readonly string[];
    if (request.command !== undefined) argv = stateFile === undefined ? [this.shell, '-c', request.command] : shellArgv(this.shell, request.command, stateFile, envExecutable());
    else if (request.argv !== undefined && request.argv.length > 0) argv = request.argv;
    else throw new ConchError(ErrorCodes.INVALID_ARGUMENT, 'a command needs either a shell string or a non-empty argv');
    let cgroup = takeCgroup();
    let spec: ProcessSpec = {
      argv, cwd, env, stdin: request.stdin ?? Boolean(request.pty),
      ...(request.pty ? { pty: request.pty } : {}),
      ...(uid !== undefined ? { uid } : {}),
      ...(request.gid ?? this.gid) !== undefined ? { gid: request.gid ?? this.gid } : {},
      ...(cgroup ? { cgroup } : {}),
    };
    let spawned: SpawnedProcess;
    let standIn: RemovedCwdStandIn | undefined;
    try {
      spawned = await spawn(spec).catch(async (err: unknown) => {
        // Its cgroup went between take() and the spawn (removed by hand, or by another
        // daemon's sweep that took us for dead): once more, with a fresh one.
        if (!isCgroupError(err)) throw err;
        giveBack(cgroup, err);
        cgroup = takeCgroup();
        spec = { ...spec, ...(cgroup ? { cgroup } : {}) };
        return spawn(spec);
      });
    } catch (err) {
      // The session's own cwd was removed under it (rm -rf, git worktree remove, a build's
      // clean). In a shell, commands would go on running in the deleted directory, relative
      // paths failing and `cd /` working; a spawn cannot enter a directory that is gone. So the
      // command runs in an empty stand-in for it, made for it alone and removed after it, and
      // the session stays where it was until a command changes directory. Checked only once a
      // spawn has failed: no stat on the exec path.
      if (request.cwd !== undefined || isDirectory(cwd) || isCgroupError(err)) {
        giveBack(cgroup, err);
        throw err;
      }
      standIn = removedCwdStandIn();
      try {
        spawned = await spawn({ ...spec, cwd: standIn.cwd });
      } catch (again) {
        standIn.remove();
        giveBack(cgroup, again);
        throw again;
      }
    }
    const execution = new Execution(spawned, sink, request, new ProcessTree(spawned.pid, cgroup));
    void execution.done.then(() => {
      standIn?.remove();
      if (stateFile === undefined) return;
      const after = takeShellState(stateFile);
      if (!after) return;
      // `cd ..` from the stand-in means the removed directory's parent, as it would in a shell.
      const moved = standIn === undefined ? after : { ...after, cwd: standIn.translate(after.cwd, cwd) };
      const merged = mergeShellState(this.#state, { cwd, env }, moved);
      this.#state = { cwd: merged.cwd, env: { ...merged.env, PWD: merged.cwd } };
    });
    return execution;
  }

  /** Removes the session's private state directory. */
  close(): void {
    if (this.#stateDir) rmSync(this.#stateDir, { recursive: true, force: true });
    this.#stateDir = undefined;
  }

  #nextStateFile(): string {
    return join(this.#stateDirectory(), `state-${++stateFiles}`);
  }

  #stateDirectory(): string {
    if (!this.#stateDir) {
      // A private directory per session: the workload (possibly another uid) cannot plant or
      // read state files of other sessions.
      let dir: string | undefined;
      try {
        dir = mkdtempSync(join(tmpdir(), 'conch-session-'));
        if (this.uid !== undefined || this.gid !== undefined) chownSync(dir, this.uid ?? -1, this.gid ?? -1);
      } catch (err) {
        if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
        throw stateDirError(err as NodeJS.ErrnoException);
      }
      this.#stateDir = dir;
    }
    return this.#stateDir;
  }
}

/** A full or read-only TMPDIR (ENOSPC, EROFS, EACCES) fails the command with a typed error, not an internal one. */
function stateDirError(err: NodeJS.ErrnoException): ConchError {
  const errno = err.code ?? 'UNKNOWN';
  const code = errno === 'EPERM' ? ErrorCodes.PERMISSION_DENIED : ErrorCodes.SPAWN_FAILED;
  return new ConchError(code, `cannot create the session's state directory in ${tmpdir()}: ${err.message}`, { errno, tmpdir: tmpdir() });
}

function spawn(spec: ProcessSpec): Promise<SpawnedProcess> {
  return spec.pty ? spawnPty(spec) : spawnPipes(spec);
}

/**
 * A cgroup of its own for the next command, where this machine gives us cgroups. When one
 * cannot be made now (out of fds, say), the command runs with its process group alone, as it
 * would without cgroups, rather than not at all; unless cgroups are required (--cgroups require).
 */
function takeCgroup(): CommandCgroup | undefined {
  const cgroups = commandCgroups();
  try {
    if (cgroups instanceof Error) throw cgroups;
    return cgroups.take();
  } catch (err) {
    if (!cgroupsRequired()) return undefined;
    throw new ConchError(ErrorCodes.SPAWN_FAILED, `cannot make a cgroup for the command, and cgroups are required: ${(err as Error).message}`, { cgroup: true }, { cause: err });
  }
}

/** A command that did not start gives its cgroup back; not to the pool when that cgroup is what failed. */
function giveBack(cgroup: CommandCgroup | undefined, err: unknown): void {
  if (isCgroupError(err)) cgroup?.remove();
  else cgroup?.release();
}

function isCgroupError(err: unknown): boolean {
  return err instanceof ConchError && err.details?.cgroup === true;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function definedEntries(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}
