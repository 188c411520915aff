import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeBody, encodeBody, encodeFrame, ErrorCodes, FATAL_STREAM_CODES, isErrorCode, ProtocolError, validateClientMessage,
  varintLength, writeVarint,
} from '../src/index.js';
import { anyClientMessage } from './arbitraries.js';
import { cutAt, feedChannel, type ChannelOutcome } from './channel-harness.js';

/**
 * Properties of the framing layer, fed through a real FrameChannel over a PassThrough duplex:
 * whatever bytes arrive, the channel emits typed messages or typed protocolError events (and
 * closes after a fatal one); it never throws.
 */

const MAX = 4096;

function varint(n: number): Buffer {
  const out = Buffer.alloc(varintLength(n));
  writeVarint(n, out, 0);
  return out;
}

function expectOnlyTyped(outcome: ChannelOutcome): void {
  for (const { error, fatal } of outcome.errors) {
    expect(error).toBeInstanceOf(ProtocolError);
    expect(isErrorCode(error.code)).toBe(true);
    expect(fatal).toBe(FATAL_STREAM_CODES.has(error.code));
  }
  // After a fatal error nothing else comes through: the stream is out of sync and closed.
  const fatalAt = outcome.errors.findIndex((e) => e.fatal);
  if (fatalAt !== -1) expect(outcome.errors.length).toBe(fatalAt + 1);
  expect(outcome.closed).toBe(true);
}

describe('FrameChannel under hostile bytes', () => {
  it('random bytes: only typed protocol errors, never a throw, and the channel closes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 2048 }), fc.array(fc.nat(), { maxLength: 8 }), async (bytes, cuts) => {
        expectOnlyTyped(await feedChannel(cutAt(bytes, cuts), MAX));
      }),
      { numRuns: 500 },
    );
  });

  it('a frame cut off on the wire at every position: no message, no error, a clean close', async () => {
    await fc.assert(
      fc.asyncProperty(anyClientMessage, async (message) => {
        const frame = encodeFrame(message);
        for (let p = 0; p < frame.length; p++) {
          const outcome = await feedChannel([frame.subarray(0, p)], 1 << 20);
          expect(outcome.messages).toEqual([]);
          expect(outcome.errors).toEqual([]);
          expect(outcome.closed).toBe(true);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('a body cut at every position but framed with its cut length: MALFORMED_FRAME, fatal', async () => {
    await fc.assert(
      fc.asyncProperty(anyClientMessage, async (message) => {
        const body = Buffer.from(encodeBody(message));
        for (let p = 0; p < body.length; p++) {
          // Straight through the codec first: an incomplete msgpack value never decodes.
          expect(() => decodeBody(body.subarray(0, p))).toThrow(ProtocolError);
          const outcome = await feedChannel([Buffer.concat([varint(p), body.subarray(0, p)])], 1 << 20);
          expect(outcome.messages).toEqual([]);
          expect(outcome.errors.map((e) => [e.error.code, e.fatal])).toEqual([[ErrorCodes.MALFORMED_FRAME, true]]);
          expect(outcome.closed).toBe(true);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('a truncated frame followed by valid frames: whatever comes out is typed', async () => {
    await fc.assert(
      fc.asyncProperty(anyClientMessage, fc.nat(), fc.array(anyClientMessage, { minLength: 1, maxLength: 4 }), async (cut, at, rest) => {
        const first = encodeFrame(cut);
        const wire = Buffer.concat([first.subarray(0, at % first.length), ...rest.map((m) => encodeFrame(m))]);
        const outcome = await feedChannel([wire], 1 << 20);
        expectOnlyTyped(outcome);
        for (const m of outcome.messages) expect(validateClientMessage(m)).toEqual(m);
      }),
      { numRuns: 300 },
    );
  });

  it('an oversized length prefix: FRAME_TOO_LARGE, fatal, before the body arrives', async () => {
    const hugeLength = fc.oneof(fc.integer({ min: MAX + 1, max: 4 * MAX }), fc.integer({ min: MAX + 1, max: Number.MAX_SAFE_INTEGER }));
    await fc.assert(
      fc.asyncProperty(hugeLength, fc.uint8Array({ maxLength: 64 }), async (length, tail) => {
        // Only the prefix and a little of the body are sent: the error must not wait for the rest.
        const outcome = await feedChannel([varint(length), tail], MAX);
        expect(outcome.messages).toEqual([]);
        expect(outcome.errors.map((e) => [e.error.code, e.fatal])).toEqual([[ErrorCodes.FRAME_TOO_LARGE, true]]);
        expect(outcome.errors[0]!.error.details).toMatchObject({ maxFrameBytes: MAX });
      }),
      { numRuns: 300 },
    );
  });

  it('an overlong varint prefix (more continuation bytes than the limit needs): FRAME_TOO_LARGE', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 3, max: 40 }), async (n) => {
        const prefix = Buffer.alloc(n, 0x80);
        const outcome = await feedChannel([prefix], MAX);
        expect(outcome.errors.map((e) => e.error.code)).toEqual([ErrorCodes.FRAME_TOO_LARGE]);
      }),
      { numRuns: 50 },
    );
  });

  it('a valid frame with bytes flipped, inserted or deleted: typed errors or valid messages only', async () => {
    const mutation = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), kind: fc.constantFrom('flip', 'insert', 'delete') });
    await fc.assert(
      fc.asyncProperty(fc.array(anyClientMessage, { minLength: 1, maxLength: 4 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (messages, mutations) => {
        let wire = Buffer.concat(messages.map((m) => encodeFrame(m)));
        for (const { at, byte, kind } of mutations) {
          const i = at % wire.length;
          if (kind === 'flip') wire[i] = byte;
          else if (kind === 'insert') wire = Buffer.concat([wire.subarray(0, i), Buffer.from([byte]), wire.subarray(i)]);
          else if (wire.length > 1) wire = Buffer.concat([wire.subarray(0, i), wire.subarray(i + 1)]);
        }
        const outcome = await feedChannel([wire], 1 << 20);
        expectOnlyTyped(outcome);
      }),
      { numRuns: 500 },
    );
  });

  it('well-formed msgpack that is not a message: a typed, non-fatal error per frame, and the stream goes on', async () => {
    const value = fc.anything({ withTypedArray: false, maxDepth: 3 });
    await fc.assert(
      fc.asyncProperty(value, async (v) => {
        let body: Uint8Array;
        try {
          body = encodeBody(v as never);
        } catch {
          return; // not encodable as msgpack (a symbol key, say); nothing to send
        }
        const ping = encodeFrame({ type: 'Ping', id: 1 });
        const outcome = await feedChannel([Buffer.concat([varint(body.length), body, ping])], 1 << 20);
        expectOnlyTyped(outcome);
        // Whatever the first frame was, the Ping after it still arrives unless the first was fatal.
        if (!outcome.errors.some((e) => e.fatal)) expect(outcome.messages.at(-1)).toEqual({ type: 'Ping', id: 1 });
      }),
      { numRuns: 500 },
    );
  });
});

describe('FrameChannel.send and the peer\'s frame limit', () => {
  it('sends a frame whose body is exactly the limit, refuses one byte more with LIMIT_EXCEEDED, and writes nothing for it', async () => {
    const { PassThrough } = await import('node:stream');
    const { ConchError, FrameChannel } = await import('../src/index.js');
    const stream = new PassThrough();
    const written: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => written.push(chunk));
    const channel = new FrameChannel(stream, { maxFrameBytes: MAX, validate: validateClientMessage });
    const input = (n: number) => ({ type: 'Input' as const, command: 'c1', data: new Uint8Array(n) });
    // The body of an Input around n data bytes: find the n whose body is exactly 1000.
    const overhead = encodeBody(input(0)).length;
    const body = (n: number) => encodeBody(input(n)).length;
    let n = 1000 - overhead;
    while (body(n) > 1000) n--;
    while (body(n + 1) <= 1000) n++;
    channel.setPeerMaxFrameBytes(body(n));
    expect(channel.send(input(n) as never)).toBe(true);
    expect(() => channel.send(input(n + 1) as never)).toThrow(ConchError);
    try {
      channel.send(input(n + 1) as never);
    } catch (err) {
      expect(err).toMatchObject({ code: ErrorCodes.LIMIT_EXCEEDED, details: { limit: 'maxFrameBytes', bytes: body(n + 1), maxFrameBytes: body(n) } });
    }
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(written)).toEqual(encodeFrame(input(n) as never));
    channel.destroy();
  });
});
