import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { RawClient } from '../helpers/raw-client.js';

/**
 * Real-time signal names (SIGRTMIN … SIGRTMAX) go only to clients that say they take them
 * (`rt-signals` in Hello): an older client would refuse the frame and wait for ever, so it is
 * told SIGKILL, as daemons before those names told everyone.
 */
let daemon: DaemonProcess;
beforeAll(async () => {
  daemon = await startDaemon(['--log-level', 'error']);
});
afterAll(async () => {
  await daemon?.stop();
});

async function dieOf(capabilities: string[]): Promise<{ exited: unknown; listed: unknown }> {
  const raw = await RawClient.connect(daemon.socket);
  try {
    await raw.hello({ capabilities });
    raw.send({ type: 'SpawnSession', id: 1 });
    const { session } = (await raw.next((f) => f.id === 1)) as { session: string };
    raw.send({ type: 'ExecCommand', id: 2, session, argv: ['sleep', '30'] });
    const { command } = (await raw.next((f) => f.id === 2)) as { command: string };
    raw.send({ type: 'Signal', id: 3, command, signal: 'SIGRTMIN+3' });
    const exited = (await raw.next((f) => f.type === 'CommandExited' && f.command === command)).signal;
    raw.send({ type: 'ListSessions', id: 4 });
    const list = (await raw.next((f) => f.id === 4)) as { sessions: { commands: { command: string; signal: string }[] }[] };
    return { exited, listed: list.sessions.flatMap((s) => s.commands).find((c) => c.command === command)?.signal };
  } finally {
    raw.close();
  }
}

describe('real-time signal names', () => {
  it('reach a client that announces rt-signals as they are', async () => {
    expect(await dieOf(['rt-signals'])).toEqual({ exited: 'SIGRTMIN+3', listed: 'SIGRTMIN+3' });
  });

  it('reach a client that does not as SIGKILL, in CommandExited and in SessionList alike', async () => {
    expect(await dieOf([])).toEqual({ exited: 'SIGKILL', listed: 'SIGKILL' });
  });
});
