import { VsockShellSession } from '@conch/shell-client';
import { row } from '../lib/row.mjs';
import { runUntilClose } from '../lib/run-child.mjs';
import { summarize, timed } from '../lib/stats.mjs';

const N = 1000;
/** Connections opened at once when each session has its own. */
const CONNECT_WAVE = 250;

/** Runs `one(i)` N times concurrently; returns every call's round trip and the wall time. */
async function burst(one) {
  const rtts = new Array(N);
  const wall = await timed(() => Promise.all(Array.from({ length: N }, async (_, i) => (rtts[i] = await timed(() => one(i))))));
  return { rtts, wall };
}

/**
 * 1,000 at once. Each VsockShellSession opens its own connection; fork() puts another session
 * on the same connection. So three shapes: 1,000 commands on one session, 1,000 forked
 * sessions sharing one connection, and 1,000 sessions each with its own connection. Against
 * 1,000 raw concurrent Node spawns. Per-command round trip (p99 under load) and wall time.
 */
export async function benchSessions({ startDaemon, scale }) {
  const reps = Math.max(1, Math.round(2 * scale));
  const argv = ['/bin/true'];
  const shapes = {
    'one session': async (endpoint) => {
      const s = new VsockShellSession(endpoint);
      await s.connect();
      return { run: () => burst(() => s.exec(argv)), close: () => s.close() };
    },
    'forked sessions, one connection': async (endpoint) => {
      const parent = new VsockShellSession(endpoint);
      await parent.connect();
      const children = Array.from({ length: N }, () => parent.fork());
      await Promise.all(children.map((c) => c.connect()));
      return { run: () => burst((i) => children[i].exec(argv)), close: async () => { await Promise.all(children.map((c) => c.close())); await parent.close(); } };
    },
    'own connection each': async (endpoint) => {
      const sessions = Array.from({ length: N }, () => new VsockShellSession(endpoint, { connectTimeoutMs: 60_000 }));
      // Connect in waves: 1,000 connect()s at once overflow the listen backlog (Node's default,
      // 511), and a Unix-socket connect to a full backlog fails with EAGAIN rather than waiting.
      const statuses = [];
      for (let i = 0; i < N; i += CONNECT_WAVE) statuses.push(...(await Promise.all(sessions.slice(i, i + CONNECT_WAVE).map((s) => s.connect()))));
      const down = statuses.filter((s) => s.state !== 'ready');
      if (down.length) throw new Error(`${down.length} sessions unavailable: ${down[0].reason} ${down[0].message}`);
      return { run: () => burst((i) => sessions[i].exec(argv)), close: () => Promise.all(sessions.map((s) => s.close())) };
    },
  };
  const rows = [];
  for (const [shape, open] of Object.entries(shapes)) {
    // A fresh daemon per shape: exited commands of the previous one are still retained.
    const daemon = await startDaemon();
    const conch = { rtts: [], walls: [] };
    const raw = { rtts: [], walls: [] };
    try {
      const target = await open(daemon.endpoint);
      for (let i = 0; i < reps; i++) {
        for (const [into, run] of i % 2 ? [[raw, () => burst(() => runUntilClose(argv))], [conch, target.run]] : [[conch, target.run], [raw, () => burst(() => runUntilClose(argv))]]) {
          const r = await run();
          into.rtts.push(...r.rtts);
          into.walls.push(r.wall);
        }
      }
      await target.close();
    } finally {
      await daemon.stop();
    }
    rows.push(row({
      id: `sessions1000.${shape.replaceAll(' ', '-').replace(',', '')}`, title: `1,000 concurrent \`/bin/true\`, ${shape}: wall`, unit: 'ms',
      conch: conch.walls, floorName: '1,000 raw Node spawns', floor: raw.walls,
      note: `per-command round trip under load: conch median ${summarize(conch.rtts).median.toFixed(0)} ms, p99 ${summarize(conch.rtts).p99.toFixed(0)} ms; raw median ${summarize(raw.rtts).median.toFixed(0)} ms, p99 ${summarize(raw.rtts).p99.toFixed(0)} ms`,
    }));
    rows.at(-1).rtt = { conch: summarize(conch.rtts), floor: summarize(raw.rtts) };
  }
  return rows;
}
