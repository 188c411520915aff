import { once } from 'node:events';
import { PassThrough, Writable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { JoinedDuplex } from '../src/listeners/joined-duplex.js';

/** A Writable that holds each write until the test lets it complete. */
function heldWritable() {
  const held: { chunk: Buffer; done: (err?: Error | null) => void }[] = [];
  const written: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      held.push({ chunk, done });
    },
  });
  const completeOne = () => {
    const next = held.shift()!;
    written.push(next.chunk);
    next.done();
  };
  return { stream, held, written, completeOne };
}

describe('JoinedDuplex', () => {
  it('calls a write back only once the inner stream has written it, and a batch once all of it is', async () => {
    const inner = heldWritable();
    const duplex = new JoinedDuplex(new PassThrough(), inner.stream);
    let first = false;
    // Small, so the inner stream takes it at once (its write returns true): what
    // Duplex.from({ readable, writable }) calls back on.
    duplex.write(Buffer.from('header'), () => (first = true));
    await tick();
    expect(inner.held).toHaveLength(1);
    expect(first).toBe(false);
    inner.completeOne();
    await tick();
    expect(first).toBe(true);

    // Written while one is in flight, these go as one batch; the callback waits for all of it.
    let batch = false;
    duplex.write(Buffer.from('a'));
    await tick();
    duplex.write(Buffer.from('b'));
    duplex.write(Buffer.from('c'), () => (batch = true));
    // Each write done but the last leaves the callback waiting.
    for (;;) {
      await tick();
      expect(inner.held).toHaveLength(1);
      const isLast = inner.held[0]!.chunk.toString() === 'c';
      expect(batch).toBe(false);
      inner.completeOne();
      if (isLast) break;
    }
    await tick();
    expect(batch).toBe(true);
    expect(Buffer.concat(inner.written).toString()).toBe('headerabc');
  });

  it('carries bytes both ways, ends reading at the inner EOF, and finishes the inner stream on end()', async () => {
    const readable = new PassThrough();
    const writable = new PassThrough();
    const duplex = new JoinedDuplex(readable, writable);
    const got: Buffer[] = [];
    duplex.on('data', (chunk: Buffer) => got.push(chunk));
    readable.end('from the peer');
    await once(duplex, 'end');
    expect(Buffer.concat(got).toString()).toBe('from the peer');
    const out: Buffer[] = [];
    writable.on('data', (chunk: Buffer) => out.push(chunk));
    // Half-open: the peer's EOF leaves our side writable until we end it.
    const finished = once(writable, 'finish');
    const closed = once(duplex, 'close');
    duplex.end('to the peer');
    await finished;
    await closed;
    expect(Buffer.concat(out).toString()).toBe('to the peer');
  });

  it('stops the inner readable while nobody reads, and lets it go on once someone does', async () => {
    const readable = new PassThrough();
    const duplex = new JoinedDuplex(readable, new PassThrough());
    duplex.pause();
    readable.write(Buffer.alloc(64 * 1024));
    await tick();
    expect(readable.isPaused()).toBe(true);
    let n = 0;
    duplex.on('data', (chunk: Buffer) => (n += chunk.length));
    duplex.resume();
    readable.write(Buffer.alloc(1000));
    await tick();
    await tick();
    expect(n).toBe(64 * 1024 + 1000);
    expect(readable.isPaused()).toBe(false);
  });

  it('is destroyed when either inner stream fails or its readable closes without an end', async () => {
    for (const fail of ['readable', 'writable', 'closed'] as const) {
      const readable = new PassThrough();
      const writable = new PassThrough();
      const duplex = new JoinedDuplex(readable, writable);
      const errors: Error[] = [];
      duplex.on('error', (err) => errors.push(err));
      // Not events.once: it rejects on the 'error' this test expects.
      const closed = new Promise((resolve) => duplex.once('close', resolve));
      if (fail === 'readable') readable.destroy(new Error('EIO'));
      else if (fail === 'writable') writable.destroy(new Error('EPIPE'));
      else readable.destroy();
      await closed;
      expect(errors.map((e) => e.message)).toEqual(fail === 'closed' ? [] : [fail === 'readable' ? 'EIO' : 'EPIPE']);
      // Both inner streams go with it.
      expect(readable.destroyed && writable.destroyed).toBe(true);
    }
  });
});
