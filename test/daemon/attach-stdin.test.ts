import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { RawClient } from '../helpers/raw-client.js';

const QUEUE = 64 * 1024;
const CHUNK = 1024;
/** More than the pipe (64 KiB) and the queue (QUEUE) can hold between them. */
const OFFERED = 200;

let daemon: DaemonProcess;
beforeAll(async () => {
  daemon = await startDaemon(['--log-level', 'error', '--max-queued-stdin', String(QUEUE)]);
});
afterAll(async () => {
  await daemon?.stop();
});

describe('attaching to a command whose stdin queue is full', () => {
  it('gets no stdin credit until the command reads, then credit as it drains, and no byte is lost', async () => {
    // The first client fills the pipe and then the daemon's queue behind it (a raw client,
    // so nothing holds it to its credit), and goes away; its session is kept, with the queue.
    const a = await RawClient.connect(daemon.socket);
    await a.hello();
    a.send({ type: 'SpawnSession', id: 1, onDisconnect: { policy: 'keep', keepMs: 30_000 } });
    const { session } = (await a.next((f) => f.type === 'SessionSpawned')) as { session: string };
    // The command reads nothing until the test opens the gate (a fifo), whatever the machine's load.
    const dir = mkdtempSync(join(tmpdir(), 'conch-attach-'));
    const gate = join(dir, 'gate');
    execFileSync('mkfifo', [gate]);
    a.send({ type: 'ExecCommand', id: 2, session, argv: ['sh', '-c', `cat ${gate} > /dev/null; wc -c`], stdin: true });
    const { command } = (await a.next((f) => f.type === 'CommandStarted')) as { command: string };
    for (let i = 0; i < OFFERED; i++) a.send({ type: 'Input', command, data: new Uint8Array(CHUNK).fill(97) });
    // What did not fit is refused, typed, chunk by chunk; the rest is queued.
    a.send({ type: 'Ping', id: 3 });
    await a.next((f) => f.type === 'Pong');
    const refused = a.frames.filter((f) => f.type === 'Error' && f.code === ErrorCodes.LIMIT_EXCEEDED).length;
    const accepted = OFFERED - refused;
    expect(refused).toBeGreaterThan(0);
    expect(accepted * CHUNK).toBeGreaterThanOrEqual(QUEUE);
    a.close();

    const b = await RawClient.connect(daemon.socket);
    await b.hello();
    b.send({ type: 'Attach', id: 1, command, stdoutOffset: 0, stderrOffset: 0 });
    const attached = (await b.next((f) => f.type === 'Attached')) as { stdinWindow: number; stdin: boolean };
    expect(attached.stdin).toBe(true);
    // The queue is full: less room than one more chunk.
    expect(attached.stdinWindow).toBeLessThan(CHUNK);
    // None comes while the command does not read.
    await new Promise((r) => setTimeout(r, 300));
    expect(b.frames.filter((f) => f.type === 'Credit' && f.fd === 0)).toEqual([]);
    // Open the gate (the writer's open waits for cat's, which is waiting already): credit comes
    // once `wc` reads, for this client, which now follows the command.
    writeFileSync(gate, '');
    let credit = attached.stdinWindow;
    while (credit < CHUNK) {
      const c = (await b.next((f) => f.type === 'Credit' && f.fd === 0, 15_000)) as { bytes: number };
      credit += c.bytes;
    }
    b.send({ type: 'Input', command, data: new Uint8Array(CHUNK).fill(98) });
    b.send({ type: 'EndInput', command });
    const out = (await b.next((f) => f.type === 'StreamOutput' && f.fd === 1, 15_000)) as { data: Uint8Array };
    expect(Buffer.from(out.data).toString().trim()).toBe(String((accepted + 1) * CHUNK));
    expect(await b.next((f) => f.type === 'CommandExited', 15_000)).toMatchObject({ exitCode: 0 });
    expect(b.frames.filter((f) => f.type === 'Error')).toEqual([]);
    b.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
