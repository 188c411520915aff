import { VsockShellSession } from '@conch/shell-client';
import { row } from '../lib/row.mjs';
import { runUntilClose } from '../lib/run-child.mjs';
import { interleave, timed } from '../lib/stats.mjs';

/** 100 concurrent `sleep 0.1`: conch execs on one session vs 100 raw Node spawns; wall time. */
export async function benchConcurrent({ daemon, scale }) {
  const session = new VsockShellSession(daemon.endpoint);
  await session.connect();
  const n = 100;
  const argv = ['sleep', '0.1'];
  const s = await interleave(Math.max(3, Math.round(10 * scale)), {
    conch: () => timed(() => Promise.all(Array.from({ length: n }, () => session.exec(argv)))),
    raw: () => timed(() => Promise.all(Array.from({ length: n }, () => runUntilClose(argv)))),
  }, { warmup: 1 });
  await session.close();
  return [row({ id: 'concurrent100', title: '100 concurrent `sleep 0.1`, wall time', unit: 'ms', conch: s.conch, floorName: '100 raw Node spawns', floor: s.raw, target: { op: '<=', value: 1.2 } })];
}
