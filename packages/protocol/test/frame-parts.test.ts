import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeFrame, encodeFrameParts, FrameChannel, validateClientMessage, validateDaemonMessage, type ClientMessage, type DaemonMessage,
  type Input, type StreamOutput,
} from '../src/index.js';

/** A payload cut into pieces at arbitrary points, some of them empty. */
function cut(data: Uint8Array, positions: readonly number[]): Uint8Array[] {
  const points = [0, ...positions.map((p) => p % (data.length + 1)).sort((a, b) => a - b), data.length];
  return points.slice(1).map((p, i) => data.subarray(points[i]!, p));
}

// Sizes either side of every bin header width (bin 8, bin 16, bin 32) and of the one-copy threshold.
const sizes = fc.constantFrom(0, 1, 255, 256, 4095, 4096, 0xffff, 0x10000, 300_000);

describe('encodeFrameParts', () => {
  it('gives the bytes encodeFrame gives for the payload joined, however it is cut', () => {
    fc.assert(
      fc.property(sizes, fc.array(fc.nat(), { maxLength: 12 }), fc.nat(), (size, positions, offset) => {
        const data = Buffer.alloc(size);
        for (let i = 0; i < size; i += 997) data[i] = i & 0xff;
        const parts = cut(data, positions);
        const output: StreamOutput = { type: 'StreamOutput', command: 'c7-ab12', fd: 2, offset, data };
        // equals(), not toEqual: a deep comparison of 300 KB takes seconds.
        expect(Buffer.concat(encodeFrameParts<StreamOutput>({ type: 'StreamOutput', command: 'c7-ab12', fd: 2, offset }, parts))
          .equals(encodeFrame(output))).toBe(true);
        const input: Input = { type: 'Input', command: 'c1', data };
        expect(Buffer.concat(encodeFrameParts<Input>({ type: 'Input', command: 'c1' }, parts)).equals(encodeFrame(input))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('hands the payload pieces over as they are, not copies, once the payload is large', () => {
    const pieces = [Buffer.alloc(5000, 1), Buffer.alloc(3000, 2)];
    const frame = encodeFrameParts<StreamOutput>({ type: 'StreamOutput', command: 'c1', fd: 1, offset: 0 }, pieces);
    expect(frame.slice(1)).toEqual(pieces);
    expect(frame[1]).toBe(pieces[0]);
    // A small payload is one buffer: a copy costs less than another write.
    expect(encodeFrameParts<StreamOutput>({ type: 'StreamOutput', command: 'c1', fd: 1, offset: 0 }, [Buffer.alloc(10), Buffer.alloc(20)]))
      .toHaveLength(1);
  });
});

describe('FrameChannel.sendParts over a Unix socket', () => {
  it('delivers every byte at its offset and in order, interleaved with send(), however the payloads were cut', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'conch-parts-')), 's.sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const clientSocket = net.connect(path);
    const daemonSide = new FrameChannel<ClientMessage, DaemonMessage>(await accepted, { maxFrameBytes: 1 << 20, validate: validateClientMessage });
    const clientSide = new FrameChannel<DaemonMessage, ClientMessage>(clientSocket, { maxFrameBytes: 1 << 20, validate: validateDaemonMessage });
    const received: DaemonMessage[] = [];
    clientSide.on('message', (m) => received.push(m));

    const expected: DaemonMessage[] = [];
    let offset = 0;
    for (let i = 0; i < 200; i++) {
      const size = [0, 10, 4096, 65_536, 200_000][i % 5]!;
      const data = Buffer.alloc(size, i & 0xff);
      const pieces = cut(data, [(i * 7919) % (size + 1), (i * 104_729) % (size + 1)]);
      daemonSide.sendParts<StreamOutput>({ type: 'StreamOutput', command: 'c1', fd: 1, offset }, pieces);
      expected.push({ type: 'StreamOutput', command: 'c1', fd: 1, offset, data });
      offset += size;
      if (i % 10 === 0) {
        daemonSide.send({ type: 'Pong', id: i });
        expected.push({ type: 'Pong', id: i });
      }
    }
    daemonSide.close();
    await new Promise<void>((resolve) => clientSide.once('close', () => resolve()));
    // A frame that spanned several reads may reach listeners as several StreamOutputs, one per
    // piece: the same bytes at the same offsets, and never ahead of or behind a frame sent
    // between them (each Pong comes after exactly the output sent before it).
    const outputBefore = (list: readonly DaemonMessage[], upTo: number) =>
      list.slice(0, upTo).reduce((n, m) => n + (m.type === 'StreamOutput' ? m.data.length : 0), 0);
    const pongs = (list: readonly DaemonMessage[]) => list.flatMap((m, i) => (m.type === 'Pong' ? [{ id: m.id, at: outputBefore(list, i) }] : []));
    expect(pongs(received)).toEqual(pongs(expected));
    let next = 0;
    const bytes: Buffer[] = [];
    for (const m of received) {
      if (m.type !== 'StreamOutput') continue;
      expect(m.offset).toBe(next);
      next += m.data.length;
      bytes.push(Buffer.from(m.data));
    }
    const want = Buffer.concat(expected.flatMap((m) => (m.type === 'StreamOutput' ? [Buffer.from(m.data)] : [])));
    expect(Buffer.concat(bytes).equals(want)).toBe(true);
    server.close();
  });
});
