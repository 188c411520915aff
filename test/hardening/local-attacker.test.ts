import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VsockShellSession } from '@conch/shell-client';
import { CONCH, startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

/**
 * A local process that is not root (the guest workload, here uid 65534 on this machine) cannot
 * drive a conchd listening on a Unix socket: the socket is 0600 and owned by root. The socket is
 * put in a world-traversable directory so that only its own mode stands in the way.
 */
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

let dir: string;
let daemon: DaemonProcess;

beforeAll(async () => {
  if (!isRoot) return;
  dir = mkdtempSync(join(tmpdir(), 'conch-attacker-'));
  chmodSync(dir, 0o755);
  daemon = await startDaemon([], { socket: join(dir, 'conchd.sock') });
});
afterAll(async () => {
  await daemon?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs a Node snippet as nobody and returns what it printed. */
function asNobody(script: string): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, ['-e', script], { uid: NOBODY, gid: NOBODY, encoding: 'utf8', timeout: 15_000, cwd: '/' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

describe.skipIf(!isRoot)('a local non-root process against conchd\'s Unix socket', () => {
  it('cannot connect: EACCES, and no command runs', () => {
    const marker = join(dir, 'attacker-was-here');
    const r = asNobody(`
      const s = require('node:net').createConnection(${JSON.stringify(daemon.socket)});
      s.on('connect', () => { console.log('connected'); s.destroy(); });
      s.on('error', (e) => console.log(e.code));
    `);
    expect(r.stdout.trim()).toBe('EACCES');
    expect(existsSync(marker)).toBe(false);
  });

  it('gets "unavailable" from the conch CLI (exit 69), while root is served', async () => {
    const marker = join(dir, 'attacker-was-here');
    const r = spawnSync(process.execPath, [CONCH, '--connect', daemon.endpoint, 'exec', '--', 'touch', marker], {
      uid: NOBODY, gid: NOBODY, encoding: 'utf8', timeout: 15_000, cwd: '/',
    });
    expect(r.status, r.stderr).toBe(69);
    expect(r.stderr).toMatch(/unavailable/);
    expect(existsSync(marker)).toBe(false);
    const root = new VsockShellSession(daemon.endpoint);
    expect((await root.exec(['id', '-u'])).stdout).toBe('0\n');
    await root.close();
  });
});

it.runIf(!isRoot)('skips the local-attacker tests when not root', () => {
  console.log('skipped: the tests switch to uid 65534, which needs root');
});
