import { describe, expect, it } from 'vitest';
import { VsockShellSession } from '@conch/shell-client';
import { guestSession } from './guest-session.js';
import { bootInstalledImage, GUEST_TEST_MS, installedImageUnavailable } from './installed-image.js';

// install.sh as a user runs it: the image builder's 'inittab' variant is a busybox rootfs with
// busybox init as PID 1 and conchd added only by `install.sh ROOTFS --init inittab`. Booting it
// proves the installed bundle, the env file and the inittab line, not just the files' presence.
const unavailable = installedImageUnavailable('inittab');

describe.skipIf(unavailable !== undefined)('install.sh --init inittab into a busybox-init rootfs, booted', () => {
  const image = bootInstalledImage('inittab', 'busybox-init');

  it('runs conchd as a child of busybox init, from the one line install.sh added', async () => {
    const s = guestSession(image.endpoint);
    try {
      // The command's shell is conchd's child, so $PPID is conchd.
      const r = await s.exec('cat /proc/1/comm; cut -d" " -f4 /proc/$PPID/stat; grep -c "^[^#].*/opt/conch/bin/conchd" /etc/inittab');
      expect(r.stdout).toBe('init\n1\n1\n');
    } finally {
      await s.close();
    }
  }, GUEST_TEST_MS);

  it('protects conchd from the OOM killer', async () => {
    const s = guestSession(image.endpoint);
    try {
      expect((await s.exec('cat /proc/$PPID/oom_score_adj')).stdout).toBe('-1000\n');
    } finally {
      await s.close();
    }
  }, GUEST_TEST_MS);

  it('loads pty.node from the installed bundle: PTY commands get a terminal', async () => {
    const s = guestSession(image.endpoint);
    try {
      const r = await s.exec('tty', { pty: { cols: 80, rows: 24 } });
      expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r\n$/);
      expect(r.exitCode).toBe(0);
    } finally {
      await s.close();
    }
  }, GUEST_TEST_MS);

  it('is respawned by init after kill -9, as a new instance', async () => {
    const before = guestSession(image.endpoint, { keepaliveMs: 500 });
    await before.connect();
    const oldInstance = before.daemon!.instanceId;
    const h = await before.spawn('sleep 0.5; kill -9 $PPID; sleep 30');
    await expect(h.wait()).rejects.toMatchObject({ code: 'COMMAND_LOST' });
    await before.close();
    let after: VsockShellSession | undefined;
    for (let i = 0; i < 60; i++) {
      after = guestSession(image.endpoint, { connectTimeoutMs: 3000 });
      if ((await after.connect()).state === 'ready') break;
      await after.close();
      await new Promise((r) => setTimeout(r, 250));
    }
    try {
      expect(after!.status.state).toBe('ready');
      expect(after!.daemon!.instanceId).not.toBe(oldInstance);
      expect((await after!.exec('cut -d" " -f4 /proc/$PPID/stat')).stdout).toBe('1\n');
    } finally {
      await after!.close();
    }
  }, GUEST_TEST_MS);
});
