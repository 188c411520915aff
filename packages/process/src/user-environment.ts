import { passwdEntry } from './user-database.js';

/**
 * A command's environment as another user: HOME, USER and LOGNAME that are still this process's
 * own (inherited from the daemon: root's), or absent in both, become those of the user's passwd
 * entry, as login sets them, so that the user's programs write their caches and configs where
 * they may. Values set on purpose (a session's or command's env, an `export`) stay, and so does
 * an environment that was cleared of them. A uid with no entry, or our own, changes nothing.
 */
export function userEnvironment(env: Readonly<Record<string, string>>, uid: number | undefined): Readonly<Record<string, string>> {
  if (uid === undefined || uid === process.getuid?.()) return env;
  const entry = passwdEntry(uid);
  if (!entry) return env;
  const login: Record<string, string> = { HOME: entry.home, USER: entry.name, LOGNAME: entry.name };
  let adjusted: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(login)) {
    if (value === '' || env[name] !== process.env[name]) continue;
    adjusted ??= { ...env };
    adjusted[name] = value;
  }
  return adjusted ?? env;
}
