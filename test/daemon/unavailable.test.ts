import { existsSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame } from '@conch/protocol';
import { UnavailableError, VsockShellSession } from '@conch/shell-client';

const servers: Server[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

function fakeDaemon(onConnection: (socket: import('node:net').Socket) => void): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'conch-fake-')), 'd.sock');
  const server = createServer(onConnection);
  servers.push(server);
  return new Promise((resolve) => server.listen(path, () => resolve(`unix:${path}`)));
}

/** The sidecar's absence is explicit, with a reason, and nothing ever runs on the host instead. */
describe('an unavailable daemon', () => {
  it('is connect-refused when nothing listens, and runs nothing on the host', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conch-absent-'));
    const marker = join(dir, 'ran-on-host');
    const s = new VsockShellSession(`unix:${join(dir, 'missing.sock')}`);
    expect(await s.connect()).toMatchObject({ state: 'unavailable', reason: 'connect-refused' });
    const failure = await s.exec(['touch', marker]).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(UnavailableError);
    expect(failure).toMatchObject({ code: 'UNAVAILABLE', reason: 'connect-refused' });
    await expect(s.spawn(['touch', marker])).rejects.toMatchObject({ reason: 'connect-refused' });
    expect(existsSync(marker)).toBe(false);
  });

  it('is not-configured without an endpoint, and for the local endpoint', async () => {
    const saved = process.env.CONCH_ENDPOINT;
    delete process.env.CONCH_ENDPOINT;
    try {
      expect(await new VsockShellSession(undefined).connect()).toMatchObject({ state: 'unavailable', reason: 'not-configured' });
      expect(await new VsockShellSession('local').connect()).toMatchObject({ state: 'unavailable', reason: 'not-configured' });
      expect(await new VsockShellSession('bogus:thing').connect()).toMatchObject({ state: 'unavailable', reason: 'not-configured' });
    } finally {
      if (saved !== undefined) process.env.CONCH_ENDPOINT = saved;
    }
  });

  it('is handshake-failed when the peer does not speak conch', async () => {
    const endpoint = await fakeDaemon((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n'));
    expect(await new VsockShellSession(endpoint).connect()).toMatchObject({ state: 'unavailable', reason: 'handshake-failed' });
  });

  it('is connect-timeout when the peer never answers the handshake', async () => {
    const endpoint = await fakeDaemon(() => {});
    const s = new VsockShellSession(endpoint, { connectTimeoutMs: 300 });
    expect(await s.connect()).toMatchObject({ state: 'unavailable', reason: 'connect-timeout' });
  });

  it('is version-mismatch when the daemon says so', async () => {
    const endpoint = await fakeDaemon((socket) =>
      socket.write(encodeFrame({ type: 'Error', code: 'VERSION_MISMATCH', message: 'daemon speaks 7..9' })),
    );
    const status = await new VsockShellSession(endpoint).connect();
    expect(status).toMatchObject({ state: 'unavailable', reason: 'version-mismatch' });
    expect(status.state === 'unavailable' && status.message).toContain('7..9');
  });

  it('is handshake-failed when a hybrid-vsock muxer refuses CONNECT', async () => {
    const endpoint = await fakeDaemon((socket) => socket.once('data', () => socket.end('ERR no listener\n')));
    const path = endpoint.slice('unix:'.length);
    const s = new VsockShellSession(`hybrid-vsock:${path}:1024`);
    const status = await s.connect();
    expect(status).toMatchObject({ state: 'unavailable', reason: 'handshake-failed' });
  });
});
