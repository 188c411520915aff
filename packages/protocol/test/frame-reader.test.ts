import fc from 'fast-check';
import * as lps from 'length-prefixed-stream';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCodes, ProtocolError, varintLength, writeVarint } from '../src/index.js';
import { FrameReader } from '../src/frame-reader.js';
import { cutAt } from './channel-harness.js';

const MAX = 4096;

function varint(n: number): Buffer {
  const out = Buffer.alloc(varintLength(n));
  writeVarint(n, out, 0);
  return out;
}

type Outcome = { bodies: string[]; failed: boolean };

function readWithFrameReader(chunks: readonly Uint8Array[]): Outcome {
  const bodies: string[] = [];
  const reader = new FrameReader(MAX, (pieces, length) => {
    const body = Buffer.concat(pieces);
    expect(body.length).toBe(length);
    bodies.push(body.toString('hex'));
  });
  try {
    for (const chunk of chunks) reader.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe(ErrorCodes.FRAME_TOO_LARGE);
    return { bodies, failed: true };
  }
  return { bodies, failed: false };
}

function readWithLps(chunks: readonly Uint8Array[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const bodies: string[] = [];
    const decoder = lps.decode({ limit: MAX, allowEmpty: true });
    let failed = false;
    decoder.on('data', (body: Buffer) => bodies.push(body.toString('hex')));
    decoder.on('error', () => (failed = true));
    for (const chunk of chunks) if (!failed) decoder.write(Buffer.from(chunk));
    setImmediate(() => resolve({ bodies, failed }));
  });
}

const frame = fc.uint8Array({ maxLength: 300 }).map((body) => Buffer.concat([varint(body.length), body]));
/** Mostly frames, sometimes a stray byte or an oversized or overlong prefix. */
const wire = fc
  .array(fc.oneof({ arbitrary: frame, weight: 8 }, { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 3 }), weight: 1 },
    { arbitrary: fc.integer({ min: MAX + 1, max: 1 << 30 }).map(varint), weight: 1 }), { maxLength: 8 })
  .map((parts) => Buffer.concat(parts));

describe('FrameReader', () => {
  it('reads exactly what length-prefixed-stream reads, and fails where it fails, however the bytes are cut', async () => {
    await fc.assert(
      fc.asyncProperty(wire, fc.array(fc.nat(), { maxLength: 10 }), async (bytes, cuts) => {
        const chunks = cutAt(bytes, cuts);
        const ours = readWithFrameReader(chunks);
        const theirs = await readWithLps(chunks);
        expect(ours.failed).toBe(theirs.failed);
        // After a failure the two may differ in how much of the chunk they had already emitted.
        if (!ours.failed) expect(ours.bodies).toEqual(theirs.bodies);
      }),
      { numRuns: 1000 },
    );
  });

  it('hands a body that spans chunks over as views of those chunks, not a copy', () => {
    const body = Buffer.alloc(1000, 7);
    const bytes = Buffer.concat([varint(body.length), body]);
    const chunks = [bytes.subarray(0, 300), bytes.subarray(300, 700), bytes.subarray(700)];
    const seen: Buffer[][] = [];
    const reader = new FrameReader(MAX, (pieces) => seen.push([...pieces]));
    for (const c of chunks) reader.push(c);
    expect(seen.length).toBe(1);
    expect(seen[0]!.length).toBe(3);
    expect(seen[0]![1]).toBe(chunks[1]);
    expect(Buffer.concat(seen[0]!).equals(body)).toBe(true);
  });

  it('joins a body trickled in many small reads, so a peer cannot make it hold an object per byte', () => {
    const body = Buffer.from(Array.from({ length: 1000 }, (_, i) => i & 0xff));
    const bytes = Buffer.concat([varint(body.length), body]);
    const seen: Buffer[][] = [];
    const reader = new FrameReader(MAX, (pieces) => seen.push([...pieces]));
    for (let i = 0; i < bytes.length; i++) reader.push(bytes.subarray(i, i + 1));
    expect(seen.length).toBe(1);
    expect(seen[0]!.length).toBe(1);
    expect(seen[0]![0]!.equals(body)).toBe(true);
  });

  it('allocates for the bytes that came, not the length a trickled frame claims, and still reads it whole', () => {
    const limit = 1 << 20;
    const body = Buffer.from(Array.from({ length: limit }, (_, i) => (i * 7) & 0xff));
    const bytes = Buffer.concat([varint(body.length), body]);
    const seen: Buffer[] = [];
    const reader = new FrameReader(limit, (pieces) => seen.push(Buffer.concat(pieces)));
    const allocUnsafe = vi.spyOn(Buffer, 'allocUnsafe');
    try {
      // A prefix claiming 1 MiB, then 200 bytes a byte at a time: past MAX_PIECES, so joined.
      let at = 0;
      for (; at < varintLength(limit) + 200; at++) reader.push(bytes.subarray(at, at + 1));
      const largest = Math.max(0, ...allocUnsafe.mock.calls.map(([size]) => size));
      expect(largest).toBeLessThanOrEqual(4096);
      // The rest in reads of every size: the body is joined by doubling and arrives whole.
      for (let size = 1; at < bytes.length; size = (size * 3) % 70_000 + 1) {
        reader.push(bytes.subarray(at, at + size));
        at += size;
      }
    } finally {
      allocUnsafe.mockRestore();
    }
    expect(seen.length).toBe(1);
    expect(seen[0]!.equals(body)).toBe(true);
  });

  it('fails on a length over the limit as soon as the prefix is read, and stays failed', () => {
    const seen: number[] = [];
    const reader = new FrameReader(MAX, (_pieces, length) => seen.push(length));
    expect(() => reader.push(varint(MAX + 1))).toThrow(ProtocolError);
    reader.push(Buffer.concat([varint(1), Buffer.from([1])]));
    expect(seen).toEqual([]);
  });
});
