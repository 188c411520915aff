import { afterEach, describe, expect, it } from 'vitest';
import { passwdEntry } from '../src/user-database.js';
import { userEnvironment } from '../src/user-environment.js';

/** HOME, USER and LOGNAME as login sets them, for a command as another user; against this machine's nobody. */
const NOBODY = 65534;
const entry = passwdEntry(NOBODY);
const saved = { HOME: process.env.HOME, USER: process.env.USER, LOGNAME: process.env.LOGNAME };
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

describe.runIf(entry !== undefined && process.getuid?.() !== NOBODY)('userEnvironment', () => {
  it("replaces the daemon's own values, keeps those set on purpose, and sets absent ones unless the environment was cleared", () => {
    process.env.HOME = '/root';
    process.env.USER = 'root';
    delete process.env.LOGNAME;
    const login = { HOME: entry!.home, USER: entry!.name, LOGNAME: entry!.name };
    expect(userEnvironment({ HOME: '/root', USER: 'root', PATH: '/bin' }, NOBODY)).toEqual({ ...login, PATH: '/bin' });
    expect(userEnvironment({ HOME: '/tmp/h', USER: 'root' }, NOBODY)).toEqual({ ...login, HOME: '/tmp/h' });
    // Cleared of them: none comes back; LOGNAME, absent here and in the daemon, stays absent too.
    expect(userEnvironment({ PATH: '/bin' }, NOBODY, true)).toEqual({ PATH: '/bin' });
    // Not cleared, but unset in the session while the daemon has it: stays unset.
    expect(userEnvironment({ USER: 'root' }, NOBODY)).toEqual({ USER: entry!.name, LOGNAME: entry!.name });
  });

  it('changes nothing for no uid, our own, or a uid with no entry', () => {
    process.env.HOME = '/root';
    const env = { HOME: '/root' };
    expect(userEnvironment(env, undefined)).toBe(env);
    expect(userEnvironment(env, process.getuid!())).toBe(env);
    expect(userEnvironment(env, 424_242_424)).toBe(env);
  });
});

it.runIf(entry === undefined)('skips userEnvironment without a passwd entry for 65534', () => {
  console.log('skipped: this machine has no passwd entry for uid 65534 (nobody) to test the login variables against');
});
