import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, VsockShellSession, type CommandHandle, type LogEvent } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { RawClient } from '../helpers/raw-client.js';
import { UnixProxy } from '../helpers/unix-proxy.js';
import { rewritingProxy } from '../helpers/without-capability.js';

/**
 * Interactive sessions (SpawnSession with `interactive`) on the wire and in the SDK, where the
 * conformance suite cannot reach: the reply's fields, an older daemon's reply, a dropped link.
 */
let daemon: DaemonProcess;
beforeAll(async () => {
  daemon = await startDaemon(['--log-level', 'error']);
});
afterAll(async () => {
  await daemon.stop();
});

async function collect(h: CommandHandle): Promise<string> {
  let text = '';
  for await (const { data } of h) text += Buffer.from(data).toString();
  return text;
}

describe('interactive sessions', () => {
  it('on the wire: SessionSpawned names the program, its pid and its stdin credit; its output and exit follow as a command\'s', async () => {
    const raw = await RawClient.connect(daemon.socket);
    const welcome = await raw.hello();
    raw.send({ type: 'SpawnSession', id: 1, interactive: { argv: ['sh', '-c', 'read a; echo "[$a]"; exit 4'], pty: { cols: 80, rows: 24 } } });
    const spawned = await raw.next((f) => f.id === 1);
    expect(spawned).toMatchObject({
      type: 'SessionSpawned', session: expect.any(String), command: expect.any(String), pid: expect.any(Number),
      stdinWindow: (welcome.limits as { maxQueuedStdinBytes: number }).maxQueuedStdinBytes,
    });
    raw.send({ type: 'Input', command: spawned.command, data: new TextEncoder().encode('typed\r') });
    const exited = await raw.next((f) => f.type === 'CommandExited' && f.command === spawned.command);
    expect(exited).toMatchObject({ exitCode: 4, signal: null });
    const output = raw.frames.filter((f) => f.type === 'StreamOutput' && f.command === spawned.command);
    expect(Buffer.concat(output.map((f) => f.data as Uint8Array)).toString()).toContain('[typed]\r\n');
    // The session is an ordinary one besides: it takes commands.
    raw.send({ type: 'ExecCommand', id: 2, session: spawned.session, argv: ['true'] });
    expect(await raw.next((f) => f.id === 2)).toMatchObject({ type: 'CommandStarted' });
    raw.socket.destroy();
  });

  it('writes to the program of a daemon from before SessionSpawned.stdinWindow, on the credit such a daemon granted', async () => {
    const proxy = await rewritingProxy(daemon.socket, (m) => {
      if (m.type !== 'SessionSpawned') return m;
      const { stdinWindow: _, ...older } = m;
      return older;
    });
    const { session, handle } = await VsockShellSession.openTerminal(`unix:${proxy.path}`, { pty: { cols: 80, rows: 24 }, argv: ['sh', '-c', 'read a; echo "[$a]"'] });
    const text = collect(handle);
    await handle.write('through an older daemon\r');
    expect((await handle.wait()).exitCode).toBe(0);
    expect(await text).toContain('[through an older daemon]\r\n');
    await session.close();
    proxy.close();
  });

  it('follows the program across a dropped connection (keep policy), byte-exact, and goes on taking input', async () => {
    const proxy = await UnixProxy.start(join(mkdtempSync(join(tmpdir(), 'conch-proxy-')), 'p.sock'), daemon.socket);
    const events: LogEvent[] = [];
    const { session, handle } = await VsockShellSession.openTerminal(
      `unix:${proxy.path}`,
      // Lines numbered 1..n on each input line, so that a lost or repeated byte shows.
      { pty: { cols: 200, rows: 24 }, argv: ['sh', '-c', 'stty -echo; echo ready; while read n; do i=0; while [ $i -lt "$n" ]; do i=$((i+1)); echo "line $i"; done; echo "end $n"; done'] },
      { onDisconnect: { policy: 'keep', keepMs: 30_000 }, log: (e) => events.push(e) },
    );
    let text = '';
    const reading = (async () => {
      for await (const { data } of handle) text += Buffer.from(data).toString();
    })();
    const until = async (part: string) => {
      for (let i = 0; i < 400 && !text.includes(part); i++) await new Promise((r) => setTimeout(r, 50));
      expect(text).toContain(part);
    };
    // Typed before stty -echo ran, the input would be echoed back.
    await until('ready\r\n');
    await handle.write('2000\r');
    await until('line 100\r\n');
    expect(proxy.cutAll()).toBeGreaterThan(0);
    await until('end 2000\r\n');
    await handle.write('3\r');
    await until('end 3\r\n');
    await handle.end();
    expect((await handle.wait()).exitCode).toBe(0);
    await reading;
    const expected = 'ready\r\n' + [2000, 3].map((n) => `${Array.from({ length: n }, (_, i) => `line ${i + 1}\r\n`).join('')}end ${n}\r\n`).join('');
    expect(text).toBe(expected);
    expect(events.map((e) => e.event)).toContain('reconnected');
    expect(events.filter((e) => e.event.startsWith('command '))).toEqual([
      { event: 'command started', command: handle.id, pid: handle.pid },
      { event: 'command exited', command: handle.id, exitCode: 0, signal: null },
    ]);
    await session.close();
    proxy.close();
  });

  it('reports the program lost when the daemon restarted, and the session carries on in a new daemon session', async () => {
    const own = await startDaemon(['--log-level', 'error']);
    const { session, handle } = await VsockShellSession.openTerminal(own.endpoint, { pty: { cols: 80, rows: 24 }, argv: ['sleep', '60'] }, { onDisconnect: { policy: 'keep', keepMs: 30_000 } });
    await own.stop('SIGKILL');
    const again = await startDaemon(['--log-level', 'error'], { socket: own.socket });
    await expect(handle.wait()).rejects.toMatchObject({ code: ErrorCodes.COMMAND_LOST, message: expect.stringContaining('restarted') });
    expect((await session.exec(['echo', 'new daemon'])).stdout).toBe('new daemon\n');
    await session.close();
    await again.stop();
  });

  it('rejects with UnavailableError, the reason and nothing left open, when there is no daemon', async () => {
    await expect(VsockShellSession.openTerminal('unix:/nonexistent/conchd.sock', { pty: { cols: 80, rows: 24 } })).rejects.toMatchObject({
      code: ErrorCodes.UNAVAILABLE, reason: 'connect-refused',
    });
    await expect(VsockShellSession.openTerminal(undefined, { pty: { cols: 80, rows: 24 } })).rejects.toMatchObject({ reason: 'not-configured' });
  });
});
