import { Duplex, PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeBody, encodeBody, encodeFrame, FrameChannel, validateDaemonMessage, type ClientMessage, type DaemonMessage,
} from '../src/index.js';
import { trailingPayload } from '../src/trailing-payload.js';
import { anyDaemonMessage } from './arbitraries.js';
import { cutAt, plain } from './channel-harness.js';

/** A body cut into pieces, as a socket's reads would hand it over. */
function pieces(body: Uint8Array, cuts: readonly number[]): Buffer[] {
  return cutAt(body, cuts).map((p) => Buffer.from(p.buffer, p.byteOffset, p.length));
}

const payload = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(n).fill(0x61)));
/** Fields a newer peer might add, before `data`: every scalar kind a head may hold. */
const extra = fc.dictionary(
  fc.constantFrom('a', 'zz', 'future', 'n'),
  fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double().filter((x) => !Object.is(x, -0)), fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 20 })),
  { maxKeys: 3 },
);

describe('trailingPayload', () => {
  it('finds the payload of any StreamOutput or Input, however the body is cut', () => {
    fc.assert(
      fc.property(fc.constantFrom('StreamOutput', 'Input'), payload, extra, fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), (type, data, more, cuts) => {
        const message = type === 'StreamOutput'
          ? { type, command: 'c1-x', fd: 1, offset: 99, ...more, data }
          : { type, command: 'c2', ...more, data };
        const body = encodeBody(message as never);
        const split = trailingPayload(pieces(body, cuts), body.length);
        expect(split).toBeDefined();
        expect(plain(decodeBody(split!.head))).toEqual(plain({ ...message, data: new Uint8Array(0) }));
        expect(Buffer.concat(split!.payload).equals(Buffer.from(data))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('is sound on any bytes: when it answers, the body decodes exactly as its head plus the payload', () => {
    const mutated = fc
      .tuple(fc.oneof(anyDaemonMessage.map((m) => encodeBody(m)), fc.anything({ maxDepth: 2 }).map((v) => { try { return encodeBody(v as never); } catch { return new Uint8Array([0xc1]); } })),
        fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 }))
      .map(([body, flips]) => {
        const out = Buffer.from(body);
        for (const { at, byte } of flips) if (out.length > 0) out[at % out.length] = byte;
        return out;
      });
    fc.assert(
      fc.property(mutated, fc.array(fc.nat(), { maxLength: 4 }), (body, cuts) => {
        if (body.length === 0) return;
        const split = trailingPayload(pieces(body, cuts), body.length);
        if (!split) return;
        const whole = attempt(() => decodeBody(body));
        const head = attempt(() => decodeBody(split.head));
        expect(whole.ok).toBe(head.ok);
        if (whole.ok && head.ok) {
          expect(plain(whole.value)).toEqual(plain({ ...(head.value as object), data: Buffer.concat(split.payload) }));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('declines a body whose last field is not a trailing `data` bin', () => {
    for (const message of [{ type: 'Pong', id: 1 }, { data: new Uint8Array(10), type: 'Input', command: 'c' }, { type: 'Input', command: 'c', data: 'text' }]) {
      const body = encodeBody(message as never);
      expect(trailingPayload(pieces(body, [3]), body.length)).toBeUndefined();
    }
  });
});

describe('a FrameChannel receiving output that spans reads', () => {
  it('delivers every message, and output as the same bytes at the same offsets, however the wire is cut', async () => {
    const output = fc.record({ type: fc.constant('StreamOutput' as const), command: fc.constantFrom('c1', 'c2'), fd: fc.constantFrom(1 as const, 2 as const), offset: fc.nat(1000), data: payload });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(output, anyDaemonMessage), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 20 }), async (messages, cuts) => {
        const wire = Buffer.concat(messages.map((m) => encodeFrame(m)));
        const received = await receive(cutAt(wire, cuts));
        // Each message sent arrives as itself, or, for output, as pieces of it in order: each a
        // StreamOutput of the same command and stream, at the offset of its first byte.
        let next = 0;
        for (const sent of messages) {
          if (sent.type !== 'StreamOutput' || sent.data.length === 0) {
            expect(plain(received[next++])).toEqual(plain(sent));
            continue;
          }
          const bytes: Buffer[] = [];
          let got = 0;
          while (got < sent.data.length) {
            const piece = received[next++];
            expect(piece).toMatchObject({ type: 'StreamOutput', command: sent.command, fd: sent.fd, offset: sent.offset + got });
            const data = (piece as typeof sent).data;
            expect(data.length).toBeGreaterThan(0);
            bytes.push(Buffer.from(data));
            got += data.length;
          }
          expect(got).toBe(sent.data.length);
          expect(Buffer.concat(bytes).equals(Buffer.from(sent.data))).toBe(true);
        }
        expect(next).toBe(received.length);
      }),
      { numRuns: 300 },
    );
  });
});

function attempt(fn: () => unknown): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: fn() };
  } catch {
    return { ok: false };
  }
}

/** Feeds the wire to a real FrameChannel on the client's side and collects what it emits. */
async function receive(chunks: readonly Uint8Array[]): Promise<DaemonMessage[]> {
  const input = new PassThrough();
  const output = new PassThrough();
  output.resume();
  const channel = new FrameChannel<DaemonMessage, ClientMessage>(Duplex.from({ readable: input, writable: output }), {
    maxFrameBytes: 1 << 20, validate: validateDaemonMessage,
  });
  const received: DaemonMessage[] = [];
  channel.on('message', (m) => received.push(m));
  channel.on('protocolError', (err) => received.push({ type: 'Error', code: err.code, message: err.message }));
  const closed = new Promise<void>((resolve) => channel.once('close', () => resolve()));
  for (const chunk of chunks) input.write(chunk);
  input.end();
  await closed;
  return received;
}
