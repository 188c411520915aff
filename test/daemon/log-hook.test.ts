import { afterAll, describe, expect, it } from 'vitest';
import { LocalProcessShellSession, VsockShellSession, type LogEvent, type ShellSession } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

/** The log hook reports each command's start and end, in the same words on both backends. */
let daemon: DaemonProcess | undefined;
afterAll(async () => {
  await daemon?.stop();
});

const backends: { name: string; open: (log: (e: LogEvent) => void) => Promise<ShellSession> }[] = [
  {
    name: 'VsockShellSession',
    open: async (log) => {
      daemon ??= await startDaemon(['--log-level', 'error']);
      return new VsockShellSession(daemon.endpoint, { log });
    },
  },
  { name: 'LocalProcessShellSession', open: async (log) => new LocalProcessShellSession({ log }) },
];

describe.each(backends)('the log hook: $name', ({ open }) => {
  it('reports each command started (with its pid) and exited (with its status)', async () => {
    const events: LogEvent[] = [];
    const s = await open((e) => events.push(e));
    const ok = await s.spawn(['true']);
    await ok.wait();
    const killed = await s.spawn(['sleep', '30']);
    await killed.kill('SIGKILL');
    await killed.wait();
    await new Promise((r) => setImmediate(r));
    const commands = events.filter((e) => e.event.startsWith('command '));
    expect(commands).toEqual([
      { event: 'command started', command: ok.id, pid: ok.pid },
      { event: 'command exited', command: ok.id, exitCode: 0, signal: null },
      { event: 'command started', command: killed.id, pid: killed.pid },
      { event: 'command exited', command: killed.id, exitCode: null, signal: 'SIGKILL' },
    ]);
    await s.close();
  });
});
