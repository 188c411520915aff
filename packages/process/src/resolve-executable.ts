import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** What execvp(3) searches when PATH is unset (glibc's default). */
const DEFAULT_PATH = '/bin:/usr/bin';

/**
 * Finds what execvp would run for `file` under `env.PATH`, or throws an errno-style error
 * (ENOENT, EACCES) as spawn() would. forkpty-based spawning only learns of a failed exec from
 * the child's exit status, so we look first to give a PTY command the same typed error as a
 * pipe command. A race with the file system remains possible and then shows as exit status 1.
 */
export function resolveExecutable(file: string, env: Readonly<Record<string, string>>): string {
  const candidates = file.includes('/') ? [file] : (env.PATH ?? DEFAULT_PATH).split(delimiter).map((dir) => join(dir || '.', file));
  let denied: string | undefined;
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
    } catch {
      continue;
    }
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      denied ??= candidate;
    }
  }
  const code = denied ? 'EACCES' : 'ENOENT';
  throw Object.assign(new Error(`${code}: ${file}`), { code });
}
