import { createConnection } from 'node:net';
import { DEFAULT_MAX_FRAME_BYTES, FrameChannel, decodeBody, validateDaemonMessage } from '@conch/protocol';
import { row } from '../lib/row.mjs';
import { startFrameServer } from '../lib/start-frame-server.mjs';
import { interleave, timed } from '../lib/stats.mjs';
import { VarintFrameDecoder } from '../lib/varint-decoder.mjs';


function connect(path) {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** One-shot waiter: `next()` returns a promise that the next `fire(value)` resolves. */
function waiter() {
  let resolve;
  return { next: () => new Promise((r) => (resolve = r)), fire: (v) => resolve?.(v) };
}

/**
 * The protocol layer alone, against a raw Unix socket, with the far end in a child process:
 * a 64 B request/response round trip, and 64 KiB writes streamed one way. The framed stream is
 * decoded both through FrameChannel (length-prefixed-stream) and through a hand-written varint
 * decoder, to see whether length-prefixed-stream costs anything.
 */
export async function benchFraming({ scale }) {
  const server = await startFrameServer('conch-bench-frames-');
  try {
    // 64 B round trips.
    const rawEcho = await connect(server.path('raw-echo'));
    const rawDone = waiter();
    let got = 0;
    rawEcho.on('data', (d) => {
      got += d.length;
      if (got >= 64) {
        got = 0;
        rawDone.fire();
      }
    });
    const frameEcho = new FrameChannel(await connect(server.path('frame-echo')), { maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, validate: validateDaemonMessage });
    const frameDone = waiter();
    frameEcho.on('message', () => frameDone.fire());
    const small = Buffer.alloc(64, 0x62);
    const rtt = await interleave(Math.round(3000 * scale), {
      conch: () => timed(() => { const p = frameDone.next(); frameEcho.send({ type: 'Input', command: 'c1-bench', data: small }); return p; }),
      raw: () => timed(() => { const p = rawDone.next(); rawEcho.write(small); return p; }),
    }, { warmup: 200 });

    // 64 KiB stream, one way.
    const total = 256 << 20;
    const size = 64 << 10;
    const mbps = (ms) => total / (ms / 1000) / 1e6;
    const rawStream = await connect(server.path('raw-stream'));
    const rawEnd = waiter();
    let rawBytes = 0;
    rawStream.on('data', (d) => {
      rawBytes += d.length;
      if (rawBytes === total) rawEnd.fire((rawBytes = 0));
    });
    const channelSocket = await connect(server.path('frame-stream'));
    const channel = new FrameChannel(channelSocket, { maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, validate: validateDaemonMessage });
    const channelEnd = waiter();
    let channelBytes = 0;
    channel.on('message', (m) => {
      channelBytes += m.data.length;
      if (channelBytes === total) channelEnd.fire((channelBytes = 0));
    });
    const handSocket = await connect(server.path('frame-stream'));
    const handEnd = waiter();
    let handBytes = 0;
    const hand = new VarintFrameDecoder((body) => {
      const m = validateDaemonMessage(decodeBody(body));
      handBytes += m.data.length;
      if (handBytes === total) handEnd.fire((handBytes = 0));
    }, DEFAULT_MAX_FRAME_BYTES);
    handSocket.on('data', (d) => hand.push(d));
    const request = `${total} ${size}\n`;
    const stream = await interleave(Math.max(3, Math.round(6 * scale)), {
      conch: () => timed(() => { const p = channelEnd.next(); channelSocket.write(request); return p; }).then(mbps),
      raw: () => timed(() => { const p = rawEnd.next(); rawStream.write(request); return p; }).then(mbps),
      hand: () => timed(() => { const p = handEnd.next(); handSocket.write(request); return p; }).then(mbps),
    }, { warmup: 1 });
    for (const s of [rawEcho, rawStream, channelSocket, handSocket]) s.destroy();
    return [
      row({ id: 'framing.rtt', title: 'framing + msgpack: 64 B round trip', unit: 'µs', conch: rtt.conch.map((ms) => ms * 1000), floorName: 'raw UDS echo', floor: rtt.raw.map((ms) => ms * 1000) }),
      row({ id: 'framing.stream', title: 'framing + msgpack: 64 KiB writes, one way', unit: 'MB/s', better: 'higher', conch: stream.conch, floorName: 'raw UDS', floor: stream.raw }),
      row({
        id: 'framing.decoder', title: 'FrameChannel (FrameReader) vs a hand-written varint decoder (same frames)', unit: 'MB/s', better: 'higher',
        conch: stream.conch, floorName: 'hand-written decoder', floor: stream.hand,
      }),
    ];
  } finally {
    server.stop();
  }
}
