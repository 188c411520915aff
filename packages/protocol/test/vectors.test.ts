import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeBody, encodeFrame, validateClientMessage, validateDaemonMessage, type Message } from '../src/index.js';
import { clientSamples, daemonSamples } from './samples.js';

/**
 * Golden vectors: packages/protocol/vectors/<direction>/<Name>.json holds the exact frame bytes
 * (length prefix included) and the decoded value, with bytes written as {"$bytes": "hex"}.
 * A client in another language proves compatibility by decoding `hex` to `value` and back.
 * Regenerate deliberately with UPDATE_VECTORS=1 (a wire change must also bump the version).
 */
const dir = join(import.meta.dirname, '..', 'vectors');

function toJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('hex') };
  if (Array.isArray(value)) return value.map(toJson);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  return value;
}

function fromJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value && typeof value === 'object') {
    const bytes = (value as { $bytes?: unknown }).$bytes;
    if (typeof bytes === 'string') return new Uint8Array(Buffer.from(bytes, 'hex'));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromJson(v)]));
  }
  return value;
}

const sets = [
  { direction: 'client', samples: clientSamples as Record<string, Message>, validate: validateClientMessage },
  { direction: 'daemon', samples: daemonSamples as Record<string, Message>, validate: validateDaemonMessage },
] as const;

if (process.env.UPDATE_VECTORS) {
  for (const { direction, samples } of sets) {
    mkdirSync(join(dir, direction), { recursive: true });
    for (const [name, message] of Object.entries(samples)) {
      const vector = { name, hex: encodeFrame(message).toString('hex'), value: toJson(message) };
      writeFileSync(join(dir, direction, `${name}.json`), `${JSON.stringify(vector, null, 2)}\n`);
    }
  }
}

describe.each(sets)('golden vectors: $direction', ({ direction, samples, validate }) => {
  const files = existsSync(join(dir, direction)) ? readdirSync(join(dir, direction)) : [];

  it('has a vector for every message type', () => {
    expect(files.map((f) => f.replace(/\.json$/, '')).sort()).toEqual(Object.keys(samples).sort());
  });

  it.each(files)('%s decodes to its value and encodes to its bytes', (file) => {
    const vector = JSON.parse(readFileSync(join(dir, direction, file), 'utf8')) as { hex: string; value: unknown };
    const frame = Buffer.from(vector.hex, 'hex');
    // The first byte(s) are the varint body length; every sample is under 128 bytes or a 2-byte prefix.
    const prefix = frame[0]! < 0x80 ? 1 : 2;
    const length = prefix === 1 ? frame[0]! : (frame[0]! & 0x7f) + frame[1]! * 128;
    expect(length).toBe(frame.length - prefix);
    const expected = fromJson(vector.value);
    // Compared as JSON so that a Buffer view and a Uint8Array with the same bytes are equal.
    expect(toJson(validate(decodeBody(frame.subarray(prefix))))).toEqual(vector.value);
    expect(encodeFrame(expected as Message).toString('hex')).toBe(vector.hex);
  });
});
