import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, VsockShellSession } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { RawClient } from '../helpers/raw-client.js';

/**
 * A frame larger than the receiver accepts ends the connection (the stream is out of sync), and
 * with it every command on it. So neither side may send one: the daemon fits its replies to the
 * limit the client's Hello declared, and the client refuses a request larger than the daemon's.
 */
let daemon: DaemonProcess;
beforeAll(async () => {
  daemon = await startDaemon(['--log-level', 'error']);
});
afterAll(async () => {
  await daemon?.stop();
});

/** A raw client that declared `maxFrameBytes`, with a session of its own. */
async function rawSession(maxFrameBytes: number): Promise<{ raw: RawClient; session: string }> {
  const raw = await RawClient.connect(daemon.socket);
  expect(await raw.hello({ maxFrameBytes })).toMatchObject({ type: 'Welcome' });
  raw.send({ type: 'SpawnSession', id: 1 });
  const { session } = (await raw.next((f) => f.id === 1)) as { session: string };
  return { raw, session };
}

describe('frame limits', () => {
  it('fit a list to the client\'s limit: exited commands left out oldest first, and counted; long argv abbreviated', async () => {
    const { raw, session } = await rawSession(4096);
    const long = `echo ${'x'.repeat(5000)}`;
    for (let id = 2; id < 12; id++) {
      raw.send({ type: 'ExecCommand', id, session, argv: ['sh', '-c', long, `n${id}`], window: 1 << 20 });
      const { command } = (await raw.next((f) => f.id === id)) as { command: string };
      await raw.next((f) => f.type === 'CommandExited' && f.command === command);
    }
    raw.send({ type: 'ListSessions', id: 50 });
    const list = (await raw.next((f) => f.id === 50)) as { type: string; sessions: { session: string; commands: { argv: string[] }[]; omittedCommands?: number }[] };
    expect(list.type).toBe('SessionList');
    const mine = list.sessions.find((s) => s.session === session)!;
    expect(mine.omittedCommands).toBeGreaterThan(0);
    expect(mine.commands.length + mine.omittedCommands!).toBe(10);
    // The newest are the ones kept, each argv cut to about 1 KiB and marked.
    expect(mine.commands.at(-1)!.argv).toEqual(['sh', '-c', `${long.slice(0, 1024 - 'sh-c'.length)}…`]);
    // The connection is still good.
    raw.send({ type: 'Ping', id: 51 });
    expect(await raw.next((f) => f.id === 51)).toMatchObject({ type: 'Pong' });
    raw.close();
  });

  it('cut an error too large for the client to its code and the start of its message, instead of dropping the connection', async () => {
    const { raw, session } = await rawSession(4096);
    const missing = `/no/such/${'d'.repeat(8000)}`;
    raw.send({ type: 'ExecCommand', id: 2, session, argv: [missing], window: 1 << 20 });
    const error = (await raw.next((f) => f.id === 2)) as { type: string; code: string; message: string; details?: unknown };
    expect(error).toMatchObject({ type: 'Error', code: ErrorCodes.SPAWN_FAILED });
    expect(error.message.length).toBeLessThanOrEqual(1025);
    expect(error.details).toBeUndefined();
    raw.send({ type: 'Ping', id: 3 });
    expect(await raw.next((f) => f.id === 3)).toMatchObject({ type: 'Pong' });
    raw.close();
  });

  it('refuse, in the client, a request larger than the daemon takes, with LIMIT_EXCEEDED; the session goes on', async () => {
    const s = new VsockShellSession(daemon.endpoint);
    await s.connect();
    const running = await s.spawn(['sleep', '30']);
    await expect(s.exec(`: ${'x'.repeat(2 << 20)}`)).rejects.toMatchObject({ code: ErrorCodes.LIMIT_EXCEEDED, details: { limit: 'maxFrameBytes' } });
    expect((await s.exec('echo still here')).stdout).toBe('still here\n');
    // Nothing on the connection was lost: the other command is still there to kill.
    await running.kill('SIGKILL');
    expect((await running.wait()).signal).toBe('SIGKILL');
    await s.close();
  });
});
