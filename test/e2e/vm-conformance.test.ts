import { afterAll, describe, expect, it } from 'vitest';
import { VsockShellSession } from '@conch/shell-client';
import { defineConformanceSuite } from '../conformance/suite.js';
import { sharedVm, vmUnavailableReason } from './vm.js';

const unavailable = vmUnavailableReason();
if (unavailable && process.env.CI) throw new Error(`the real-VM suite must run in CI, but ${unavailable}`);
if (unavailable) console.warn(`e2e: skipping the real-VM suite: ${unavailable}`);

describe.skipIf(unavailable !== undefined)('conchd in a real VM (QEMU, Debian cloud kernel, tini as PID 1)', () => {
  afterAll(async () => {
    await (await sharedVm()).stop();
  });

  // One virtio-serial port is one byte stream: every session rides on one connection.
  defineConformanceSuite('VsockShellSession → virtio-serial → conchd in the guest', async () => {
    const vm = await sharedVm();
    const root = new VsockShellSession(vm.endpoints.virtioSerial);
    expect((await root.connect()).state).toBe('ready');
    return {
      open: async () => {
        const s = root.fork();
        await s.connect();
        return s;
      },
      // Under TCG every spawn costs tens of milliseconds; the full 200-run check runs on the host backends.
      tailLossRuns: 25,
      teardown: () => root.close(),
    };
  });

  // Firecracker-style hybrid vsock: the host socket's CONNECT is bridged into the guest, where it
  // reaches conchd's AF_VSOCK listener over vsock loopback. One connection per session.
  defineConformanceSuite('VsockShellSession → hybrid-vsock → conchd on vsock:1024 in the guest', async () => {
    const vm = await sharedVm();
    return {
      open: async () => {
        const s = new VsockShellSession(vm.endpoints.hybridVsock, { connectTimeoutMs: 20_000 });
        const status = await s.connect();
        // The reason and message say which hop failed: host bridge, guest bridge or daemon.
        expect(status.state, JSON.stringify(status)).toBe('ready');
        return s;
      },
      tailLossRuns: 25,
    };
  });

  describe('vsock in the guest', () => {
    it("passes node-vsock's own checks: loopback accept/connect, 10 MB echo, backpressure, half-close, errors", async () => {
      const vm = await sharedVm();
      const s = new VsockShellSession(vm.endpoints.virtioSerial);
      try {
        const r = await s.exec('CONCH_VSOCK_ADDON=/opt/conch/lib/native/vsock.node node /opt/conch/lib/test/vsock-guest-test.mjs', { timeoutMs: 120_000 });
        expect(r.stdout, r.stderr).toMatch(/\n(\d+)\/\1 passed\n$/);
        expect(r.exitCode).toBe(0);
      } finally {
        // The port carries one connection at a time: never leave it held by a failed test.
        await s.close();
      }
    });

    it('refuses a guest-local vsock peer that is not allowed, and logs why', async () => {
      const vm = await sharedVm();
      const s = new VsockShellSession(vm.endpoints.virtioSerial);
      // A second daemon with the default peer policy (host only), as a production image runs it.
      const daemon = await s.spawn('exec /opt/conch/bin/conchd --listen vsock:1025 2>/tmp/conchd-1025.log');
      try {
        let attempt = { stdout: '', stderr: '', exitCode: -1 as number | null };
        for (let i = 0; i < 40; i++) {
          attempt = await s.exec('/opt/conch/bin/conch --connect vsock:1:1025 exec -- touch /tmp/attacker-was-here');
          if (!attempt.stderr.includes('connection refused')) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        expect(attempt.exitCode).toBe(69);
        expect(attempt.stderr).toMatch(/unavailable \(connect-refused\)/);
        expect((await s.exec('test -e /tmp/attacker-was-here && echo ran || echo refused')).stdout).toBe('refused\n');
        const log = (await s.exec('cat /tmp/conchd-1025.log')).stdout;
        expect(log).toContain('"msg":"peer rejected"');
        expect(log).toContain('vsock peer CID 1 is not allowed');
      } finally {
        await daemon.kill('SIGTERM').catch(() => {});
        await s.close();
      }
    });
  });

  describe('guest-only behaviour', () => {
    it('runs conchd under tini, not as PID 1', async () => {
      const vm = await sharedVm();
      const s = new VsockShellSession(vm.endpoints.virtioSerial);
      const r = await s.exec('cat /proc/1/comm; cat /proc/$PPID/comm');
      expect(r.stdout).toBe('tini\nnode\n');
      await s.close();
    });

    it('reaps orphaned processes: no zombies accumulate', async () => {
      const vm = await sharedVm();
      const s = new VsockShellSession(vm.endpoints.virtioSerial);
      // Each command leaves a background child that outlives it and then exits as an orphan.
      for (let i = 0; i < 20; i++) await s.exec('(sleep 0.05; exit 0) & exit 0');
      await new Promise((r) => setTimeout(r, 1500));
      const zombies = await s.exec("grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l");
      expect(zombies.stdout.trim()).toBe('0');
      await s.close();
    });

    it('restarts conchd after a crash, as a new instance', async () => {
      const vm = await sharedVm();
      const before = new VsockShellSession(vm.endpoints.virtioSerial, { keepaliveMs: 500 });
      await before.connect();
      const oldInstance = before.daemon!.instanceId;
      const h = await before.spawn('sleep 0.5; kill -9 $PPID; sleep 30');
      await expect(h.wait()).rejects.toMatchObject({ code: 'COMMAND_LOST' });
      await before.close();
      let after: VsockShellSession | undefined;
      for (let i = 0; i < 60; i++) {
        after = new VsockShellSession(vm.endpoints.virtioSerial, { connectTimeoutMs: 3000 });
        if ((await after.connect()).state === 'ready') break;
        await after.close();
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(after!.status.state).toBe('ready');
      expect(after!.daemon!.instanceId).not.toBe(oldInstance);
      expect((await after!.exec(['echo', 'back'])).stdout).toBe('back\n');
      await after!.close();
      expect(vm.console()).toContain('supervise: conchd exited with status 137; restarting');
    });
  });
});
