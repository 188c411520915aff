import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OutputRing } from '../src/output-ring.js';

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
});
