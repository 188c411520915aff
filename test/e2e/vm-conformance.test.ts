import { createConnection } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, type ClientMessage, type DaemonMessage } from '@conch/protocol';
import { VsockShellSession, type ShellSession } from '@conch/shell-client';
import { scanForReply } from '../../packages/shell-client/src/handshake-reply.js';
import { defineConformanceSuite } from '../conformance/suite.js';
import { guestSession } from './guest-session.js';
import { sharedVm, vmUnavailableReason } from './vm.js';

const unavailable = vmUnavailableReason();
if (unavailable && process.env.CI) throw new Error(`the real-VM suite must run in CI, but ${unavailable}`);
if (unavailable) console.warn(`e2e: skipping the real-VM suite: ${unavailable}`);

/**
 * Per-test bounds. A test that hangs fails on its own with vitest's "timed out" message; the
 * sessions it opened are closed after it (guestSession, and the conformance suite's afterEach),
 * so the guest's one virtio-serial connection is free for the next test. The slowest test (PTY
 * tail loss, 25 runs per size under TCG) takes about a minute on a quiet machine.
 */
const CONFORMANCE_TEST_MS = 300_000;
const GUEST_TEST_MS = 120_000;

const NOBODY = { uid: 65534, gid: 65534, cwd: '/tmp' } as const;

describe.skipIf(unavailable !== undefined)('conchd in a real VM (QEMU, Debian cloud kernel, tini as PID 1)', () => {
  afterAll(async () => {
    await (await sharedVm()).stop();
  });

  // One virtio-serial port is one byte stream: every session rides on one connection.
  defineConformanceSuite(
    'VsockShellSession → virtio-serial → conchd in the guest',
    async () => {
      const vm = await sharedVm();
      const root = new VsockShellSession(vm.endpoints.virtioSerial);
      expect((await root.connect()).state).toBe('ready');
      return {
        open: async () => {
          const s = root.fork();
          await s.connect();
          return s;
        },
        openTerminal: (terminal, options) => root.forkTerminal(terminal, options),
        // Under TCG every spawn costs tens of milliseconds; the full 200-run check runs on the host backends.
        tailLossRuns: 25,
        teardown: () => root.close(),
      };
    },
    // The reference image mounts cgroup2: a kill there must reach what left the group.
    { testTimeoutMs: CONFORMANCE_TEST_MS, requireCgroups: true },
  );

  // Firecracker-style hybrid vsock: the host socket's CONNECT is bridged into the guest, where it
  // reaches conchd's AF_VSOCK listener over vsock loopback. One connection per session.
  defineConformanceSuite(
    'VsockShellSession → hybrid-vsock → conchd on vsock:1024 in the guest',
    async () => {
      const vm = await sharedVm();
      return {
        open: async () => {
          const s = new VsockShellSession(vm.endpoints.hybridVsock, { connectTimeoutMs: 20_000 });
          const status = await s.connect();
          // The reason and message say which hop failed: host bridge, guest bridge or daemon; the
          // guest console (conchd's log, and supervise's line if it died) says what the daemon saw.
          if (status.state !== 'ready') {
            expect.fail(`${JSON.stringify(status)}\nguest console (conchd's log) ends:\n${vm.console().slice(-3000)}`);
          }
          return s;
        },
        openTerminal: (terminal, options) => VsockShellSession.openTerminal(vm.endpoints.hybridVsock, terminal, { ...options, connectTimeoutMs: 20_000 }),
        tailLossRuns: 25,
      };
    },
    // The reference image mounts cgroup2: a kill there must reach what left the group.
    { testTimeoutMs: CONFORMANCE_TEST_MS, requireCgroups: true },
  );

  describe('vsock in the guest', () => {
    it("passes node-vsock's own checks: loopback accept/connect, 10 MB echo, backpressure, half-close, errors", async () => {
      const vm = await sharedVm();
      const s = guestSession(vm.endpoints.virtioSerial);
      const r = await s.exec('CONCH_VSOCK_ADDON=/opt/conch/lib/native/vsock.node node /opt/conch/lib/test/vsock-guest-test.mjs', { timeoutMs: 100_000 });
      expect(r.stdout, r.stderr).toMatch(/\n(\d+)\/\1 passed\n$/);
      expect(r.exitCode).toBe(0);
    }, GUEST_TEST_MS);
  });

  /**
   * The guest-local attacker: an unprivileged process inside the VM (uid 65534, started by the
   * host through the guest's conchd, as a workload would be) against daemons configured as a
   * production image runs them. A: vsock:1025 with the default peer policy (host only) and a
   * Unix socket in a world-traversable directory. B: vsock:1026 with --allow-cid 1, so that the
   * peer check lets guest-local processes through and only the token stands in the way. (The
   * reference image's own vsock:1024 allows CID 1 for its hybrid-vsock test bridge; see
   * guest-image/rootfs/conchd.env and SECURITY.md.) Every attempt must be refused, run nothing,
   * and, where conchd gets to see it, be logged; the kernel refuses the Unix socket and the
   * port device by file mode before conchd sees anything, so those are checked by errno.
   */
  describe('vsock:CID:PORT in the guest', () => {
    it('conchd binds the local CID it is given (1: loopback only), and refuses one that is not local', async () => {
      const vm = await sharedVm();
      const s = guestSession(vm.endpoints.virtioSerial);
      const log = '/tmp/conchd-cid.log';
      await s.spawn(`exec /opt/conch/bin/conchd --listen vsock:1:1031 --allow-cid 1 --log-level info 2>${log}`);
      for (let i = 0; !(await s.exec(`grep -c '"msg":"listening"' ${log} || true`)).stdout.startsWith('1'); i++) {
        if (i > 120) throw new Error(`conchd on vsock:1:1031 did not come up: ${(await s.exec(`cat ${log}`)).stdout}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(await s.exec(`grep -o '"endpoint":"[^"]*"' ${log}`)).toMatchObject({ stdout: '"endpoint":"vsock:1:1031"\n' });
      const served = await s.exec('/opt/conch/bin/conch --connect vsock:1:1031 exec -- echo served');
      expect(served).toMatchObject({ exitCode: 0, stdout: 'served\n' });
      const refused = await s.exec('/opt/conch/bin/conchd --listen vsock:77:1032 2>&1');
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stdout).toContain('cannot listen on vsock:77:1032');
    }, GUEST_TEST_MS);
  });

  describe('the guest-local attacker (uid 65534 inside the VM)', () => {
    const DIR = '/run/conch-attack';
    let root: VsockShellSession;
    const forks: ShellSession[] = [];
    const session = async () => {
      const s = root.fork();
      forks.push(s);
      await s.connect();
      return s;
    };
    const log = async (name: 'a' | 'b') => (await (await session()).exec(`cat ${DIR}/${name}.log`)).stdout;
    const attempt = async (command: string) => (await session()).exec(command, NOBODY);
    /** Runs the conch CLI as the attacker and expects it refused: exit 69 (unavailable), for `reason`. */
    const expectRefused = async (command: string, reason: RegExp) => {
      const r = await attempt(command);
      expect(r.exitCode, r.stderr).toBe(69);
      expect(r.stderr).toMatch(reason);
    };
    const ranNothing = async () => expect((await (await session()).exec('ls /tmp | grep -c "^attacker-" || true')).stdout).toBe('0\n');

    beforeAll(async () => {
      const vm = await sharedVm();
      root = new VsockShellSession(vm.endpoints.virtioSerial);
      // The daemons under attack live in this session, which lasts for the whole describe.
      const s = root.fork();
      await s.connect();
      await s.exec(
        `rm -rf ${DIR} /tmp/attacker-*; mkdir -p ${DIR} && chmod 755 ${DIR} && ` +
          `head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > ${DIR}/token && chmod 600 ${DIR}/token`,
      );
      await s.spawn(`exec /opt/conch/bin/conchd --listen vsock:1025 --listen unix:${DIR}/conchd.sock --log-level info 2>${DIR}/a.log`);
      await s.spawn(`exec /opt/conch/bin/conchd --listen vsock:1026 --allow-cid 1 --token-file ${DIR}/token --log-level info 2>${DIR}/b.log`);
      // Ready means each daemon logged all its listeners, not that some time has passed.
      for (let i = 0; ; i++) {
        const listening = (await s.exec(`grep -c '"msg":"listening"' ${DIR}/a.log ${DIR}/b.log || true`)).stdout;
        if (listening.includes('a.log:2') && listening.includes('b.log:1')) break;
        if (i > 120) throw new Error(`the attacked daemons did not come up: ${listening}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }, GUEST_TEST_MS);
    afterEach(async () => {
      await Promise.all(forks.splice(0).map((s) => s.close()));
    });
    afterAll(async () => {
      // Killing the session that started them ends both daemons (SIGTERM to their groups).
      await root?.close();
    });

    it('vsock loopback: refused by the peer check (CID 1 is not the host), runs nothing, and is logged', async () => {
      await expectRefused('/opt/conch/bin/conch --connect vsock:1:1025 exec -- touch /tmp/attacker-vsock', /unavailable \(connect-refused\)/);
      await ranNothing();
      const a = await log('a');
      expect(a).toContain('"msg":"peer rejected"');
      expect(a).toContain('vsock peer CID 1 is not allowed');
    }, GUEST_TEST_MS);

    it('the Unix socket: EACCES from the kernel (mode 0600, root-owned), so conchd never sees a connection', async () => {
      expect((await (await session()).exec(`stat -c '%a %U' ${DIR}/conchd.sock`)).stdout).toBe('600 root\n');
      const direct = await attempt(
        `node -e "require('net').createConnection('${DIR}/conchd.sock').on('connect', () => { console.log('connected'); process.exit(0) }).on('error', (e) => console.log(e.code))"`,
      );
      expect(direct.stdout).toBe('EACCES\n');
      await expectRefused(`/opt/conch/bin/conch --connect unix:${DIR}/conchd.sock exec -- touch /tmp/attacker-unix`, /unavailable \(connect-refused\).*EACCES/);
      await ranNothing();
      expect(await log('a')).not.toContain('"msg":"client connected"');
    }, GUEST_TEST_MS);

    it('the virtio-serial port device: EACCES for the workload, and EBUSY even for root while conchd holds it', async () => {
      const s = await session();
      const device = (await s.exec('for d in /sys/class/virtio-ports/*; do [ "$(cat $d/name)" = org.conch.0 ] && echo /dev/${d##*/}; done')).stdout.trim();
      expect(device).toMatch(/^\/dev\/vport\d+p\d+$/);
      expect((await s.exec(`stat -c '%a %U' ${device}`)).stdout).toBe('600 root\n');
      const open = `node -e "try { require('fs').openSync('${device}', 'r+'); console.log('opened') } catch (e) { console.log(e.code) }"`;
      expect((await attempt(open)).stdout).toBe('EACCES\n');
      expect((await s.exec(open)).stdout).toBe('EBUSY\n');
      // The host's session on that port is untouched.
      expect((await s.exec(['echo', 'still ours'])).stdout).toBe('still ours\n');
    }, GUEST_TEST_MS);

    it('a wrong token, or none: AUTH_FAILED, runs nothing, and is logged; the token file is root-only', async () => {
      expect((await attempt(`cat ${DIR}/token`)).stderr).toContain('Permission denied');
      await expectRefused(
        `printf guess > /tmp/guess && /opt/conch/bin/conch --connect vsock:1:1026 --token-file /tmp/guess exec -- touch /tmp/attacker-token`,
        /unavailable \(auth-failed\)/,
      );
      await expectRefused('/opt/conch/bin/conch --connect vsock:1:1026 exec -- touch /tmp/attacker-notoken', /unavailable \(auth-failed\)/);
      await ranNothing();
      const b = await log('b');
      expect(b).toContain('"reason":"wrong token"');
      expect(b).toContain('"reason":"no token"');
      expect(b).not.toContain('"msg":"client connected"');
      // The control: the same daemon serves the holder of the token, so the refusals above were the token's doing.
      const right = await (await session()).exec(`/opt/conch/bin/conch --connect vsock:1:1026 --token-file ${DIR}/token exec -- echo served`);
      expect(right.stdout, right.stderr).toBe('served\n');
    }, GUEST_TEST_MS);
  });

  describe('virtio-serial in the guest', () => {
    it('a conchd that cannot open its port says why once, not at every retry, and serves its other endpoints: EBUSY while another holds it; no node in /dev; no such port yet', async () => {
      const vm = await sharedVm();
      const s = guestSession(vm.endpoints.virtioSerial);
      const run = async (name: string, command: (conchd: string) => string, port = 'org.conch.0') => {
        const conchd = `/opt/conch/bin/conchd --listen virtio-serial:${port} --listen unix:/tmp/${name}.sock --log-level info 2>/tmp/${name}.log`;
        const h = await s.spawn(command(conchd));
        for (let i = 0; !(await s.exec(`grep -c '"msg":"ready"' /tmp/${name}.log || true`)).stdout.startsWith('1'); i++) {
          if (i > 120) throw new Error(`the second conchd did not come up: ${(await s.exec(`cat /tmp/${name}.log`)).stdout}`);
          await new Promise((r) => setTimeout(r, 250));
        }
        // About ten retries (one every 250 ms), and the Unix socket answers meanwhile. (A handshake,
        // not a command: with an empty /dev of its own, that conchd has no /dev/null to give one.)
        await new Promise((r) => setTimeout(r, 2500));
        const status = await s.exec(`/opt/conch/bin/conch --connect unix:/tmp/${name}.sock status`);
        expect(status.exitCode, status.stdout + status.stderr).toBe(0);
        await h.kill('SIGKILL');
        await h.wait();
        return (await s.exec(`cat /tmp/${name}.log`)).stdout.split('\n').filter((line) => line.includes('"msg":"listener error; retrying"'));
      };
      const busy = await run('busy-port', (conchd) => `exec ${conchd}`);
      expect(busy).toHaveLength(1);
      expect(busy[0]).toContain('EBUSY');
      // A /dev of its own, empty: the kernel still lists the port in sysfs.
      const bare = await run('no-node', (conchd) => `exec unshare -m sh -c 'mount -t tmpfs tmpfs /dev && exec ${conchd}'`);
      expect(bare).toHaveLength(1);
      expect(bare[0]).toMatch(/ENOENT.*the kernel has the port \(\/sys\/class\/virtio-ports\/vport\d+p\d+\) but \/dev has no node for it; mount devtmpfs on \/dev/);
      // A port that is not there (yet: virtio_console may load after conchd starts) is looked for
      // again at each retry, rather than failing conchd at startup.
      const missing = await run('no-port', (conchd) => `exec ${conchd}`, 'org.conch.missing');
      expect(missing).toHaveLength(1);
      expect(missing[0]).toContain('no virtio-serial port named \\"org.conch.missing\\"');
    }, GUEST_TEST_MS);

    it('a host connection that drops mid-stream leaves nothing that trips the next one', async () => {
      // QEMU keeps output it took from the guest for a host that then left and hands it to the
      // next host to connect (see packages/shell-client/src/handshake-reply.ts). Each round
      // leaves some: a raw client streams `yes` with a huge window, stops reading, and vanishes.
      const vm = await sharedVm();
      const path = vm.endpoints.virtioSerial.slice('unix:'.length);
      for (let round = 0; round < 5; round++) {
        await dropMidStream(path).catch((err: Error) => {
          throw new Error(`round ${round}: ${err.message}\nguest console (conchd's log) ends:\n${vm.console().slice(-3000)}`);
        });
        const next = guestSession(vm.endpoints.virtioSerial, { connectTimeoutMs: 20_000 });
        const status = await next.connect();
        expect(status.state, `round ${round}: ${JSON.stringify(status)}`).toBe('ready');
        expect((await next.exec(['echo', `round ${round}`])).stdout).toBe(`round ${round}\n`);
        await next.close();
      }
    }, GUEST_TEST_MS);
  });

  describe('guest-only behaviour', () => {
    it('runs conchd under tini, not as PID 1', async () => {
      const vm = await sharedVm();
      const s = guestSession(vm.endpoints.virtioSerial);
      const r = await s.exec('cat /proc/1/comm; cat /proc/$PPID/comm');
      expect(r.stdout).toBe('tini\nnode\n');
    }, GUEST_TEST_MS);

    it('reaps orphaned processes: no zombies accumulate', async () => {
      const vm = await sharedVm();
      const s = guestSession(vm.endpoints.virtioSerial);
      // Each command leaves a background child that outlives it and then exits as an orphan.
      for (let i = 0; i < 20; i++) await s.exec('(sleep 0.05; exit 0) & exit 0');
      await new Promise((r) => setTimeout(r, 1500));
      const zombies = await s.exec("grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l");
      expect(zombies.stdout.trim()).toBe('0');
    }, GUEST_TEST_MS);

    it("a uid alone runs as that guest user: the guest's passwd group and /etc/group groups, as the files say now", async () => {
      const vm = await sharedVm();
      const s = guestSession(vm.endpoints.virtioSerial);
      // Added while conchd runs, as a root command in the guest (useradd) would: read afresh.
      await s.exec(
        "cp /etc/passwd /tmp/passwd.orig && cp /etc/group /tmp/group.orig && echo 'agent:x:1000:1000::/tmp:/bin/sh' >> /etc/passwd && " +
          "printf 'agent:x:1000:\\nkvm:x:78:other,agent\\ndocker:x:79:agent\\nstaff:x:50:agentx\\n' >> /etc/group",
        { reject: true },
      );
      try {
        const ids = 'id -u; id -g; grep ^Groups: /proc/self/status';
        expect((await s.exec(['sh', '-c', ids], { uid: 1000, cwd: '/tmp' })).stdout).toBe('1000\n1000\nGroups:\t78 79 1000 \n');
        const pty = await s.exec(['sh', '-c', ids], { uid: 1000, cwd: '/tmp', pty: { cols: 80, rows: 24 } });
        expect(pty.stdout).toBe('1000\r\n1000\r\nGroups:\t78 79 1000 \r\n');
        // The login variables are the user's (HOME from its entry), not root's.
        expect((await s.exec('echo "$HOME|$USER|$LOGNAME"', { uid: 1000, cwd: '/tmp' })).stdout).toBe('/tmp|agent|agent\n');
        // Given both ids, exactly those, and no supplementary groups.
        expect((await s.exec(['sh', '-c', ids], { uid: 1000, gid: 1000, cwd: '/tmp' })).stdout).toBe('1000\n1000\nGroups:\t \n');
      } finally {
        await s.exec('cp /tmp/passwd.orig /etc/passwd && cp /tmp/group.orig /etc/group', { reject: true });
      }
      await expect(s.exec(['id'], { uid: 1000, cwd: '/tmp' })).rejects.toMatchObject({ code: 'SPAWN_FAILED' });
    }, GUEST_TEST_MS);

    it('restarts conchd after a crash, as a new instance', async () => {
      const vm = await sharedVm();
      const before = guestSession(vm.endpoints.virtioSerial, { keepaliveMs: 500 });
      await before.connect();
      const oldInstance = before.daemon!.instanceId;
      const h = await before.spawn('sleep 0.5; kill -9 $PPID; sleep 317');
      await expect(h.wait()).rejects.toMatchObject({ code: 'COMMAND_LOST' });
      await before.close();
      let after: VsockShellSession | undefined;
      for (let i = 0; i < 60; i++) {
        after = guestSession(vm.endpoints.virtioSerial, { connectTimeoutMs: 3000 });
        if ((await after.connect()).state === 'ready') break;
        await after.close();
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(after!.status.state).toBe('ready');
      expect(after!.daemon!.instanceId).not.toBe(oldInstance);
      expect((await after!.exec(['echo', 'back'])).stdout).toBe('back\n');
      expect(vm.console()).toContain('supervise: conchd exited with status 137; restarting');
      // The dead instance's command ran on after it (reported lost); the new one killed it when it started.
      const left = await after!.exec("for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -qx 'sleep 317 ' && echo $p; done; true");
      expect(left.stdout).toBe('');
    }, GUEST_TEST_MS);
  });
});

/**
 * A raw client on the virtio-serial chardev socket: handshakes, streams `yes` with a 1 GiB
 * window so the daemon writes as fast as the port takes it, stops reading so that QEMU and the
 * guest queue output for it, and then vanishes without a word. Its own first bytes may be an
 * earlier round's leftovers, so it finds each reply by scanning, as the client's handshake does.
 */
async function dropMidStream(path: string): Promise<void> {
  const socket = createConnection(path);
  socket.on('error', () => {});
  let received = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  const send = (m: ClientMessage) => socket.write(encodeFrame(m));
  const waitFor = async (wanted: (m: DaemonMessage) => boolean, what: string, resend?: () => void) => {
    for (let i = 0; i < 400; i++) {
      const scan = scanForReply(received, 1 << 20, wanted);
      if (scan.found) return scan.found;
      if (resend && i % 10 === 0) resend();
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`raw client: no ${what} within 20 s`);
  };
  try {
    const nonce = Math.floor(Math.random() * 1e9);
    await waitFor((m) => m.type === 'Welcome' && m.nonce === nonce, 'Welcome', () =>
      send({ type: 'Hello', minVersion: 1, maxVersion: 1, nonce, maxFrameBytes: 1 << 20, capabilities: [], client: 'drop-mid-stream' }),
    );
    send({ type: 'SpawnSession', id: 1, onDisconnect: { policy: 'kill' } });
    const spawned = await waitFor((m) => m.type === 'SessionSpawned' && m.id === 1, 'SessionSpawned');
    if (spawned.type !== 'SessionSpawned') throw new Error('unreachable');
    send({ type: 'ExecCommand', id: 2, session: spawned.session, argv: ['yes', 'conch'], window: 1 << 30 });
    const started = await waitFor((m) => m.type === 'CommandStarted' && m.id === 2, 'CommandStarted');
    if (started.type !== 'CommandStarted') throw new Error('unreachable');
    await waitFor((m) => m.type === 'StreamOutput' && m.command === started.command, 'StreamOutput');
    socket.pause();
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    // Also when a step above fails: a socket left open would hold the chardev for every later test.
    socket.destroy();
  }
}
