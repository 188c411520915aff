import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { encodeBody, encodeFrame, varintLength, writeVarint, type Message } from '@conch/protocol';
import { anyClientMessage, anyDaemonMessage } from '../../packages/protocol/test/arbitraries.js';

/**
 * Frames for fuzzing a live conchd, from a seeded generator so that a failure can be replayed
 * (the seed is printed). Two families:
 * - `wellFormed()`: a frame whose length prefix is right and whose body is msgpack, but whose
 *   message is valid, of the wrong kind, missing fields, unknown, nested, huge or for ids that do
 *   not exist. The daemon must answer each with exactly one reply and keep the connection.
 * - `hostile()`: bytes after which the stream cannot be trusted: random bytes, frames with
 *   bytes flipped, inserted or cut, huge or overlong length prefixes, empty frames, a Hello
 *   with no common version. The daemon may close the connection, and must stay up.
 */

/** mulberry32: small, fast, seeded. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

type Fields = Record<string, unknown>;

export function varint(n: number): Buffer {
  const out = Buffer.alloc(varintLength(n));
  writeVarint(n, out, 0);
  return out;
}

function frameOf(body: Uint8Array): Buffer {
  return Buffer.concat([varint(body.length), body]);
}

/** The client golden vectors (packages/protocol/vectors/client), decoded back into messages. */
function vectorMessages(): Fields[] {
  const dir = join(import.meta.dirname, '../../packages/protocol/vectors/client');
  return readdirSync(dir).map((file) => {
    const { value } = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { value: Fields };
    return JSON.parse(JSON.stringify(value), (_k, v: unknown) =>
      v && typeof v === 'object' && typeof (v as { $bytes?: unknown }).$bytes === 'string' ? Buffer.from((v as { $bytes: string }).$bytes, 'hex') : v,
    ) as Fields;
  });
}

/**
 * A message that is valid but harmless beside real sessions: ids that cannot exist, sessions
 * that die with their connection, no interactive programs, a version the daemon speaks.
 */
function tame(m: Fields): Fields {
  const out: Fields = { ...m };
  if (typeof out.command === 'string' && out.type !== 'ExecCommand') out.command = `zz-${out.command}`;
  if (typeof out.session === 'string') out.session = `zz-${out.session}`;
  if (out.type === 'Hello') Object.assign(out, { minVersion: 1, maxVersion: 1 });
  if (out.type === 'SpawnSession') {
    out.onDisconnect = { policy: 'kill' };
    delete out.interactive;
  }
  return out;
}

const WRONG_VALUES: readonly unknown[] = [
  -1, 1.5, 2 ** 53, -(2 ** 63), Number.NaN, Number.POSITIVE_INFINITY, 0, '', 'x', '\0', true, false, null, [], [1, 'a'], {}, { a: 1 },
  new Uint8Array([1, 2]), new Date(0), 'SIGNOPE', 'c1', 's1',
];

export class FrameFuzzer {
  readonly seed: number;
  readonly #rng: Rng;
  readonly #pool: Fields[];
  readonly #daemonPool: Fields[];

  constructor(seed: number) {
    this.seed = seed;
    this.#rng = new Rng(seed);
    const sampled = fc.sample(anyClientMessage, { numRuns: 1500, seed }) as unknown as Fields[];
    this.#pool = [...vectorMessages(), ...sampled].map(tame);
    this.#daemonPool = fc.sample(anyDaemonMessage, { numRuns: 200, seed: seed + 1 }) as unknown as Fields[];
  }

  hello(): Buffer {
    return encodeFrame({ type: 'Hello', minVersion: 1, maxVersion: 1, nonce: this.#rng.int(1000), maxFrameBytes: 1 << 20, capabilities: [], client: 'fuzz' });
  }

  /** One frame that keeps the stream in sync; the daemon answers it with exactly one reply. */
  wellFormed(): Buffer {
    const r = this.#rng;
    const base = (): Fields => ({ ...r.pick(this.#pool) });
    const key = (m: Fields): string => r.pick(Object.keys(m));
    let value: unknown;
    switch (r.int(13)) {
      case 0:
      case 1:
        value = base();
        break;
      case 2: {
        const m = base();
        m[key(m)] = r.pick(WRONG_VALUES);
        value = m;
        break;
      }
      case 3: {
        const m = base();
        delete m[key(m)];
        if (!('type' in m)) m.type = 'Ping';
        value = m;
        break;
      }
      case 4:
        value = { ...base(), type: r.pick(['FormatDisk', '', 'hello', 'PING', 'Ping ', '__proto__', 'constructor', 'toString', r.bytes(8).toString('latin1')]) };
        break;
      case 5: {
        const m = base();
        const k = key(m);
        m[k] = r.int(2) ? [m[k]] : { [k]: m[k] };
        value = m;
        break;
      }
      case 6:
        value = r.pick<unknown>([0, -1, 'Ping', [], [{ type: 'Ping', id: 1 }], new Uint8Array(3), true, null, 1.5, { type: 7 }, { type: null }]);
        break;
      case 7: {
        const m = base();
        for (const k of Object.keys(m)) if (typeof m[k] === 'number') m[k] = r.pick([2 ** 53, 2 ** 64, -(2 ** 31), 0.5, Number.NaN, -0]);
        value = m;
        break;
      }
      case 8: {
        // A long string, still well under the 1 MiB frame limit.
        const m = base();
        const k = r.pick(Object.keys(m).filter((x) => typeof m[x] === 'string' && x !== 'type').concat('command'));
        m[k] = 'A'.repeat(r.int(10) === 0 ? r.int(200_000) : r.int(2000));
        value = m;
        break;
      }
      case 9: {
        // Deep nesting (written by hand: the encoder stops at depth 100) inside a valid Ping,
        // or as the whole body; or a wide map.
        const depth = r.int(r.int(10) === 0 ? 5000 : 100);
        const nested = Buffer.concat([Buffer.alloc(depth, 0x91), Buffer.from([0xa1, 0x78])]);
        const ping = Buffer.concat([Buffer.from([0x83, 0xa4]), Buffer.from('type'), Buffer.from([0xa4]), Buffer.from('Ping'), Buffer.from([0xa2]), Buffer.from('id'), Buffer.from([0x01, 0xa5]), Buffer.from('extra')]);
        switch (r.int(3)) {
          case 0:
            return frameOf(Buffer.concat([ping, nested]));
          case 1:
            return frameOf(nested);
          default:
            value = { ...base(), [r.pick(['env', 'argv', 'pty', 'extra'])]: Object.fromEntries(Array.from({ length: r.int(r.int(10) === 0 ? 5000 : 100) }, (_, i) => [`K${i}`, `v${i}`])) };
        }
        break;
      }
      case 10:
        value = { ...r.pick(this.#daemonPool) };
        break;
      case 11: {
        // Replies that reference the connection's own work: credit, input and kills for ids that do not exist.
        const id = `zz-${r.int(1e6)}`;
        value = r.pick<Fields>([
          { type: 'Credit', command: id, fd: 1, bytes: 2 ** 40 },
          { type: 'Input', command: id, data: r.bytes(r.int(4096)) },
          { type: 'EndInput', command: id },
          { type: 'KillCommand', id: r.int(100), command: id, signal: 'SIGKILL' },
          { type: 'KillSession', id: r.int(100), session: id },
          { type: 'Attach', id: r.int(100), command: id, stdoutOffset: 2 ** 50, stderrOffset: 0 },
          { type: 'Detach', id: r.int(100), session: id },
          { type: 'Resize', id: r.int(100), command: id, cols: 1, rows: 1 },
          { type: 'ExecCommand', id: r.int(100), session: id, argv: ['true'] },
        ]);
        break;
      }
      default: {
        // msgpack extension types: a timestamp (decodes to a Date) and an unknown extension.
        const m = base();
        const body = Buffer.from(encodeBody(m as unknown as Message));
        const ext = r.int(2) ? Buffer.from([0xd6, 0xff, 0, 0, 0, 1]) : Buffer.from([0xd4, 0x42, 0x00]);
        // Replace the map with a one-entry map {type: <ext>} or append nothing: keep it well-formed.
        return r.int(2) ? frameOf(Buffer.concat([Buffer.from([0x81, 0xa4]), Buffer.from('type'), ext])) : frameOf(body);
      }
    }
    // A Hello the validator accepts must name a version the daemon speaks, or it ends the stream.
    const hello = value as Fields;
    if (hello?.type === 'Hello' && Number.isSafeInteger(hello.minVersion) && Number.isSafeInteger(hello.maxVersion)) {
      Object.assign(hello, { minVersion: 1, maxVersion: 1 });
    }
    return frameOf(encodeBody(value as Message));
  }

  /** Bytes after which the daemon may (and usually must) close the connection. */
  hostile(): Buffer {
    const r = this.#rng;
    switch (r.int(9)) {
      case 0:
        return r.bytes(1 + r.int(r.int(2) ? 64 : 100_000));
      case 1: {
        const frame = Buffer.from(this.wellFormed());
        for (let i = 1 + r.int(4); i > 0; i--) frame[r.int(frame.length)] = r.int(256);
        return frame;
      }
      case 2: {
        const frame = this.wellFormed();
        const at = r.int(frame.length);
        return r.int(2) ? Buffer.concat([frame.subarray(0, at), r.bytes(1 + r.int(8)), frame.subarray(at)]) : Buffer.concat([frame.subarray(0, at), frame.subarray(at + 1)]);
      }
      case 3:
        // A length far beyond the limit (up to 2^53), then a little of the "body".
        return Buffer.concat([varint((1 << 20) + 1 + r.int(2 ** 52)), r.bytes(r.int(32))]);
      case 4:
        return Buffer.alloc(3 + r.int(20), 0x80);
      case 5:
        return Buffer.from([0x00]);
      case 6: {
        // A truncated frame: the peer stops mid-body.
        const frame = this.wellFormed();
        return frame.subarray(0, r.int(frame.length));
      }
      case 7:
        return encodeFrame({ type: 'Hello', minVersion: 50 + r.int(50), maxVersion: 200, nonce: 1, maxFrameBytes: 4096, capabilities: [], client: 'fuzz' });
      default:
        // A frame body that is not msgpack at all (0xc1 is never used).
        return frameOf(Buffer.concat([Buffer.from([0xc1]), r.bytes(r.int(16))]));
    }
  }

  /** Cuts `bytes` into a few random writes, so frames straddle reads. */
  chunks(bytes: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    while (at < bytes.length) {
      const n = 1 + this.#rng.int(this.#rng.int(4) === 0 ? 64 : 256 * 1024);
      out.push(bytes.subarray(at, at + n));
      at += n;
    }
    return out;
  }

  int(n: number): number {
    return this.#rng.int(n);
  }
}
