import { createConnection } from 'node:net';
import { VsockShellSession } from '@conch/shell-client';
import { row, unavailableRow } from '../lib/row.mjs';
import { runUntilClose } from '../lib/run-child.mjs';
import { startFrameServer } from '../lib/start-frame-server.mjs';
import { interleave, summarize, timed } from '../lib/stats.mjs';

/**
 * Round trip of `/bin/true`: conch exec on a warm connection, raw Node spawn until close, and
 * OpenSSH multiplexed through a ControlMaster, interleaved. Beside them, the floor for any
 * daemon written in Node: a bare relay in another Node process that posix_spawns `/bin/true`
 * through our addon on one byte from a Unix socket and answers with one byte once the child
 * has exited and its pipes have closed. No protocol, sessions, flow control or SDK: what is
 * left of conch's time above it is conch's own.
 */
export async function benchExec({ daemon, sshd, scale }) {
  const session = new VsockShellSession(daemon.endpoint);
  await session.connect();
  const relayServer = await startFrameServer('conch-bench-relay-');
  const relay = createConnection(relayServer.path('spawn-echo'));
  await new Promise((resolve, reject) => relay.once('connect', resolve).once('error', reject));
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
  const s = await interleave(Math.round(400 * scale), contenders, { warmup: 20 });
  await session.close();
  relay.destroy();
  relayServer.stop();
  const title = 'exec `/bin/true` round trip';
  const relayVsSsh = sshd.available ? `; the relay is ${(summarize(s.relay).median / summarize(s.ssh).median).toFixed(3)}× ssh` : '';
  return [
    row({ id: 'exec.raw', title: `${title} vs Node spawn`, unit: 'ms', conch: s.conch, floorName: 'Node spawn until close', floor: s.raw, target: { op: '<=', value: 1.1 } }),
    sshd.available
      ? row({ id: 'exec.ssh', title: `${title} vs OpenSSH`, unit: 'ms', conch: s.conch, floorName: 'ssh ControlMaster `true`', floor: s.ssh, target: { op: '<=', value: 0.15 } })
      : unavailableRow({ id: 'exec.ssh', title: `${title} vs OpenSSH`, unit: 'ms', conch: s.conch, floorName: 'ssh ControlMaster `true`', target: { op: '<=', value: 0.15 }, why: sshd.why }),
    row({
      id: 'exec.relay', title: `${title} vs the Node floor`, unit: 'ms', conch: s.conch,
      floorName: 'bare Node relay: posix_spawn on 1 byte, 1 byte back', floor: s.relay,
      note: `what a daemon in Node costs at least${relayVsSsh}`,
    }),
  ];
}
