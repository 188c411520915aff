import { createRequire } from 'node:module';
import { VsockShellSession } from '@conch/shell-client';
import { row } from '../lib/row.mjs';
import { countRelayed } from '../lib/relay-client.mjs';
import { startFrameServer } from '../lib/start-frame-server.mjs';
import { interleave, summarize } from '../lib/stats.mjs';
import { drain } from './stream.mjs';

const require = createRequire(import.meta.url);

/**
 * Raw node-pty on the same producer: its public spawn(), Buffers (encoding null), counting
 * bytes until the exit event. node-pty can lose the tail (microsoft/node-pty#72): the bytes it
 * did deliver are what its throughput is computed from, and the shortfall is reported.
 */
function nodePtyRun(argv) {
  const pty = require('node-pty');
  return new Promise((resolve) => {
    let bytes = 0;
    const t0 = performance.now();
    const term = pty.spawn(argv[0], argv.slice(1), { cols: 80, rows: 24, encoding: null, env: process.env });
    term.onData((d) => (bytes += d.length));
    term.onExit(() => resolve({ bytes, ms: performance.now() - t0 }));
  });
}

/** PTY output of `head -c SIZE /dev/zero`: conch spawn with a pty vs raw node-pty, interleaved. */
export async function benchPty({ daemon, scale }) {
  const size = 32 << 20;
  const argv = ['head', '-c', String(size), '/dev/zero'];
  const session = new VsockShellSession(daemon.endpoint);
  await session.connect();
  // Shortfall in bytes per run, warm-up included, for each contender alike.
  const shortBy = { conch: [], raw: [], relay: [] };
  const relayServer = await startFrameServer('conch-bench-pty-relay-');
  let s;
  try {
    s = await interleave(Math.max(3, Math.round(15 * scale)), {
      conch: async () => {
        const t0 = performance.now();
        const bytes = await drain(await session.spawn(argv, { pty: { cols: 80, rows: 24 } }));
        shortBy.conch.push(size - bytes);
        return bytes / ((performance.now() - t0) / 1000) / 1e6;
      },
      raw: async () => {
        const { bytes, ms } = await nodePtyRun(argv);
        shortBy.raw.push(size - bytes);
        return bytes / (ms / 1000) / 1e6;
      },
      relay: async () => {
        const { bytes, ms } = await countRelayed(relayServer.path('pty-relay'), size);
        shortBy.relay.push(size - bytes);
        return bytes / (ms / 1000) / 1e6;
      },
    }, { warmup: 1 });
  } finally {
    await session.close();
    relayServer.stop();
  }
  const losses = (runs, name) => {
    const short = runs.filter((n) => n > 0);
    return `${name} ${short.length} of ${runs.length} runs short` + (short.length ? ` (by up to ${Math.max(...short)} bytes)` : '');
  };
  const relayVsRaw = (summarize(s.relay).median / summarize(s.raw).median).toFixed(2);
  return [
    row({
      id: 'pty', title: 'PTY output `head -c 32M /dev/zero`', unit: 'MB/s', better: 'higher', conch: s.conch,
      floorName: 'node-pty spawn, onData', floor: s.raw, target: { op: '>=', value: 0.9 },
      note: `tail loss, warm-up included: ${losses(shortBy.conch, 'conch')}; ${losses(shortBy.raw, 'node-pty')}`,
    }),
    row({
      id: 'pty.relay', title: 'PTY output `head -c 32M /dev/zero` vs the Node floor', unit: 'MB/s', better: 'higher', conch: s.conch,
      floorName: 'bare Node relay: node-pty → Unix socket → a reader', floor: s.relay,
      note: `what relaying a terminal through a bare JS relay costs: the relay is ${relayVsRaw}× node-pty read in place` +
        ` (it reads through node-pty, so it loses tails as node-pty does, more often here: ${losses(shortBy.relay, 'relay')})`,
    }),
  ];
}
