import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, VsockShellSession } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { RawClient } from '../helpers/raw-client.js';

/**
 * Peers that break the rules get a typed Error frame, or a clean close of their own connection.
 * The daemon stays up and a well-behaved session beside them keeps working.
 */
describe('conchd under bad input', () => {
  let daemon: DaemonProcess;
  let bystander: VsockShellSession;

  beforeAll(async () => {
    daemon = await startDaemon();
    bystander = new VsockShellSession(daemon.endpoint);
    await bystander.connect();
  });
  afterAll(async () => {
    await bystander?.close();
    await daemon?.stop();
  });

  async function stillServing(): Promise<void> {
    expect(daemon.child.exitCode).toBeNull();
    expect((await bystander.exec(['echo', 'fine'])).stdout).toBe('fine\n');
    const fresh = await RawClient.connect(daemon.socket);
    expect((await fresh.hello()).type).toBe('Welcome');
    fresh.close();
  }

  it('answers a frame that is not msgpack with MALFORMED_FRAME and closes that connection', async () => {
    const c = await RawClient.connect(daemon.socket);
    await c.hello();
    c.writeRaw(Buffer.from([0x02, 0xc1, 0xc1]));
    expect(await c.next((f) => f.type === 'Error')).toMatchObject({ code: ErrorCodes.MALFORMED_FRAME });
    await c.waitClosed();
    await stillServing();
  });

  it('answers an oversized length prefix with FRAME_TOO_LARGE without allocating it', async () => {
    const c = await RawClient.connect(daemon.socket);
    // varint for 2^40 bytes: far beyond any limit, and beyond memory.
    c.writeRaw(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x20]));
    expect(await c.next((f) => f.type === 'Error')).toMatchObject({ code: ErrorCodes.FRAME_TOO_LARGE });
    await c.waitClosed();
    await stillServing();
  });

  it('rejects a frame just over the negotiated maximum', async () => {
    const c = await RawClient.connect(daemon.socket);
    await c.hello();
    const len = (1 << 20) + 1;
    c.writeRaw(Buffer.from([0x80 | (len & 0x7f), 0x80 | ((len >> 7) & 0x7f), len >> 14]));
    expect(await c.next((f) => f.type === 'Error')).toMatchObject({ code: ErrorCodes.FRAME_TOO_LARGE });
    await c.waitClosed();
    await stillServing();
  });

  it('answers unknown message types with UNKNOWN_MESSAGE and keeps the connection', async () => {
    const c = await RawClient.connect(daemon.socket);
    await c.hello();
    c.send({ type: 'FormatDisk', id: 4 });
    expect(await c.next((f) => f.type === 'Error')).toMatchObject({ code: ErrorCodes.UNKNOWN_MESSAGE, id: 4 });
    c.send({ type: 'Welcome', nonce: 1 });
    expect(await c.next((f) => f.type === 'Error')).toMatchObject({ code: ErrorCodes.UNKNOWN_MESSAGE });
    c.send({ type: 'Ping', id: 5 });
    expect(await c.next((f) => f.type === 'Pong')).toMatchObject({ id: 5 });
    c.close();
  });

  it('answers wrongly typed fields with INVALID_MESSAGE carrying the request id', async () => {
    const c = await RawClient.connect(daemon.socket);
    await c.hello();
    c.send({ type: 'ExecCommand', id: 9, session: 42, argv: 'not-an-array' });
    expect(await c.next((f) => f.type === 'Error')).toMatchObject({ code: ErrorCodes.INVALID_MESSAGE, id: 9 });
    c.send({ type: 'Credit', command: 'c1', fd: 7, bytes: -1 });
    expect(await c.next((f) => f.type === 'Error')).toMatchObject({ code: ErrorCodes.INVALID_MESSAGE });
    c.send([1, 2, 3] as unknown);
    expect(await c.next((f) => f.type === 'Error')).toMatchObject({ code: ErrorCodes.INVALID_MESSAGE });
    c.send({ type: 'Ping', id: 10 });
    expect(await c.next((f) => f.type === 'Pong')).toMatchObject({ id: 10 });
    c.close();
  });

  it('answers a terminal side over 65535 cells with INVALID_MESSAGE, not an internal error, and runs nothing', async () => {
    const c = await RawClient.connect(daemon.socket);
    await c.hello();
    c.send({ type: 'SpawnSession', id: 1 });
    const { session } = (await c.next((f) => f.type === 'SessionSpawned')) as unknown as { session: string };
    c.send({ type: 'ExecCommand', id: 2, session, argv: ['true'], pty: { cols: 70000, rows: 24 } });
    expect(await c.next((f) => f.type === 'Error')).toMatchObject({ code: ErrorCodes.INVALID_MESSAGE, id: 2 });
    c.send({ type: 'Resize', id: 3, command: 'c1', cols: 80, rows: 65536 });
    expect(await c.next((f) => f.type === 'Error')).toMatchObject({ code: ErrorCodes.INVALID_MESSAGE, id: 3 });
    c.close();
    await stillServing();
  });

  it('answers unknown session and command ids with typed errors', async () => {
    const c = await RawClient.connect(daemon.socket);
    await c.hello();
    c.send({ type: 'ExecCommand', id: 1, session: 'no-such-session', argv: ['true'] });
    expect(await c.next((f) => f.id === 1)).toMatchObject({ type: 'Error', code: ErrorCodes.UNKNOWN_SESSION });
    c.send({ type: 'KillCommand', id: 2, command: 'no-such-command' });
    expect(await c.next((f) => f.id === 2)).toMatchObject({ type: 'Error', code: ErrorCodes.UNKNOWN_COMMAND });
    c.send({ type: 'KillSession', id: 3, session: 'no-such-session', signal: 'SIGKILL' });
    expect(await c.next((f) => f.id === 3)).toMatchObject({ type: 'Error', code: ErrorCodes.UNKNOWN_SESSION });
    c.send({ type: 'Input', command: 'no-such-command', data: Buffer.from('x') });
    expect(await c.next((f) => f.type === 'Error')).toMatchObject({ code: ErrorCodes.UNKNOWN_COMMAND, command: 'no-such-command' });
    c.send({ type: 'Attach', id: 4, command: 'no-such-command', stdoutOffset: 0, stderrOffset: 0 });
    expect(await c.next((f) => f.id === 4)).toMatchObject({ type: 'Error', code: ErrorCodes.UNKNOWN_COMMAND });
    c.send({ type: 'Signal', id: 5, command: 'x', signal: 'SIGNOPE' });
    expect(await c.next((f) => f.id === 5)).toMatchObject({ type: 'Error', code: ErrorCodes.INVALID_MESSAGE });
    c.close();
    await stillServing();
  });

  it('requires the handshake first, and closes a connection that skips it', async () => {
    const c = await RawClient.connect(daemon.socket);
    c.send({ type: 'Ping', id: 1 });
    expect(await c.next((f) => f.type === 'Error')).toMatchObject({ code: ErrorCodes.HANDSHAKE_REQUIRED });
    await c.waitClosed();
  });

  it('reports a version mismatch as exactly that', async () => {
    const c = await RawClient.connect(daemon.socket);
    expect(await c.hello({ minVersion: 99, maxVersion: 120 })).toMatchObject({ type: 'Error', code: ErrorCodes.VERSION_MISMATCH });
    await c.waitClosed();
  });

  it('survives random bytes, truncated frames and peers that vanish mid-frame', async () => {
    for (let i = 0; i < 20; i++) {
      const c = await RawClient.connect(daemon.socket);
      if (i % 2) await c.hello();
      const junk = Buffer.alloc(1 + Math.floor(Math.random() * 100_000));
      for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(Math.random() * 256);
      c.writeRaw(junk);
      if (i % 3 === 0) c.writeRaw(Buffer.from([0x90, 0x01, 0x82])); // a 144-byte frame that never finishes
      await new Promise((r) => setTimeout(r, 20));
      c.close();
    }
    await stillServing();
  });
});
