import { passwdEntry } from './user-database.js';

/** The variables login sets from a passwd entry. */
const LOGIN_VARIABLES = ['HOME', 'USER', 'LOGNAME'] as const;

/**
 * A command's environment as another user: HOME, USER and LOGNAME that still hold this
 * process's own values (what the daemon inherited: root's) become those of the user's passwd
 * entry, as login sets them, so that the user's programs write their caches and configs where
 * they may; absent in both, they are set as login sets them. Other values stay (set by a
 * session's or command's env, or an `export`; one set to the daemon's very value is taken for
 * inherited), and a `cleared` environment (clearEnv) gets none it lacks. A uid with no entry,
 * or our own, changes nothing; the user database is read only when there is something to change.
 */
export function userEnvironment(env: Readonly<Record<string, string>>, uid: number | undefined, cleared = false): Readonly<Record<string, string>> {
  if (uid === undefined || uid === process.getuid?.()) return env;
  const inherited = LOGIN_VARIABLES.filter((name) => (env[name] === undefined ? !cleared && process.env[name] === undefined : env[name] === process.env[name]));
  if (inherited.length === 0) return env;
  const entry = passwdEntry(uid);
  if (!entry) return env;
  const login = { HOME: entry.home, USER: entry.name, LOGNAME: entry.name };
  const adjusted = { ...env };
  for (const name of inherited) if (login[name] !== '') adjusted[name] = login[name];
  return adjusted;
}
