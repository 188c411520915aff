import { row } from '../lib/row.mjs';
import { runUntilClose } from '../lib/run-child.mjs';
import { interleave, timed } from '../lib/stats.mjs';

/** Spawning conchd until its socket answers a handshake, vs `node -e ''` start to exit. */
export async function benchColdStart({ startDaemon, scale }) {
  const s = await interleave(Math.max(5, Math.round(15 * scale)), {
    conch: async () => {
      const daemon = await startDaemon();
      await daemon.stop();
      return daemon.readyMs;
    },
    raw: () => timed(() => runUntilClose([process.execPath, '-e', ''])),
  }, { warmup: 1 });
  return [row({ id: 'coldstart', title: 'conchd cold start to first handshake', unit: 'ms', conch: s.conch, floorName: "`node -e ''`", floor: s.raw })];
}
