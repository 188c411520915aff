import { VsockShellSession } from '@conch/shell-client';
import { rssMB } from '../lib/rss.mjs';

/** Idle RSS, then RSS across 10k sequential execs of `/bin/true` on one warm session. */
export async function benchRss({ startDaemon, scale }) {
  const daemon = await startDaemon();
  try {
    const session = new VsockShellSession(daemon.endpoint);
    await session.connect();
    await new Promise((r) => setTimeout(r, 1000));
    const idle = rssMB(daemon.pid);
    const total = Math.round(10_000 * Math.min(1, scale));
    const samples = [{ execs: 0, mb: idle }];
    for (let i = 1; i <= total; i++) {
      await session.exec(['/bin/true']);
      if (i % 500 === 0) samples.push({ execs: i, mb: rssMB(daemon.pid) });
    }
    await session.close();
    const afterWarm = samples.find((s) => s.execs >= 1000)?.mb ?? idle;
    const end = samples.at(-1).mb;
    const max = Math.max(...samples.map((s) => s.mb));
    // "Flat": after the first 1,000 execs have warmed the heap up, it grows by no more than 10 MB.
    const flat = end - afterWarm <= 10;
    const fmt = (x) => `${x.toFixed(1)} MB`;
    return [
      { id: 'rss.idle', title: 'conchd idle RSS', unit: 'MB', conch: { median: idle, p99: idle }, floorName: 'target 60 MB', ratio: idle / 60, target: { op: '<=', value: 1 }, result: idle <= 60 ? 'PASS' : 'MISS' },
      {
        id: 'rss.10k', title: `conchd RSS across ${total} sequential execs`, unit: 'MB', conch: { median: end, p99: max }, floorName: 'flat: end ≤ RSS after 1k + 10 MB',
        ratio: end / afterWarm, target: { op: '<=', value: (afterWarm + 10) / afterWarm }, result: flat ? 'PASS' : 'MISS',
        note: `start ${fmt(idle)}, after 1k ${fmt(afterWarm)}, end ${fmt(end)}, max ${fmt(max)}`, samples,
      },
    ];
  } finally {
    await daemon.stop();
  }
}
