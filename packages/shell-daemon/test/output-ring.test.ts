import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BLOCK_BYTES, idleBlocks, pinBlocks } from '../src/output-blocks.js';
import { compactQuietRings, OutputRing, QUIET_MS } from '../src/output-ring.js';

/** Appends, acks and reads against a model that keeps every byte ever written. */
describe('OutputRing', () => {
  it('reads any held range as the chunks it spans, byte-exact, without copying', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.oneof(
          fc.record({ op: fc.constant('append' as const), size: fc.integer({ min: 0, max: 40 }) }),
          fc.record({ op: fc.constant('ack' as const), at: fc.nat() }),
          fc.record({ op: fc.constant('read' as const), at: fc.nat(), max: fc.integer({ min: 1, max: 100 }) }),
        ), { maxLength: 60 }),
        (capacity, ops) => {
          const ring = new OutputRing(capacity);
          const written: number[] = [];
          for (const step of ops) {
            if (step.op === 'append') {
              ring.append(Buffer.from(Array.from({ length: step.size }, (_, i) => (written.length + i) & 0xff)));
              for (let i = 0; i < step.size; i++) written.push((written.length) & 0xff);
            } else if (step.op === 'ack') {
              ring.ack(step.at % (written.length + 1));
            } else {
              const held = ring.end - ring.start;
              const offset = ring.start + (held === 0 ? 0 : step.at % (held + 1));
              const parts = ring.read(offset, step.max);
              const want = written.slice(offset, Math.min(ring.end, offset + step.max));
              expect([...Buffer.concat(parts)]).toEqual(want);
              // Every part is a piece of a chunk, none empty, so a frame never carries padding.
              for (const part of parts) expect(part.length).toBeGreaterThan(0);
            }
            expect(ring.end).toBe(written.length);
            // Unacknowledged bytes are always held; history only up to capacity.
            expect(ring.start).toBeLessThanOrEqual(Math.max(ring.acked, 0));
            expect(ring.end - ring.start).toBeLessThanOrEqual(Math.max(capacity + 40, ring.unacked));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('gathers many small chunks up to max, the last one cut', () => {
    const ring = new OutputRing(1 << 20);
    const chunks = Array.from({ length: 100 }, (_, i) => Buffer.alloc(10, i));
    for (const c of chunks) ring.append(c);
    const parts = ring.read(5, 100);
    expect(parts.length).toBe(11);
    expect(parts[0]!.length).toBe(5);
    expect(parts[10]!.length).toBe(5);
    expect(parts[1]).toEqual(chunks[1]);
    expect(ring.read(1000, 10)).toEqual([]);
  });

  it('keeps acknowledged bytes as history until dropHistory, and none acknowledged after it', () => {
    const ring = new OutputRing(1 << 20);
    ring.append(Buffer.alloc(1000, 1));
    ring.ack(400);
    expect(ring.start).toBe(0);
    ring.dropHistory();
    expect(ring.start).toBe(400);
    // What is acknowledged later (the client's last credit, after the exit) goes too.
    ring.ack(1000);
    expect(ring.start).toBe(1000);
    expect(ring.read(1000, 10)).toEqual([]);
  });

  it('copies what it is handed: the caller may reuse its buffer at once', () => {
    const ring = new OutputRing(1 << 20);
    const lent = Buffer.from('first');
    ring.append(lent);
    lent.write('XXXXX');
    const big = Buffer.alloc(100_000, 7);
    ring.append(big);
    big.fill(0);
    expect(Buffer.concat(ring.read(0, 200_000))).toEqual(Buffer.concat([Buffer.from('first'), Buffer.alloc(100_000, 7)]));
  });

  it('keeps bulk output in blocks, as few pieces as the blocks allow, and a few lines at their size', () => {
    const ring = new OutputRing(4 << 20);
    for (let i = 0; i < 40; i++) ring.append(Buffer.alloc(16 * 1024, i));
    // 640 KiB in three blocks of 256 KiB: one piece per block.
    const parts = ring.read(0, 1 << 20);
    expect(parts.map((p) => p.length)).toEqual([BLOCK_BYTES, BLOCK_BYTES, 640 * 1024 - 2 * BLOCK_BYTES]);
    expect(parts.every((p) => p.buffer.byteLength === BLOCK_BYTES)).toBe(true);
    // A command's few lines are copied at their size, not into a block.
    const small = new OutputRing(4 << 20);
    small.append(Buffer.from('hello\n'));
    expect(small.read(0, 10)[0]!.buffer.byteLength).toBe(6);
  });

  it('gives a block back once all of it is trimmed, its last one too once the ring is empty', () => {
    const ring = new OutputRing(0);
    ring.append(Buffer.alloc(BLOCK_BYTES + 1000, 1));
    const before = idleBlocks();
    ring.ack(BLOCK_BYTES);
    expect(idleBlocks()).toBe(before + 1);
    ring.ack(BLOCK_BYTES + 1000);
    expect(idleBlocks()).toBe(before + 2);
    expect(ring.end - ring.start).toBe(0);
  });

  it('moves what it holds out of blocks into copies of its size when compacted, byte-exact', () => {
    const ring = new OutputRing(0);
    ring.append(Buffer.from('head '));
    const bulk = Buffer.alloc(BLOCK_BYTES + 3000);
    for (let i = 0; i < bulk.length; i++) bulk[i] = (i * 13) & 0xff;
    ring.append(bulk);
    ring.ack(BLOCK_BYTES - 100);
    const want = Buffer.concat(ring.read(ring.start, 1 << 20));
    const before = idleBlocks();
    ring.compact();
    // Both blocks go back: the last bytes of the first and those of the one being filled are copied out.
    expect(idleBlocks()).toBe(before + 2);
    const parts = ring.read(ring.start, 1 << 20);
    expect(Buffer.concat(parts).equals(want)).toBe(true);
    expect(parts.map((p) => p.buffer.byteLength)).toEqual(parts.map((p) => p.length));
  });

  it('gives the blocks of a ring that has gone quiet back, keeping its bytes, and leaves a busy one be', () => {
    const quiet = new OutputRing(1 << 20);
    const busy = new OutputRing(1 << 20);
    const bulk = Buffer.alloc(100 * 1024);
    for (let i = 0; i < bulk.length; i++) bulk[i] = (i * 31) & 0xff;
    quiet.append(bulk);
    busy.append(bulk);
    const want = Buffer.concat(quiet.read(0, 1 << 20));
    // As the sweep would see it QUIET_MS after the appends, with `busy` writing again just now.
    // (Whether the idle list grows depends on its cap and on the rings of the tests before.)
    const later = quiet.lastAppendAt + QUIET_MS;
    busy.lastAppendAt = later;
    compactQuietRings(later);
    expect(Buffer.concat(quiet.read(0, 1 << 20)).equals(want)).toBe(true);
    expect(quiet.read(0, 1 << 20).every((p) => p.buffer.byteLength === p.length)).toBe(true);
    expect(busy.read(0, 1 << 20)[0]!.buffer.byteLength).toBe(BLOCK_BYTES);
    // A compacted ring takes a block again when bulk output resumes.
    quiet.append(bulk);
    expect(quiet.read(100 * 1024, 1 << 20)[0]!.buffer.byteLength).toBe(BLOCK_BYTES);
    expect(Buffer.concat(quiet.read(0, 1 << 20)).equals(Buffer.concat([want, bulk]))).toBe(true);
    busy.compact();
    quiet.compact();
  });

  it('is compacted by the sweep, on its own, once quiet', async () => {
    const ring = new OutputRing(1 << 20);
    ring.append(Buffer.alloc(100 * 1024, 9));
    // Its last output long enough ago that the next sweep, at most QUIET_MS away, finds it quiet.
    ring.lastAppendAt -= QUIET_MS;
    const deadline = performance.now() + 2 * QUIET_MS;
    while (ring.read(0, 1)[0]!.buffer.byteLength === BLOCK_BYTES && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(ring.read(0, 1 << 20).every((p) => p.buffer.byteLength === p.length)).toBe(true);
    expect(Buffer.concat(ring.read(0, 1 << 20)).equals(Buffer.alloc(100 * 1024, 9))).toBe(true);
  }, 10_000);

  it('never reuses a block that a write in flight still holds, even once every byte of it is acknowledged', () => {
    const a = new OutputRing(0);
    a.append(Buffer.alloc(BLOCK_BYTES, 0xaa));
    const inFlight = a.read(0, BLOCK_BYTES);
    const written = pinBlocks(inFlight)!;
    expect(written).toBeDefined();
    // A client acknowledges the bytes before our socket has sent them (it lied, or attached
    // from a second connection); other streams take blocks meanwhile.
    a.ack(BLOCK_BYTES);
    const others = Array.from({ length: 20 }, () => new OutputRing(1 << 20));
    for (const ring of others) ring.append(Buffer.alloc(BLOCK_BYTES, 0x55));
    expect(inFlight.every((p) => p.every((b) => b === 0xaa))).toBe(true);
    // Once the write is done it goes back, and calling back twice does not free it twice.
    const idle = idleBlocks();
    written();
    written();
    expect(idleBlocks()).toBe(idle + 1);
    expect(pinBlocks([Buffer.from('not a block')])).toBeUndefined();
  });

  it('keeps every stream byte-exact while rings share recycled blocks and writes hold some of them', () => {
    fc.assert(
      fc.property(
        // Weighted towards what exposes early reuse: a send, its bytes all acknowledged, and
        // appends that take the freed blocks, before the write is done.
        fc.array(fc.oneof(
          { weight: 4, arbitrary: fc.record({ op: fc.constant('append' as const), ring: fc.nat(2), size: fc.integer({ min: 1, max: 3 * BLOCK_BYTES }) }) },
          { weight: 3, arbitrary: fc.record({ op: fc.constant('ack' as const), ring: fc.nat(2), at: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })) }) },
          { weight: 3, arbitrary: fc.record({ op: fc.constant('send' as const), ring: fc.nat(2), max: fc.integer({ min: 1, max: 2 * BLOCK_BYTES }) }) },
          { weight: 1, arbitrary: fc.record({ op: fc.constant('written' as const), which: fc.nat() }) },
        ), { maxLength: 40 }),
        (ops) => {
          // Each ring's bytes are a function of their offset and ring, so any byte out of place shows.
          const byte = (ring: number, offset: number) => (offset * 7 + ring * 101 + (offset >> 12)) & 0xff;
          // Two without history, so that acknowledgements free blocks at once.
          const rings = [0, 0, BLOCK_BYTES].map((history) => new OutputRing(history));
          const sent = [0, 0, 0];
          const inFlight: { ring: number; offset: number; parts: Buffer[]; done: (() => void) | undefined }[] = [];
          const check = (ring: number, offset: number, parts: readonly Buffer[]) => {
            const got = Buffer.concat(parts);
            const want = Buffer.allocUnsafe(got.length);
            for (let i = 0; i < want.length; i++) want[i] = byte(ring, offset + i);
            // equals() rather than toEqual: a megabyte compared byte by byte in expect is slow.
            if (!got.equals(want)) expect.fail(`ring ${ring}: bytes from ${offset} differ from what was appended`);
          };
          for (const step of ops) {
            const ring = 'ring' in step ? rings[step.ring]! : undefined;
            if (step.op === 'append') {
              const data = Buffer.allocUnsafe(step.size);
              for (let i = 0; i < step.size; i++) data[i] = byte(step.ring, ring!.end + i);
              ring!.append(data);
              // Lent: the caller scribbles over it as soon as append returns.
              data.fill(0xee);
            } else if (step.op === 'ack') {
              ring!.ack(Math.floor(ring!.start + (ring!.end - ring!.start) * step.at));
              sent[step.ring] = Math.max(sent[step.ring]!, ring!.start);
            } else if (step.op === 'send') {
              const offset = Math.max(sent[step.ring]!, ring!.start);
              const parts = ring!.read(offset, step.max);
              check(step.ring, offset, parts);
              inFlight.push({ ring: step.ring, offset, parts, done: pinBlocks(parts) });
              sent[step.ring] = offset + parts.reduce((n, p) => n + p.length, 0);
            } else if (inFlight.length > 0) {
              const [write] = inFlight.splice(step.which % inFlight.length, 1);
              write!.done?.();
            }
            // What a write in flight carries is what was read, whatever happened since.
            for (const write of inFlight) check(write.ring, write.offset, write.parts);
          }
          for (const [i, ring] of rings.entries()) check(i, ring.start, ring.read(ring.start, ring.end - ring.start));
          for (const write of inFlight) write.done?.();
        },
      ),
      { numRuns: 150 },
    );
  });
});
