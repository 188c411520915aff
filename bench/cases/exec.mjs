import { VsockShellSession } from '@conch/shell-client';
import { row, unavailableRow } from '../lib/row.mjs';
import { runUntilClose } from '../lib/run-child.mjs';
import { interleave, timed } from '../lib/stats.mjs';

/**
 * Round trip of `/bin/true`: conch exec on a warm connection, raw Node spawn until close, and
 * OpenSSH multiplexed through a ControlMaster, interleaved.
 */
export async function benchExec({ daemon, sshd, scale }) {
  const session = new VsockShellSession(daemon.endpoint);
  await session.connect();
  const contenders = {
    conch: () => timed(() => session.exec(['/bin/true'])),
    raw: () => timed(() => runUntilClose(['/bin/true'])),
  };
  if (sshd.available) {
    const argv = sshd.argv('true');
    contenders.ssh = () => timed(() => runUntilClose(argv));
  }
  const s = await interleave(Math.round(400 * scale), contenders, { warmup: 20 });
  await session.close();
  const title = 'exec `/bin/true` round trip';
  return [
    row({ id: 'exec.raw', title: `${title} vs Node spawn`, unit: 'ms', conch: s.conch, floorName: 'Node spawn until close', floor: s.raw, target: { op: '<=', value: 1.1 } }),
    sshd.available
      ? row({ id: 'exec.ssh', title: `${title} vs OpenSSH`, unit: 'ms', conch: s.conch, floorName: 'ssh ControlMaster `true`', floor: s.ssh, target: { op: '<=', value: 0.15 } })
      : unavailableRow({ id: 'exec.ssh', title: `${title} vs OpenSSH`, unit: 'ms', conch: s.conch, floorName: 'ssh ControlMaster `true`', target: { op: '<=', value: 0.15 }, why: sshd.why }),
  ];
}
