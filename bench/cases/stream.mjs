import { VsockShellSession } from '@conch/shell-client';
import { row, unavailableRow } from '../lib/row.mjs';
import { countRelayed } from '../lib/relay-client.mjs';
import { countStdout } from '../lib/run-child.mjs';
import { startFrameServer } from '../lib/start-frame-server.mjs';
import { interleave, summarize } from '../lib/stats.mjs';

const GIB = 1 << 30;

/** Consumes a conch command's output through the async iterator; resolves with the byte count. */
export async function drain(handle) {
  let bytes = 0;
  for await (const { data } of handle) bytes += data.length;
  const exit = await handle.wait();
  if (exit.exitCode !== 0) throw new Error(`exited ${exit.exitCode ?? exit.signal}`);
  return bytes;
}

/** MB/s (10^6 bytes per second) of one run that moved `expected` bytes. */
async function throughput(expected, fn) {
  const t0 = performance.now();
  const bytes = await fn();
  const seconds = (performance.now() - t0) / 1000;
  if (bytes !== expected) throw new Error(`got ${bytes} bytes, expected ${expected}`);
  return bytes / seconds / 1e6;
}

/**
 * Commands a conchd runs before the `used` contender streams through it: more than
 * --max-exited (4,096), so that it holds as many exit records as a long-lived daemon does.
 */
const USED_EXECS = 10_000;

/**
 * `head -c 1G /dev/zero`: through conch (spawn, async iterator, counting bytes), read straight
 * from a child's stdout pipe in Node, and through multiplexed OpenSSH. Interleaved. Beside
 * them, the same on a connection to a second conchd that has run USED_EXECS commands on that
 * connection first, as an agent's session does: its exited commands stay subscribed to the
 * connection, and its exit records make the heap larger, which changes how V8 collects the
 * buffers a stream goes through (bench/README.md, Streaming).
 */
export async function benchStream({ daemon, startDaemon, sshd, scale }) {
  const size = GIB;
  const argv = ['head', '-c', String(size), '/dev/zero'];
  const session = new VsockShellSession(daemon.endpoint);
  // Retention past the whole case, so that no record expires while the streams run.
  const usedDaemon = await startDaemon({ args: ['--exit-retention', '3600'] });
  const used = new VsockShellSession(usedDaemon.endpoint);
  const usedExecs = Math.max(4097, Math.round(USED_EXECS * scale));
  const relayServer = await startFrameServer('conch-bench-pipe-relay-');
  let s;
  try {
    await session.connect();
    await used.connect();
    for (let i = 0; i < usedExecs; i++) await used.exec(['/bin/true']);
    const contenders = {
      conch: () => throughput(size, async () => drain(await session.spawn(argv))),
      used: () => throughput(size, async () => drain(await used.spawn(argv))),
      direct: () => throughput(size, () => countStdout(argv)),
      relay: () => throughput(size, async () => (await countRelayed(relayServer.path('pipe-relay'), size)).bytes),
    };
    if (sshd.available) {
      const ssh = sshd.argv(argv.join(' '));
      contenders.ssh = () => throughput(size, () => countStdout(ssh));
    }
    s = await interleave(Math.max(2, Math.round(6 * scale)), contenders, { warmup: 0 });
  } finally {
    await session.close();
    await used.close();
    await usedDaemon.stop();
    relayServer.stop();
  }
  const title = 'stream `head -c 1G /dev/zero`';
  const relayVsDirect = (summarize(s.relay).median / summarize(s.direct).median).toFixed(2);
  return [
    row({ id: 'stream.direct', title: `${title} vs a direct pipe read`, unit: 'MB/s', better: 'higher', conch: s.conch, floorName: 'Node reading the child\'s stdout', floor: s.direct, target: { op: '>=', value: 0.7 } }),
    sshd.available
      ? row({ id: 'stream.ssh', title: `${title} vs OpenSSH`, unit: 'MB/s', better: 'higher', conch: s.conch, floorName: 'ssh ControlMaster', floor: s.ssh, target: { op: '>=', value: 3 } })
      : unavailableRow({ id: 'stream.ssh', title: `${title} vs OpenSSH`, unit: 'MB/s', conch: s.conch, floorName: 'ssh ControlMaster', target: { op: '>=', value: 3 }, why: sshd.why }),
    row({
      id: 'stream.relay', title: `${title} vs the Node floor`, unit: 'MB/s', better: 'higher', conch: s.conch,
      floorName: 'bare Node relay: PipeReader → Unix socket → a reader', floor: s.relay,
      note: `what relaying a pipe through a bare JS relay costs: the relay is ${relayVsDirect}× the direct read`,
    }),
    row({
      id: 'stream.used', title: `${title}, after ${usedExecs.toLocaleString('en-US')} execs on the same connection, vs a fresh conchd`, unit: 'MB/s', better: 'higher', conch: s.used,
      floorName: 'the same through a fresh conchd', floor: s.conch,
      note: `a conchd holding 4,096 exit records (--max-exited), their commands still subscribed to the connection; ${(summarize(s.used).median / summarize(s.direct).median).toFixed(2)}× the direct read, ${(summarize(s.used).median / summarize(s.relay).median).toFixed(2)}× the relay`,
    }),
  ];
}
