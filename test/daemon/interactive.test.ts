import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, VsockShellSession, type LogEvent } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { followOutput } from '../helpers/follow-output.js';
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

/**
 * The daemon's sessions other than `before`, once none is left or 4 s have passed: a session
 * killed by the client goes on the daemon's next turn, not at once.
 */
async function sessionsBeyond(root: VsockShellSession, before: ReadonlySet<string>): Promise<string[]> {
  let extra: string[] = [];
  for (let i = 0; i < 40; i++) {
    extra = (await root.list()).map((x) => x.session).filter((id) => !before.has(id));
    if (extra.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return extra;
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
    const out = followOutput(handle);
    await handle.write('through an older daemon\r');
    expect((await handle.wait()).exitCode).toBe(0);
    expect(await out.done).toContain('[through an older daemon]\r\n');
    await session.close();
    proxy.close();
  });

  it('follows the program across a dropped connection (keep policy), byte-exact, and goes on taking input', async () => {
    const proxy = await UnixProxy.start(join(mkdtempSync(join(tmpdir(), 'conch-proxy-')), 'p.sock'), daemon.socket);
    const events: LogEvent[] = [];
    const { session, handle } = await VsockShellSession.openTerminal(
      `unix:${proxy.path}`,
      // Lines numbered 1..n on each input line, so that a lost or repeated byte shows; a pause
      // every 500, so that most of them come after the cut.
      {
        pty: { cols: 200, rows: 24 },
        argv: ['sh', '-c', 'stty -echo; echo ready; while read n; do i=0; while [ $i -lt "$n" ]; do i=$((i+1)); echo "line $i"; [ $((i % 500)) = 0 ] && sleep 0.2; done; echo "end $n"; done'],
      },
      { onDisconnect: { policy: 'keep', keepMs: 30_000 }, log: (e) => events.push(e) },
    );
    const out = followOutput(handle);
    // Typed before stty -echo ran, the input would be echoed back.
    await out.until('ready\r\n');
    await handle.write('2000\r');
    await out.until('line 100\r\n');
    expect(proxy.cutAll()).toBeGreaterThan(0);
    // The cut came mid-stream: most of it is still to come.
    expect(out.text()).not.toContain('line 1000\r\n');
    await out.until('end 2000\r\n');
    await handle.write('3\r');
    await out.until('end 3\r\n');
    await handle.end();
    expect((await handle.wait()).exitCode).toBe(0);
    const text = await out.done;
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

  it('kills a forked terminal whose session came too late (connect timeout), program and all, on the connection that lives on', async () => {
    let released = 0;
    // Every plain session's reply goes through; a terminal's comes 1.5 s late (frames after it wait too).
    const proxy = await rewritingProxy(daemon.socket, async (m) => {
      if (m.type === 'SessionSpawned' && m.command !== undefined) {
        await new Promise((r) => setTimeout(r, 1500));
        released++;
      }
      return m;
    });
    const root = new VsockShellSession(`unix:${proxy.path}`);
    expect((await root.connect()).state).toBe('ready');
    const before = new Set((await root.list()).map((x) => x.session));
    await expect(root.forkTerminal({ pty: { cols: 80, rows: 24 }, argv: ['sleep', '60'] }, { connectTimeoutMs: 400 })).rejects.toMatchObject({ reason: 'connect-timeout' });
    for (let i = 0; i < 50 && released === 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(released).toBe(1);
    // The late session is created, then killed, its sleep with it: none is left but the root's.
    expect(await sessionsBeyond(root, before)).toEqual([]);
    await root.close();
    proxy.close();
  });

  it('kills the session of a daemon that answers a terminal without its program, on the connection that lives on', async () => {
    // A daemon that ignores `interactive`: a plain session comes back.
    const proxy = await rewritingProxy(daemon.socket, (m) => {
      if (m.type !== 'SessionSpawned') return m;
      const { command: _c, pid: _p, stdinWindow: _w, ...plain } = m;
      return plain;
    });
    const root = new VsockShellSession(`unix:${proxy.path}`);
    expect((await root.connect()).state).toBe('ready');
    const before = new Set((await root.list()).map((x) => x.session));
    await expect(root.forkTerminal({ pty: { cols: 80, rows: 24 }, argv: ['sleep', '60'] })).rejects.toMatchObject({ code: ErrorCodes.INVALID_MESSAGE });
    expect(await sessionsBeyond(root, before)).toEqual([]);
    await root.close();
    proxy.close();
  });

  it('a log hook that throws on "connected" does not undo the connect', async () => {
    const s = new VsockShellSession(daemon.endpoint, {
      log: (e) => {
        if (e.event === 'connected') throw new Error('a broken hook');
      },
    });
    expect((await s.connect()).state).toBe('ready');
    expect((await s.exec(['echo', 'connected'])).stdout).toBe('connected\n');
    await s.close();
  });

  it('rejects, never throws, on bad terminal options: the promise carries INVALID_ARGUMENT on every backend', async () => {
    // A synchronous throw would fail the test right here, before any expect.
    const opened = VsockShellSession.openTerminal(daemon.endpoint, { pty: { cols: 0, rows: 24 } });
    await expect(opened).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
    const root = new VsockShellSession(daemon.endpoint);
    await root.connect();
    const forked = root.forkTerminal({ pty: { cols: 80, rows: 24 }, argv: [] });
    await expect(forked).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
    await root.close();
  });
});
