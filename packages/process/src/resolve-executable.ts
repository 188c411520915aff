import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

/** What execvp(3) searches when PATH is unset (glibc's default). */
const DEFAULT_PATH = '/bin:/usr/bin';

/**
 * Finds what execvp in the child would run for `file` under `env.PATH`, or throws an
 * errno-style error (ENOENT, EACCES) as its exec would. Relative names (`./run.sh`, an empty or
 * `.` PATH entry) are the child's, so they are looked up from `cwd`, where it will run. A
 * directory is EACCES, as execve says. forkpty-based spawning only learns of a failed exec from
 * the child's exit status, so we look first to give a PTY command the same typed error as a
 * pipe command. A race with the file system remains possible and then shows as exit status 1.
 */
export function resolveExecutable(file: string, env: Readonly<Record<string, string>>, cwd: string): string {
  const candidates = file.includes('/') ? [file] : (env.PATH ?? DEFAULT_PATH).split(delimiter).map((dir) => join(dir || '.', file));
  let denied: string | undefined;
  for (const candidate of candidates) {
    const where = resolve(cwd, candidate);
    let isFile: boolean;
    try {
      isFile = statSync(where).isFile();
    } catch {
      continue;
    }
    if (isFile && executable(where)) return candidate;
    denied ??= candidate;
  }
  const code = denied ? 'EACCES' : 'ENOENT';
  throw Object.assign(new Error(`${code}: ${file}`), { code });
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
