import { createConnection } from 'node:net';
import { VsockShellSession } from '@conch/shell-client';
import { row } from '../lib/row.mjs';
import { startFrameServer } from '../lib/start-frame-server.mjs';
import { interleave, timed } from '../lib/stats.mjs';

/** Connect, one 64 B echo, close: what any request/response protocol pays at the least. */
function rawConnectEcho(path) {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    s.once('error', reject);
    s.once('connect', () => s.write(Buffer.alloc(64, 1)));
    let got = 0;
    s.on('data', (d) => {
      got += d.length;
      if (got >= 64) s.destroy();
    });
    s.once('close', resolve);
  });
}

/**
 * Per-VM cost (DESIGN §8): a new client against a warm conchd, connect and handshake and its
 * session (three round trips with close's KillSession), against a raw Unix-socket connect with
 * one 64 B echo (far end in a child process).
 */
export async function benchConnect({ daemon, scale }) {
  const server = await startFrameServer('conch-bench-connect-');
  try {
    const s = await interleave(Math.round(300 * scale), {
      conch: () => timed(async () => {
        const session = new VsockShellSession(daemon.endpoint, { reconnect: false });
        const status = await session.connect();
        if (status.state !== 'ready') throw new Error(`connect: ${status.reason}: ${status.message}`);
        await session.close();
      }),
      raw: () => timed(() => rawConnectEcho(server.path('raw-echo'))),
    }, { warmup: 10 });
    return [row({ id: 'connect', title: 'new client on a warm conchd: connect, Hello, SpawnSession; close (KillSession)', unit: 'ms', conch: s.conch, floorName: 'raw UDS connect + 64 B echo', floor: s.raw })];
  } finally {
    server.stop();
  }
}
