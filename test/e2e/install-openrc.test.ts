import { describe, expect, it } from 'vitest';
import { VsockShellSession } from '@conch/shell-client';
import { followOutput } from '../helpers/follow-output.js';
import { guestSession } from './guest-session.js';
import { bootInstalledImage, GUEST_TEST_MS, installedImageUnavailable } from './installed-image.js';

// install.sh as a user of an OpenRC image runs it: the image builder's 'openrc' variant is a
// minimal Debian with sysvinit's init and OpenRC (mmdebstrap), where conchd comes only from
// `install.sh ROOTFS --init openrc`. Only booting it shows the script's dependencies resolve,
// that supervise-daemon runs conchd itself, and that it respawns it.
const unavailable = installedImageUnavailable('openrc');

describe.skipIf(unavailable !== undefined)('install.sh --init openrc into a minimal Debian with OpenRC, booted', () => {
  const image = bootInstalledImage('openrc', 'OpenRC');

  /** Waits for a conchd other than `oldInstance` to answer, as init brings it back. */
  async function nextInstance(oldInstance: string): Promise<VsockShellSession> {
    for (let i = 0; i < 240; i++) {
      const after = guestSession(image.endpoint, { connectTimeoutMs: 3000 });
      if ((await after.connect()).state === 'ready' && after.daemon!.instanceId !== oldInstance) return after;
      await after.close();
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error('conchd did not come back');
  }

  it('runs conchd as the service install.sh added to sysinit, supervised by supervise-daemon, with no service failed', async () => {
    // The command's shell is conchd's child, so $PPID is conchd, and its parent the supervisor.
    const out = await image.inGuest(
      // (The supervisor by its argv: comm stops at 15 characters, "supervise-daemo".)
      'cat /proc/1/comm; tr "\\0" " " < /proc/$(cut -d" " -f4 /proc/$PPID/stat)/cmdline; echo; tr "\\0" " " < /proc/$PPID/cmdline; echo; ' +
        'rc-service conchd status; rc-update show sysinit | grep -c "conchd | sysinit"; rc-status --crashed | wc -l',
    );
    const [pid1, supervisor, cmdline, status, inSysinit, crashed] = out.trimEnd().split('\n');
    expect(pid1).toBe('init');
    expect(supervisor).toMatch(/^(\S*\/)?supervise-daemon conchd /);
    // conchd-service exec'd it: the supervised process is conchd itself, not a shell.
    expect(cmdline).toMatch(/^\S*node \S*\/opt\/conch\/.*--listen virtio-serial:org\.conch\.0 /);
    expect(status).toMatch(/status: started/);
    expect(inSysinit).toBe('1');
    expect(crashed).toBe('0');
  }, GUEST_TEST_MS);

  it('protects conchd from the OOM killer and logs where the script says', async () => {
    const out = await image.inGuest('cat /proc/$PPID/oom_score_adj; grep -c \'"msg":"ready"\' /var/log/conchd.log');
    expect(out).toMatch(/^-1000\n[1-9]\d*\n$/);
  }, GUEST_TEST_MS);

  it('serves PTY commands and interactive sessions from the installed bundle', async () => {
    const s = guestSession(image.endpoint);
    try {
      expect((await s.exec('tty', { pty: { cols: 80, rows: 24 } })).stdout).toMatch(/^\/dev\/pts\/\d+\r\n$/);
      await s.connect();
      const { session, handle } = await s.forkTerminal({ pty: { cols: 80, rows: 24 }, argv: ['sh', '-c', 'tty; exit 9'] });
      const out = followOutput(handle);
      expect((await handle.wait()).exitCode).toBe(9);
      expect(await out.done).toMatch(/^\/dev\/pts\/\d+\r\n$/);
      await session.close();
    } finally {
      await s.close();
    }
  }, GUEST_TEST_MS);

  it('is respawned by supervise-daemon after kill -9, as a new instance, and again after a burst of kills', async () => {
    const before = guestSession(image.endpoint, { keepaliveMs: 500 });
    await before.connect();
    let instance = before.daemon!.instanceId;
    const h = await before.spawn('sleep 0.5; kill -9 $PPID; sleep 30');
    await expect(h.wait()).rejects.toMatchObject({ code: 'COMMAND_LOST' });
    await before.close();
    const after = await nextInstance(instance);
    instance = after.daemon!.instanceId;
    let respawns = 0;
    expect((await after.exec('rc-service conchd status')).stdout).toMatch(/status: started/);
    // Five kills in a row, each of the conchd that came back: respawn_max=0 sets no limit.
    // ([o] and [n] so that the pattern does not match the shell that carries it.)
    const find = 'pgrep -f "[o]pt/conch/.*--liste[n] virtio-serial" | grep -vx "$last" | head -n1';
    const script = `last=none; for i in 1 2 3 4 5; do p=$(${find}); while [ -z "$p" ]; do sleep 0.1; p=$(${find}); done; kill -9 $p; last=$p; done`;
    // Not conchd's child, so that the burst outlives the first kill.
    await after.exec(`setsid sh -c '${script}' >/dev/null 2>&1 < /dev/null &`).catch(() => {});
    await after.close();
    let out = '';
    for (const deadline = Date.now() + 90_000; Date.now() < deadline && !/status: started\n0\n$/.test(out); ) {
      await new Promise((r) => setTimeout(r, 500));
      const s = guestSession(image.endpoint, { connectTimeoutMs: 3000 });
      try {
        if ((await s.connect()).state === 'ready') {
          out = (await s.exec('rc-service conchd status; pgrep -fc "^sh -c last=" || true')).stdout;
          if (s.daemon!.instanceId !== instance) respawns++;
          instance = s.daemon!.instanceId;
        }
      } catch {
        // Killed mid-command by the burst: ask again.
      } finally {
        await s.close();
      }
    }
    expect(respawns).toBeGreaterThanOrEqual(1);
    expect(out).toMatch(/status: started\n0\n$/);
  }, GUEST_TEST_MS);
});
