import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VsockShellSession } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

/**
 * A command must not inherit the daemon's file descriptors, above all not the terminal master
 * of another command's PTY: with it, a workload running as nobody could type into a root shell
 * on that terminal, or read its screen.
 *
 * KNOWN GAP (SECURITY.md, "not yet proven"): node-pty's forkpty leaves every terminal master
 * without FD_CLOEXEC, and its child closes only its own master, so a PTY command inherits the
 * master of every PTY command that is running when it starts. Fixing it needs native code
 * (FD_CLOEXEC on each master, or closing fds >= 3 in the child). `it.fails` pins the gap: this
 * test reports a failure the day the leak is gone, so that it and SECURITY.md get updated.
 */
const NOBODY = { uid: 65534, gid: 65534 } as const;
const isRoot = process.getuid?.() === 0;

let daemon: DaemonProcess;
beforeAll(async () => {
  daemon = await startDaemon(['--log-level', 'error']);
});
afterAll(async () => {
  await daemon?.stop();
});

describe.skipIf(!isRoot)('file descriptors a command inherits', () => {
  it.fails('a PTY command run as nobody holds no terminal master of a root PTY command', async () => {
    const s = new VsockShellSession(daemon.endpoint);
    const rootTerminal = await s.spawn(['sleep', '30'], { pty: { cols: 80, rows: 24 } });
    try {
      const r = await s.exec('for f in /proc/self/fd/*; do readlink "$f"; done', { ...NOBODY, pty: { cols: 80, rows: 24 } });
      expect(r.exitCode).toBe(0);
      // Its own terminal is /dev/pts/N; a master would show as /dev/ptmx.
      expect(r.stdout).toMatch(/\/dev\/pts\/\d+/);
      expect(r.stdout).not.toContain('/dev/ptmx');
    } finally {
      await rootTerminal.kill('SIGKILL');
      await s.close();
    }
  });
});
