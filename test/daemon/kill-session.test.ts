import { mkdtempSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeBody, encodeFrame } from '@conch/protocol';
import { ErrorCodes, VsockShellSession } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { RawClient } from '../helpers/raw-client.js';

let daemon: DaemonProcess | undefined;
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

describe('KillSession', () => {
  it('removes the session, or with keepSession kills only its commands and keeps it, announced as kill-keeps-session', async () => {
    daemon = await startDaemon(['--log-level', 'error']);
    const raw = await RawClient.connect(daemon.socket);
    expect(await raw.hello()).toMatchObject({ type: 'Welcome', capabilities: expect.arrayContaining(['kill-keeps-session']) });
    const start = async (id: number, session: string, argv: string[]) => {
      raw.send({ type: 'ExecCommand', id, session, argv, window: 1 << 20 });
      return ((await raw.next((f) => f.id === id)) as { command: string }).command;
    };
    for (const keepSession of [true, false]) {
      raw.send({ type: 'SpawnSession', id: 1 });
      const { session } = (await raw.next((f) => f.id === 1)) as { session: string };
      const sleeper = await start(2, session, ['sleep', '30']);
      raw.send({ type: 'KillSession', id: 3, session, signal: 'SIGKILL', keepSession });
      expect(await raw.next((f) => f.id === 3)).toMatchObject({ type: 'Ok' });
      expect(await raw.next((f) => f.type === 'CommandExited' && f.command === sleeper)).toMatchObject({ signal: 'SIGKILL' });
      raw.send({ type: 'ExecCommand', id: 4, session, argv: ['true'], window: 1 << 20 });
      const reply = await raw.next((f) => f.id === 4);
      if (keepSession) expect(reply).toMatchObject({ type: 'CommandStarted' });
      else expect(reply).toMatchObject({ type: 'Error', code: ErrorCodes.UNKNOWN_SESSION });
    }
    raw.close();
  });
});

/**
 * A proxy in front of the daemon that takes `capability` out of its Welcome (the first frame it
 * sends) and passes everything else through untouched: the daemon as a client meets an older one.
 */
async function withoutCapability(target: string, capability: string): Promise<{ path: string; close: () => void }> {
  const path = join(mkdtempSync(join(tmpdir(), 'conch-old-daemon-')), 'proxy.sock');
  const server = createServer((client) => {
    const upstream = createConnection(target);
    client.pipe(upstream);
    let pending = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      let length = 0;
      let shift = 0;
      let at = 0;
      for (;;) {
        if (at >= pending.length) return;
        const byte = pending[at++]!;
        length += (byte & 0x7f) * 2 ** shift;
        shift += 7;
        if (!(byte & 0x80)) break;
      }
      if (pending.length < at + length) return;
      const welcome = decodeBody(pending.subarray(at, at + length)) as { capabilities: string[] };
      welcome.capabilities = welcome.capabilities.filter((c) => c !== capability);
      upstream.off('data', onData);
      client.write(encodeFrame(welcome as never));
      client.write(pending.subarray(at + length));
      upstream.pipe(client);
    };
    upstream.on('data', onData);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { path, close: () => server.close() };
}

describe('killAll() against a daemon without kill-keeps-session', () => {
  it('still kills every command, and the session takes new ones in a fresh daemon session (whose cwd is the initial one)', async () => {
    daemon = await startDaemon(['--log-level', 'error']);
    const proxy = await withoutCapability(daemon.socket, 'kill-keeps-session');
    const s = new VsockShellSession(`unix:${proxy.path}`, { cwd: '/' });
    try {
      await s.connect();
      expect(s.daemon!.capabilities).not.toContain('kill-keeps-session');
      await s.exec('cd /tmp');
      const h = await s.spawn(['sleep', '30']);
      await s.killAll('SIGKILL');
      expect((await h.wait()).signal).toBe('SIGKILL');
      expect((await s.exec('pwd')).stdout).toBe('/\n');
    } finally {
      await s.close();
      proxy.close();
    }
  });
});
