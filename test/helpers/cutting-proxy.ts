import { mkdtempSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFrameDecoder, decodeBody, encodeFrame } from '@conch/protocol';

/**
 * A proxy that cuts the link at an exact frame: each frame the client sends is passed on unless
 * `decide` says to cut there (the frame is dropped and both sides are closed, as a link that
 * failed with the frame on the wire would) or to drop it (the frame is lost, the link stays up
 * until `cutNow()`: a frame that was still on the wire when the link later failed). The daemon's
 * bytes pass through untouched.
 */
export async function cuttingProxy(
  target: string,
  decide: (message: Record<string, unknown>) => 'pass' | 'drop' | 'cut' | boolean,
): Promise<{ path: string; cuts: () => number; cutNow: () => void; close: () => void }> {
  const path = join(mkdtempSync(join(tmpdir(), 'conch-cut-')), 'proxy.sock');
  let cuts = 0;
  const open = new Set<() => void>();
  const server = createServer((client) => {
    const upstream = createConnection(target);
    upstream.pipe(client);
    const frames = client.pipe(createFrameDecoder(1 << 24));
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(drop);
    };
    open.add(drop);
    frames.on('data', (body: Buffer) => {
      if (client.destroyed) return;
      const message = decodeBody(body) as Record<string, unknown>;
      const what = decide(message);
      if (what === true || what === 'cut') {
        cuts++;
        drop();
      } else if (what !== 'drop') upstream.write(encodeFrame(message as never));
    });
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    frames.on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path, cuts: () => cuts, close: () => server.close(),
    cutNow: () => {
      for (const drop of [...open]) {
        cuts++;
        drop();
      }
    },
  };
}
