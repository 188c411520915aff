import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, VsockShellSession } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { RawClient } from '../helpers/raw-client.js';
import { rewritingProxy, withoutCapability } from '../helpers/without-capability.js';

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

describe('an Error with a code this client does not know (a newer daemon may add codes)', () => {
  it('still fails the request it answers, with that code, instead of leaving it waiting', async () => {
    daemon = await startDaemon(['--log-level', 'error']);
    const proxy = await rewritingProxy(daemon.socket, (m) => (m.type === 'Error' && m.code === 'UNKNOWN_COMMAND' ? { ...m, code: 'COMMAND_FROM_THE_FUTURE' } : m));
    const s = new VsockShellSession(`unix:${proxy.path}`);
    try {
      const attached = s.attach('c999-nope').then(() => 'attached', (err: unknown) => err);
      const late = new Promise((resolve) => setTimeout(resolve, 10_000, 'still waiting'));
      expect(await Promise.race([attached, late])).toMatchObject({ name: 'RemoteError', code: 'COMMAND_FROM_THE_FUTURE' });
      // The connection goes on.
      expect((await s.exec(['echo', 'on'])).stdout).toBe('on\n');
    } finally {
      await s.close();
      proxy.close();
    }
  });
});
