import { createConnection } from 'node:net';
import { VsockShellSession } from '@conch/shell-client';
import { row, unavailableRow } from '../lib/row.mjs';
import { runUntilClose } from '../lib/run-child.mjs';
import { startFrameServer } from '../lib/start-frame-server.mjs';
import { interleave, summarize, timed } from '../lib/stats.mjs';

/** Rounds of conch, the raw spawn and the relay between the early and the steady-state runs. */
const WARMUP_EXECS = 5000;

/**
 * Round trip of `/bin/true`: conch exec on a warm connection, raw Node spawn until close, and
 * OpenSSH multiplexed through a ControlMaster, interleaved. Beside them, the floor for any
 * daemon written in Node: a bare relay in another Node process that posix_spawns `/bin/true`
 * through our addon on one byte from a Unix socket and answers with one byte once the child
 * has exited and its pipes have closed. No protocol, sessions, flow control or SDK: what is
 * left of conch's time above it is conch's own.
 *
 * Measured twice. First early in life: a fresh conchd and client after 20 warm-up rounds, as an
 * agent's first commands in a new VM meet it. Then in steady state, after WARMUP_EXECS more
 * rounds of every Node-side contender: V8 optimizes a function only after it has run some
 * 200 KB of bytecode (--interrupt-budget × --ticks-before-optimization), and code that runs
 * once per exec gets there after about a thousand execs, so the first few hundred run in the
 * baseline tiers, on both sides of conch's socket (bench/README.md). The targets are judged in
 * steady state, as for any JIT-compiled peer; the early rows say what comes before it.
 */
export async function benchExec({ startDaemon, sshd, scale }) {
  // A conchd of its own: the warm-up leaves thousands of exit records behind, which the cases
  // after this one would otherwise run with (stream measures that on purpose, apart).
  const daemon = await startDaemon();
  const session = new VsockShellSession(daemon.endpoint);
  const relayServer = await startFrameServer('conch-bench-relay-');
  const relay = createConnection(relayServer.path('spawn-echo'));
  const relayConnected = new Promise((resolve, reject) => relay.once('connect', resolve).once('error', reject));
  const iterations = Math.round(400 * scale);
  const warmup = Math.round(WARMUP_EXECS * scale);
  let early;
  let s;
  try {
    await session.connect();
    await relayConnected;
    const contenders = {
      conch: () => timed(() => session.exec(['/bin/true'])),
      raw: () => timed(() => runUntilClose(['/bin/true'])),
      relay: () => timed(() => new Promise((resolve) => {
        relay.once('data', resolve);
        relay.write('x');
      })),
    };
    if (sshd.available) {
      const argv = sshd.argv('true');
      contenders.ssh = () => timed(() => runUntilClose(argv));
    }
    early = await interleave(iterations, contenders, { warmup: 20 });
    // ssh sits the warm-up out: nothing on its side is JIT-compiled, and it would take 12 ms a round.
    const { ssh: _ssh, ...jitted } = contenders;
    await interleave(warmup, jitted);
    s = await interleave(iterations, contenders, { seed: 2 });
  } finally {
    await session.close();
    relay.destroy();
    relayServer.stop();
    await daemon.stop();
  }
  const title = 'exec `/bin/true` round trip';
  const relayVsSsh = (r) => (sshd.available ? `; the relay is ${(summarize(r.relay).median / summarize(r.ssh).median).toFixed(3)}× ssh` : '');
  const earlyTitle = `${title}, early (a fresh conchd and client, 20 warm-up rounds)`;
  // Every Node-side contender has run the early rounds as well by then; ssh only those.
  const warmed = `after ${20 + iterations + warmup} rounds of conch, the raw spawn and the relay`;
  return [
    row({ id: 'exec.raw', title: `${title} vs Node spawn`, unit: 'ms', conch: s.conch, floorName: 'Node spawn until close', floor: s.raw, target: { op: '<=', value: 1.1 }, note: `steady state: ${warmed}` }),
    sshd.available
      ? row({ id: 'exec.ssh', title: `${title} vs OpenSSH`, unit: 'ms', conch: s.conch, floorName: 'ssh ControlMaster `true`', floor: s.ssh, target: { op: '<=', value: 0.15 }, note: `steady state: ${warmed}` })
      : unavailableRow({ id: 'exec.ssh', title: `${title} vs OpenSSH`, unit: 'ms', conch: s.conch, floorName: 'ssh ControlMaster `true`', target: { op: '<=', value: 0.15 }, why: sshd.why }),
    row({
      id: 'exec.relay', title: `${title} vs the Node floor`, unit: 'ms', conch: s.conch,
      floorName: 'bare Node relay: posix_spawn on 1 byte, 1 byte back', floor: s.relay,
      note: `what a daemon in Node costs at least${relayVsSsh(s)}`,
    }),
    row({ id: 'exec.early.raw', title: `${earlyTitle} vs Node spawn`, unit: 'ms', conch: early.conch, floorName: 'Node spawn until close', floor: early.raw }),
    sshd.available
      ? row({ id: 'exec.early.ssh', title: `${earlyTitle} vs OpenSSH`, unit: 'ms', conch: early.conch, floorName: 'ssh ControlMaster `true`', floor: early.ssh })
      : unavailableRow({ id: 'exec.early.ssh', title: `${earlyTitle} vs OpenSSH`, unit: 'ms', conch: early.conch, floorName: 'ssh ControlMaster `true`', why: sshd.why }),
    row({
      id: 'exec.early.relay', title: `${earlyTitle} vs the Node floor`, unit: 'ms', conch: early.conch,
      floorName: 'bare Node relay: posix_spawn on 1 byte, 1 byte back', floor: early.relay,
      note: `before V8 has optimized either side's per-exec code${relayVsSsh(early)}`,
    }),
  ];
}
