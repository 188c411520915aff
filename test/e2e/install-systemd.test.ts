import { describe, expect, it } from 'vitest';
import { VsockShellSession } from '@conch/shell-client';
import { guestSession } from './guest-session.js';
import { bootInstalledImage, GUEST_TEST_MS, installedImageUnavailable } from './installed-image.js';

// install.sh as a Debian user runs it: the image builder's 'systemd' variant is a minimal Debian
// made by mmdebstrap, booted with systemd as PID 1, where conchd comes only from
// `install.sh ROOTFS --init systemd`. Only a real systemd shows the unit is accepted, enabled,
// started early, restarted and OOM-protected.
const unavailable = installedImageUnavailable('systemd');

describe.skipIf(unavailable !== undefined)('install.sh --init systemd into a minimal Debian, booted', () => {
  const image = bootInstalledImage('systemd', 'systemd');

  it('runs conchd as the unit install.sh enabled, a child of systemd, with no failed units', async () => {
    // The command's shell is conchd's child, so $PPID is conchd.
    const out = await image.inGuest(
      'cat /proc/1/comm; cut -d" " -f4 /proc/$PPID/stat; test "$(systemctl show conchd -p MainPID --value)" = $PPID && echo main-pid; ' +
        'systemctl is-enabled conchd; systemctl show conchd -p WantedBy --value; systemctl list-units --failed --no-legend | wc -l',
    );
    expect(out).toBe('systemd\n1\nmain-pid\nenabled\nsysinit.target\n0\n');
  }, GUEST_TEST_MS);

  it('starts before sysinit.target, with OOMScoreAdjust applied to conchd', async () => {
    const out = await image.inGuest('systemctl show conchd -p Before --value | tr " " "\\n" | grep -x sysinit.target; cat /proc/$PPID/oom_score_adj');
    expect(out).toBe('sysinit.target\n-1000\n');
  }, GUEST_TEST_MS);

  it('serves PTY commands from the installed bundle', async () => {
    const s = guestSession(image.endpoint);
    try {
      expect((await s.exec('tty', { pty: { cols: 80, rows: 24 } })).stdout).toMatch(/^\/dev\/pts\/\d+\r\n$/);
    } finally {
      await s.close();
    }
  }, GUEST_TEST_MS);

  it('is restarted by systemd after kill -9, as a new instance (Restart=always)', async () => {
    const restartsBefore = Number((await image.inGuest('systemctl show conchd -p NRestarts --value')).trim());
    const before = guestSession(image.endpoint, { keepaliveMs: 500 });
    await before.connect();
    const oldInstance = before.daemon!.instanceId;
    const h = await before.spawn('sleep 0.5; kill -9 $PPID; sleep 30');
    await expect(h.wait()).rejects.toMatchObject({ code: 'COMMAND_LOST' });
    await before.close();
    let after: VsockShellSession | undefined;
    for (let i = 0; i < 120; i++) {
      after = guestSession(image.endpoint, { connectTimeoutMs: 3000 });
      if ((await after.connect()).state === 'ready') break;
      await after.close();
      await new Promise((r) => setTimeout(r, 250));
    }
    try {
      expect(after!.status.state).toBe('ready');
      expect(after!.daemon!.instanceId).not.toBe(oldInstance);
      const r = await after!.exec('systemctl show conchd -p NRestarts --value; systemctl is-active conchd');
      expect(r.stdout).toBe(`${restartsBefore + 1}\nactive\n`);
    } finally {
      await after!.close();
    }
  }, GUEST_TEST_MS);

  it('survives a crash loop: 8 kills in a few seconds do not trip the start limit', async () => {
    const restartsBefore = Number((await image.inGuest('systemctl show conchd -p NRestarts --value')).trim());
    // Its own unit, so that systemd's cleanup of conchd's cgroup after each kill spares it.
    await image.inGuest(
      "systemd-run --quiet --unit=conch-crashloop sh -c 'last=; for i in 1 2 3 4 5 6 7 8; do " +
        'p=$(systemctl show conchd -p MainPID --value); ' +
        'while [ "$p" = 0 ] || [ "$p" = "$last" ]; do sleep 0.05; p=$(systemctl show conchd -p MainPID --value); done; ' +
        "kill -9 $p; last=$p; done'",
    ).catch(() => {
      // The first kill can land before the reply does.
    });
    let after: VsockShellSession | undefined;
    let out = '';
    // A unit that tripped the start limit never comes back: give up after a minute.
    for (const deadline = Date.now() + 60_000; Date.now() < deadline && !out.endsWith('inactive\n'); ) {
      await new Promise((r) => setTimeout(r, 250));
      after = guestSession(image.endpoint, { connectTimeoutMs: 3000 });
      try {
        if ((await after.connect()).state === 'ready') {
          out = (await after.exec('systemctl show conchd -p NRestarts --value; systemctl is-active conchd; systemctl is-active conch-crashloop || true')).stdout;
        }
      } catch {
        // Killed mid-command by the loop: ask again.
      } finally {
        await after.close();
      }
    }
    const [restarts, active] = out.split('\n');
    expect(Number(restarts)).toBeGreaterThanOrEqual(restartsBefore + 8);
    expect(active).toBe('active');
  }, GUEST_TEST_MS);
});
