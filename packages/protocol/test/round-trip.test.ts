import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_MESSAGE_TYPES, DAEMON_MESSAGE_TYPES, decodeBody, encodeBody, encodeFrame, validateClientMessage, validateDaemonMessage,
  varintLength, type Message,
} from '../src/index.js';
import { anyClientMessage, clientArbitraries, daemonArbitraries } from './arbitraries.js';
import { cutAt, feedChannel, plain } from './channel-harness.js';

/** Property: every message the types allow survives encode → frame → decode → validate unchanged. */

const sets = [
  { direction: 'client', arbitraries: clientArbitraries as Record<string, fc.Arbitrary<Message>>, types: CLIENT_MESSAGE_TYPES, validate: validateClientMessage },
  { direction: 'daemon', arbitraries: daemonArbitraries as Record<string, fc.Arbitrary<Message>>, types: DAEMON_MESSAGE_TYPES, validate: validateDaemonMessage },
] as const;

describe.each(sets)('round trip: $direction messages', ({ arbitraries, types, validate }) => {
  it('has an arbitrary for every message type the validator knows', () => {
    expect(Object.keys(arbitraries).sort()).toEqual([...types].sort());
  });

  it.each([...types])('%s: encode → frame → decode → validate gives an equal value', (type) => {
    fc.assert(
      fc.property(arbitraries[type]!, (message) => {
        const frame = encodeFrame(message);
        const body = encodeBody(message);
        const prefix = varintLength(body.length);
        // The frame is exactly the varint length and the body.
        expect(frame.length).toBe(prefix + body.length);
        expect(Buffer.from(frame.subarray(prefix)).equals(Buffer.from(body))).toBe(true);
        const decoded = validate(decodeBody(frame.subarray(prefix)));
        expect(plain(decoded)).toEqual(plain(message));
        // Validating is idempotent: the validated value goes round again unchanged.
        expect(plain(validate(decodeBody(encodeBody(decoded))))).toEqual(plain(message));
      }),
      { numRuns: 200 },
    );
  });
});

describe('round trip through a FrameChannel', () => {
  it('delivers any sequence of client messages, in order and equal, however the bytes are chunked', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(anyClientMessage, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), async (messages, cuts) => {
        const wire = Buffer.concat(messages.map((m) => Buffer.from(encodeFrame(m))));
        const outcome = await feedChannel(cutAt(wire, cuts));
        expect(outcome.errors).toEqual([]);
        expect(outcome.closed).toBe(true);
        expect(plain(outcome.messages)).toEqual(plain(messages));
      }),
      { numRuns: 150 },
    );
  });
});

describe('encodeFrame with a large payload (copied once, behind the encoded head)', () => {
  const sizes = [4095, 4096, 0xffff, 0x10000, 256 * 1024, 1 << 20];
  it.each(sizes)('%i bytes: the same bytes as the msgpack body', (size) => {
    const data = Buffer.alloc(size, 0x5a);
    const messages: Message[] = [
      { type: 'StreamOutput', command: 'c1-abcd', fd: 1, offset: 123456789, data },
      { type: 'Input', command: 'c2', data },
      // `data` not last: the general path.
      { data, type: 'Input', command: 'c3' } as Message,
    ];
    for (const message of messages) {
      const body = Buffer.from(encodeBody(message));
      const prefix = varintLength(body.length);
      const frame = encodeFrame(message);
      expect(frame.length).toBe(prefix + body.length);
      expect(frame.subarray(prefix).equals(body)).toBe(true);
    }
  });
});
