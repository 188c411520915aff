import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { localRequire } from './local-require.js';

/** Where a bundled daemon keeps conch-exec-as (the single-file conchd has no package directory). */
export const EXEC_AS_ENV = 'CONCH_EXEC_AS';

/**
 * The path of conch-exec-as (src/exec-as.c), or an Error saying where it was looked for. Run
 * as root, `conch-exec-as UID GID PATH ARGV0 ARG…` drops every supplementary group, becomes
 * UID:GID and executes PATH: for spawners that switch users without setgroups (node-pty).
 */
export function execAsHelper(): string | Error {
  const override = process.env[EXEC_AS_ENV];
  const file = override || join(dirname(localRequire().resolve('@conch/posix-spawn/package.json')), 'build/Release/conch-exec-as');
  return existsSync(file) ? file : new Error(`${file} is missing (build @conch/posix-spawn, or set ${EXEC_AS_ENV})`);
}

/** argv that runs `path` (as `argv0`, with `args`) as uid:gid with no supplementary groups. */
export function execAsArgv(helper: string, uid: number, gid: number, path: string, argv0: string, args: readonly string[]): string[] {
  return [helper, String(uid), String(gid), path, argv0, ...args];
}
