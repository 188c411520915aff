import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '@conch/shell-client';
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
