import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { localRequire } from './local-require.js';

/** Where a bundled daemon keeps conch-exec-as (the single-file conchd has no package directory). */
export const EXEC_AS_ENV = 'CONCH_EXEC_AS';

/**
 * The path of conch-exec-as (src/exec-as.c), or an Error saying where it was looked for. It
 * executes a program with no fd above 2 left open and, run as root with a user, as that
 * uid:gid with the given supplementary groups or none: for spawners that do neither (node-pty's forkpty).
 */
export function execAsHelper(): string | Error {
  // Looked up once, as the addon is: every PTY spawn and every spawn for another user asks.
  if (cached !== undefined) return cached;
  const override = process.env[EXEC_AS_ENV];
  const file = override || join(dirname(localRequire().resolve('@conch/posix-spawn/package.json')), 'build/Release/conch-exec-as');
  cached = existsSync(file) ? file : new Error(`${file} is missing (build @conch/posix-spawn, or set ${EXEC_AS_ENV})`);
  return cached;
}

let cached: string | Error | undefined;

/** Who a process becomes: uid and gid, and its supplementary groups (none when not given). */
export interface SpawnUser {
  readonly uid: number;
  readonly gid: number;
  readonly groups?: readonly number[];
}

export interface ExecAsOptions {
  /** Become this user before the exec. */
  readonly user?: SpawnUser;
  /** Report a failed switch or exec on this fd, as an int errno (see posixSpawn's `user`). */
  readonly statusFd?: number;
  /** Join this cgroup (its cgroup.procs) first, before anything else can run. */
  readonly cgroupProcs?: string;
}

/** argv that runs `path` (as `argv0`, with `args`) through conch-exec-as `helper`. */
export function execAsArgv(helper: string, options: ExecAsOptions, path: string, argv0: string, args: readonly string[]): string[] {
  return [
    helper,
    ...(options.statusFd !== undefined ? ['--status-fd', String(options.statusFd)] : []),
    ...(options.cgroupProcs !== undefined ? ['--cgroup', options.cgroupProcs] : []),
    ...(options.user ? ['--user', `${options.user.uid}:${options.user.gid}`] : []),
    ...(options.user?.groups ? ['--groups', options.user.groups.join(',')] : []),
    path, argv0, ...args,
  ];
}
