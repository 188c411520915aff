import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDaemon } from '../helpers/daemon-process.js';
import { RawClient } from '../helpers/raw-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1 << 20;

// Random bytes, so that any byte sent from the wrong place differs from the file at that offset.
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

describe('output integrity', () => {
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
});
