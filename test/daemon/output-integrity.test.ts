import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { VsockShellSession } from '@conch/shell-client';
import { startDaemon } from '../helpers/daemon-process.js';
import { RawClient } from '../helpers/raw-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1 << 20;

// Random bytes, so that any byte sent from the wrong place or from memory reused too early
// differs from the file at that offset.
const dir = mkdtempSync(join(tmpdir(), 'conch-output-integrity-'));
const FILE = join(dir, 'random');
const BYTES = randomBytes(24 * MiB);
writeFileSync(FILE, BYTES);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Checks every StreamOutput frame of `command` on fd 1 against the file; returns how many bytes, contiguous from `from`. */
function expectFramesMatchFile(frames: Record<string, unknown>[], command: string, from: number): number {
  let next = from;
  for (const f of frames) {
    if (f.type !== 'StreamOutput' || f.command !== command || f.fd !== 1) continue;
    const data = Buffer.from(f.data as Uint8Array);
    expect(f.offset).toBe(next);
    // One comparison per frame, not per byte: a mismatch names the frame, not 256 Ki failures.
    expect(data.equals(BYTES.subarray(next, next + data.length)), `bytes at offset ${next}`).toBe(true);
    next += data.length;
  }
  return next - from;
}

async function startCat(raw: RawClient, window: number): Promise<string> {
  await raw.hello();
  raw.send({ type: 'SpawnSession', id: 1 });
  const { session } = await raw.next((f) => f.id === 1);
  raw.send({ type: 'ExecCommand', id: 2, session, argv: ['cat', FILE], window });
  const started = await raw.next((f) => f.id === 2);
  expect(started.type).toBe('CommandStarted');
  return started.command as string;
}

/** Resolves once everything the daemon queued on `raw` before now has arrived (replies keep their order). */
async function drained(raw: RawClient, id: number): Promise<void> {
  raw.send({ type: 'Ping', id });
  await raw.next((f) => f.type === 'Pong' && f.id === id, 30_000);
}

describe('output integrity', () => {
  it.each(['unix', 'stdio'] as const)('never reuses output memory that a backed-up connection (%s) still has queued, when a second connection takes the command over', async (transport) => {
    // The output of one command goes to two connections in turn. The first stops reading, so
    // frames back up in its socket's buffers, as views into the ring's blocks. The second
    // attaches and reads on; its credit trims the ring past those frames and the ring reuses
    // blocks for new output. Were a block reused while the first socket still held a view
    // into it, the first connection would get the new bytes under the old offsets.
    // stdio is a Duplex over two streams (listeners/joined-duplex.ts), where a write's callback
    // must wait for the inner stream's, not for it to have queued the bytes.
    const daemon = await startDaemon(['--ring-bytes', String(MiB)], { stdio: transport === 'stdio' });
    const first = transport === 'unix'
      ? await RawClient.connect(daemon.socket)
      : RawClient.over(Duplex.from({ readable: daemon.child.stdout!, writable: daemon.child.stdin! }));
    const command = await startCat(first, 64 * MiB);
    first.pauseReading();
    await sleep(300);

    const second = new VsockShellSession(daemon.endpoint);
    const { handle, dropped } = await second.attach(command, { stdoutOffset: 0, stderrOffset: 0 });
    const chunks: Buffer[] = [];
    for await (const { fd, data } of handle) if (fd === 1) chunks.push(Buffer.from(data));
    expect(await handle.wait()).toMatchObject({ exitCode: 0, stdoutBytes: BYTES.length });
    const got = Buffer.concat(chunks);
    expect(dropped.stdout + got.length).toBe(BYTES.length);
    expect(got.equals(BYTES.subarray(dropped.stdout)), 'what the second connection got').toBe(true);

    first.resumeReading();
    await drained(first, 3);
    // What the first connection had queued when it stopped reading: a frame (congestion stops
    // the pump after one), of which the kernel took what fits in its socket buffer and the rest
    // waited in the daemon, as a view into a block, all the while the ring moved on.
    const firstGot = expectFramesMatchFile(first.frames, command, 0);
    expect(firstGot).toBeGreaterThan(0);
    first.close();
    await second.close();
    await daemon.stop();
  }, 60_000);

  it('sends no byte twice and skips none for a client that credits far more than it was sent', async () => {
    // Credit is for bytes consumed, so a client can only honestly credit what it was sent.
    // One that credits ahead must not let the ring discard bytes it has not been sent yet.
    const daemon = await startDaemon(['--ring-bytes', String(MiB)]);
    const raw = await RawClient.connect(daemon.socket);
    const command = await startCat(raw, 4096);
    // The client stops reading, the ring fills (the first 4 KiB sent, the rest waiting for
    // credit), and only then does the client credit a gigabyte: the daemon sends on until our
    // socket is backed up, and the ring must keep every byte it has not sent, however far
    // ahead the credit says the client has read.
    raw.pauseReading();
    await sleep(300);
    raw.send({ type: 'Credit', command, fd: 1, bytes: 1 << 30 });
    await sleep(500);
    raw.resumeReading();
    const exited = await raw.next((f) => f.type === 'CommandExited' && f.command === command, 30_000);
    expect(exited).toMatchObject({ exitCode: 0, stdoutBytes: BYTES.length });
    expect(expectFramesMatchFile(raw.frames, command, 0)).toBe(BYTES.length);
    raw.close();
    await daemon.stop();
  }, 60_000);

  it('streams eight outputs at once through one connection, each byte-exact, to a reader that stalls', async () => {
    // Eight rings taking and giving back blocks from one pool, with the reader pausing so that
    // rings fill, trim and refill out of step.
    const daemon = await startDaemon(['--ring-bytes', String(MiB)]);
    const s = new VsockShellSession(daemon.endpoint, { windowBytes: 256 * 1024 });
    const results = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const h = await s.spawn(['cat', FILE]);
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const { fd, data } of h) {
        if (fd !== 1) continue;
        chunks.push(Buffer.from(data));
        if (++n % (16 + i) === 0) await sleep(5);
      }
      return { result: await h.wait(), bytes: Buffer.concat(chunks) };
    }));
    for (const { result, bytes } of results) {
      expect(result.exitCode).toBe(0);
      expect(bytes.length).toBe(BYTES.length);
      expect(bytes.equals(BYTES)).toBe(true);
    }
    await s.close();
    await daemon.stop();
  }, 120_000);
});
