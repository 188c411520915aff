import { createRequire } from 'node:module';
import { VsockShellSession } from '@conch/shell-client';
import { startIdleSpinners } from '../lib/idle-spinners.mjs';
import { row, unavailableRow } from '../lib/row.mjs';
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

/**
 * One series of interleaved runs of the three contenders: MB/s per run, and the shortfall in
 * bytes per run (warm-up included, for each contender alike).
 */
async function series(session, relayServer, argv, size, runs) {
  const shortBy = { conch: [], raw: [], relay: [] };
  const samples = await interleave(runs, {
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
  return { samples, shortBy };
}

const ratio = (a, b) => (summarize(a).median / summarize(b).median).toFixed(2);

/**
 * PTY output of `head -c SIZE /dev/zero`: conch spawn with a pty vs raw node-pty and the bare
 * relay, interleaved. Then the same three again with every core kept out of its idle halt
 * (idle-spinners.mjs): a diagnostic row that tells a contender's own cost from the wake-up
 * latency of halted vCPUs, which a pty's 4 KiB-per-read refill cycle pays on every read.
 */
export async function benchPty({ daemon, scale }) {
  const size = 32 << 20;
  const argv = ['head', '-c', String(size), '/dev/zero'];
  const runs = Math.max(3, Math.round(15 * scale));
  const session = new VsockShellSession(daemon.endpoint);
  await session.connect();
  const relayServer = await startFrameServer('conch-bench-pty-relay-');
  let plain;
  let awake;
  try {
    plain = await series(session, relayServer, argv, size, runs);
    let stopSpinners;
    try {
      stopSpinners = await startIdleSpinners();
    } catch (err) {
      awake = { why: `cores could not be kept awake: ${err.message}` };
    }
    if (stopSpinners) {
      try {
        awake = await series(session, relayServer, argv, size, runs);
      } finally {
        stopSpinners();
      }
    }
  } finally {
    await session.close();
    relayServer.stop();
  }
  const losses = (runs, name) => {
    const short = runs.filter((n) => n > 0);
    return `${name} ${short.length} of ${runs.length} runs short` + (short.length ? ` (by up to ${Math.max(...short)} bytes)` : '');
  };
  const s = plain.samples;
  const awakeRow = { id: 'pty.awake', title: 'PTY output `head -c 32M /dev/zero`, every core kept awake', unit: 'MB/s' };
  return [
    row({
      id: 'pty', title: 'PTY output `head -c 32M /dev/zero`', unit: 'MB/s', better: 'higher', conch: s.conch,
      floorName: 'node-pty spawn, onData', floor: s.raw, target: { op: '>=', value: 0.9 },
      note: `tail loss, warm-up included: ${losses(plain.shortBy.conch, 'conch')}; ${losses(plain.shortBy.raw, 'node-pty')}`,
    }),
    row({
      id: 'pty.relay', title: 'PTY output `head -c 32M /dev/zero` vs the Node floor', unit: 'MB/s', better: 'higher', conch: s.conch,
      floorName: 'bare Node relay: node-pty → Unix socket → a reader', floor: s.relay,
      note: `what relaying a terminal through a bare JS relay costs: the relay is ${ratio(s.relay, s.raw)}× node-pty read in place` +
        ` (it reads through node-pty, so it loses tails as node-pty does, more often here: ${losses(plain.shortBy.relay, 'relay')})`,
    }),
    awake.samples
      ? row({
          ...awakeRow, better: 'higher', conch: awake.samples.conch,
          floorName: 'the bare relay, in the same runs', floor: awake.samples.relay,
          note: `diagnostic: one SCHED_IDLE busy loop per core, so no vCPU halts between reads; node-pty read in place` +
            ` ${summarize(awake.samples.raw).median.toFixed(1)} MB/s here, conch ${ratio(awake.samples.conch, awake.samples.raw)}×` +
            ` and the relay ${ratio(awake.samples.relay, awake.samples.raw)}× of it`,
        })
      : unavailableRow({ ...awakeRow, conch: s.conch, floorName: 'the bare relay, in the same runs', why: awake.why }),
  ];
}
