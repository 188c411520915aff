import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_FRAME_BYTES, FrameChannel, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN, validateDaemonMessage,
  type ClientMessage, type DaemonMessage,
} from '@conch/protocol';
import { Daemon } from '../src/daemon.js';

/** A client of bare frames: what it sends, and the daemon's messages as they come. */
async function client(path: string) {
  const socket = createConnection(path);
  await once(socket, 'connect');
  const channel = new FrameChannel<DaemonMessage, ClientMessage>(socket, { maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, validate: validateDaemonMessage });
  const waiters: { match: (m: DaemonMessage) => boolean; resolve: (m: DaemonMessage) => void }[] = [];
  const listeners: ((m: DaemonMessage) => void)[] = [];
  channel.on('message', (m) => {
    for (const listener of listeners) listener(m);
    const i = waiters.findIndex((w) => w.match(m));
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(m);
  });
  const next = <T extends DaemonMessage['type']>(type: T, match: (m: Extract<DaemonMessage, { type: T }>) => boolean = () => true) =>
    new Promise<Extract<DaemonMessage, { type: T }>>((resolve) =>
      waiters.push({ match: (m) => m.type === type && match(m as Extract<DaemonMessage, { type: T }>), resolve: resolve as (m: DaemonMessage) => void }),
    );
  return { socket, channel, next, onMessage: (listener: (m: DaemonMessage) => void) => listeners.push(listener) };
}

/**
 * An exited command stays subscribed to its connection while it is retained (its client may
 * still credit its tail), so a connection that has run many commands holds many. A drain of
 * that connection must wake only the command that stopped on the congestion: waking them all
 * cost a stream after 10k execs 2.5× its speed (bench/README.md).
 */
describe('a drain of a congested connection', () => {
  let dir: string;
  let daemon: Daemon;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'conch-drain-'));
    daemon = new Daemon({ listen: [`unix:${join(dir, 'd.sock')}`], logLevel: 'silent' });
    await daemon.start();
  });
  afterEach(async () => {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pumps the command that stopped on it, not the exited commands the connection streamed before, and the stream completes', async () => {
    const c = await client(join(dir, 'd.sock'));
    c.channel.send({
      type: 'Hello', minVersion: PROTOCOL_VERSION_MIN, maxVersion: PROTOCOL_VERSION_MAX, nonce: 1,
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, capabilities: [], client: 'drain-test',
    });
    await c.next('Welcome');
    c.channel.send({ type: 'SpawnSession', id: 1 });
    const { session } = await c.next('SessionSpawned');

    // Commands that have exited, and whose exits were sent: nothing left for a drain to do.
    const exited: string[] = [];
    for (let i = 0; i < 50; i++) {
      const started = c.next('CommandStarted', (m) => m.id === 100 + i);
      c.channel.send({ type: 'ExecCommand', id: 100 + i, session, argv: ['/bin/true'] });
      const { command } = await started;
      await c.next('CommandExited', (m) => m.command === command);
      exited.push(command);
    }
    let strayPumps = 0;
    for (const id of exited) {
      const command = daemon.command(id);
      const pump = command.pump.bind(command);
      command.pump = () => {
        strayPumps++;
        pump();
      };
    }

    // 16 MiB while the client reads nothing: the daemon's socket backs up and the command stops
    // on the congestion, to be woken by the drain once the client reads again.
    const total = 16 << 20;
    let received = 0;
    let big: string | undefined;
    c.onMessage((m) => {
      if (m.type === 'CommandStarted' && m.id === 999) big = m.command;
      if (m.type === 'StreamOutput' && m.command === big) {
        received += m.data.length;
        c.channel.send({ type: 'Credit', command: m.command, fd: m.fd, bytes: m.data.length });
      }
    });
    c.socket.pause();
    const drained = once(c.socket, 'resume');
    c.channel.send({ type: 'ExecCommand', id: 999, session, argv: ['head', '-c', String(total), '/dev/zero'] });
    // Until the daemon holds a full window unsent or in flight: then it is congested.
    const window = daemon.limits.defaultWindowBytes;
    for (;;) {
      const running = daemon.listSessions(1 << 20).flatMap((s) => s.commands).find((x) => x.state === 'running' && x.argv[0] === 'head');
      if (running && running.stdoutBytes >= window) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    c.socket.resume();
    await drained;
    const exit = await c.next('CommandExited', (m) => m.command === big);
    expect(exit.exitCode).toBe(0);
    expect(received).toBe(total);
    expect(strayPumps).toBe(0);
    c.channel.destroy();
  });
});
