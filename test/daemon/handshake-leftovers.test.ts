import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame } from '@conch/protocol';
import { VsockShellSession } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

/**
 * A QEMU virtio-serial chardev can hand a new host connection the tail of what the daemon wrote
 * for the previous one (seen in the e2e VM; see packages/shell-client/src/handshake-reply.ts).
 * Here a proxy in front of a real conchd puts such leftovers in front of the daemon's bytes, the
 * way QEMU does, and the client must still find its Welcome and then stay in step.
 */

/** Output of a command that belonged to some earlier connection. */
const staleOutput = (bytes: number) => encodeFrame({ type: 'StreamOutput', command: 'c9-dead', fd: 1, offset: 4096, data: randomBytes(bytes) });

const LEFTOVERS: Record<string, () => Buffer> = {
  'whole frames of another connection': () =>
    Buffer.concat([staleOutput(3000), encodeFrame({ type: 'CommandExited', command: 'c9-dead', exitCode: 0, signal: null, timedOut: false, truncated: false, durationMs: 5, stdoutBytes: 7096, stderrBytes: 0 })]),
  'a frame cut in the middle': () => {
    const frame = staleOutput(200_000);
    return frame.subarray(frame.length >> 1);
  },
  // A length prefix of almost 1 MiB: a length decoder would wait for that many bytes, eating every Welcome.
  'bytes that read as a length of almost 1 MiB': () => Buffer.concat([Buffer.from([0xff, 0xff, 0x3f, 0x87]), randomBytes(2000)]),
  'a cut inside a frame header, then whole frames': () => Buffer.concat([staleOutput(100).subarray(0, 2), staleOutput(50_000)]),
};

let daemon: DaemonProcess;
const servers: Server[] = [];

/**
 * A proxy to the daemon that writes `leftover` to each new client before anything the daemon
 * sends: at once, or in `pieces` of that many bytes a millisecond apart, so that the client
 * reads it in many small reads, as a loaded machine delivers it.
 */
function proxyWith(leftover: () => Buffer, pieces?: number): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'conch-leftovers-')), 'p.sock');
  const server = createServer((client) => {
    const upstream = createConnection(daemon.socket);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    const bytes = leftover();
    void (async () => {
      for (let at = 0; at < bytes.length; at += pieces ?? bytes.length) {
        client.write(bytes.subarray(at, at + (pieces ?? bytes.length)));
        if (pieces) await new Promise((r) => setTimeout(r, 1));
      }
      // The daemon's reply, already waiting upstream, follows the leftovers.
      upstream.pipe(client);
    })();
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(path, () => resolve(`unix:${path}`)));
}

beforeAll(async () => {
  daemon = await startDaemon();
});
afterAll(async () => {
  for (const s of servers) s.close();
  await daemon?.stop();
});

describe('a handshake behind leftovers of an earlier connection', () => {
  it.each(Object.keys(LEFTOVERS))('finds its Welcome behind %s and stays in step', async (kind) => {
    const s = new VsockShellSession(await proxyWith(LEFTOVERS[kind]!), { connectTimeoutMs: 5000 });
    try {
      const status = await s.connect();
      expect(status.state, JSON.stringify(status)).toBe('ready');
      expect((await s.exec(['echo', 'in step'])).stdout).toBe('in step\n');
      // A few MB through the same connection: every frame after the Welcome is read in step.
      const r = await s.exec(['head', '-c', '3000000', '/dev/zero'], { encoding: 'buffer' });
      expect(r.stdout.length).toBe(3_000_000);
    } finally {
      await s.close();
    }
  });

  it('finds its Welcome behind 100 KB cut from a frame that arrive in 200 small reads, within the connect timeout', async () => {
    // Random bytes nearly always hold a "frame" claiming hundreds of KiB near their start. A scan
    // that went back to it on every read took longer than the timeout here; each byte is examined once now.
    const s = new VsockShellSession(await proxyWith(LEFTOVERS['a frame cut in the middle']!, 512), { connectTimeoutMs: 5000 });
    try {
      const status = await s.connect();
      expect(status.state, JSON.stringify(status)).toBe('ready');
      expect((await s.exec(['echo', 'in step'])).stdout).toBe('in step\n');
    } finally {
      await s.close();
    }
  });

  it('still says handshake-failed, not connect-timeout, for a peer that sends junk and no reply', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'conch-junk-')), 'j.sock');
    const server = createServer((socket) => {
      socket.on('error', () => {});
      socket.write(randomBytes(5000));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const status = await new VsockShellSession(`unix:${path}`, { connectTimeoutMs: 1000 }).connect();
    expect(status).toMatchObject({ state: 'unavailable', reason: 'handshake-failed', message: expect.stringContaining('does not speak the conch protocol') });
  });
});
