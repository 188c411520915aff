import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VsockShellSession } from '@conch/shell-client';
import { row } from '../lib/row.mjs';
import { interleave, timed } from '../lib/stats.mjs';

const SERVER = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'frame-server.mjs');

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
  const dir = mkdtempSync(join(tmpdir(), 'conch-bench-connect-'));
  const server = fork(SERVER, [dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    await new Promise((resolve, reject) => {
      server.once('message', resolve);
      server.once('exit', (code) => reject(new Error(`frame server exited ${code}`)));
    });
    const s = await interleave(Math.round(300 * scale), {
      conch: () => timed(async () => {
        const session = new VsockShellSession(daemon.endpoint, { reconnect: false });
        const status = await session.connect();
        if (status.state !== 'ready') throw new Error(`connect: ${status.reason}: ${status.message}`);
        await session.close();
      }),
      raw: () => timed(() => rawConnectEcho(join(dir, 'raw-echo'))),
    }, { warmup: 10 });
    return [row({ id: 'connect', title: 'new client on a warm conchd: connect, Hello, SpawnSession; close (KillSession)', unit: 'ms', conch: s.conch, floorName: 'raw UDS connect + 64 B echo', floor: s.raw })];
  } finally {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
