import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A working directory that exists but may not be entered fails the child's chdir with EACCES,
 * the errno of an executable without the x bit: the error must name the directory. The daemon
 * has to be someone a directory can be closed to, so as root this runs the spawns in a child
 * Node process as nobody (65534), through the built package; otherwise in a child as ourselves,
 * against a directory of our own with mode 000.
 */
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'conch-cwd-'));
  // Root's 0700 directory is closed to nobody already; our own needs 000 to be closed to us.
  if (!isRoot) chmodSync(dir, 0o000);
});
afterAll(() => {
  chmodSync(dir, 0o700);
  rmSync(dir, { recursive: true, force: true });
});

/** Starts argv in `cwd` through spawnPipes (or spawnPty) in a child Node process; what it rejected with. */
function spawnIn(cwd: string, argv: string[], how: 'pipes' | 'node' | 'pty') {
  const script = `
    const { spawnPipes, spawnPty } = await import(${JSON.stringify(DIST)});
    const spec = { argv: ${JSON.stringify(argv)}, cwd: ${JSON.stringify(cwd)}, env: { PATH: '/usr/bin:/bin' }, stdin: false };
    try {
      const p = await (${JSON.stringify(how)} === 'pty' ? spawnPty({ ...spec, pty: { cols: 80, rows: 24 } }) : spawnPipes(spec));
      console.log(JSON.stringify({ started: p.pid > 0 }));
      process.exit(0);
    } catch (err) {
      console.log(JSON.stringify({ code: err.code, message: err.message, details: err.details }));
    }`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8', timeout: 15_000, cwd: '/',
    env: { ...process.env, ...(how === 'node' ? { CONCH_SPAWN: 'node' } : {}) },
    ...(isRoot ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('a working directory the daemon may not enter', () => {
  it('is named as the cause, for posix_spawn, child_process and a PTY, by path and by PATH lookup', () => {
    for (const how of ['pipes', 'node', 'pty'] as const) {
      for (const argv of [['/bin/true'], ['true']]) {
        expect({ how, argv, ...spawnIn(dir, argv, how) }).toEqual({
          how, argv, code: 'SPAWN_FAILED', message: `working directory ${JSON.stringify(dir)} cannot be entered: permission denied`,
          details: { errno: 'EACCES', cwd: dir },
        });
      }
    }
  });

  it('still lets an unexecutable executable say so itself, from a directory that can be entered', () => {
    const open = mkdtempSync(join(tmpdir(), 'conch-cwd-open-'));
    try {
      chmodSync(open, 0o755);
      const plain = join(open, 'plain');
      writeFileSync(plain, 'echo no\n', { mode: 0o644 });
      for (const how of ['pipes', 'node'] as const) {
        expect(spawnIn(open, [plain], how)).toMatchObject({
          code: 'SPAWN_FAILED', message: `cannot run ${JSON.stringify(plain)}: permission denied`, details: { errno: 'EACCES', cwd: open },
        });
      }
    } finally {
      rmSync(open, { recursive: true, force: true });
    }
  });
});
