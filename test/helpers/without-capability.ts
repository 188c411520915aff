import { mkdtempSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeBody, encodeFrame } from '@conch/protocol';

/**
 * A proxy in front of the daemon that takes `capability` out of its Welcome (the first frame it
 * sends) and passes everything else through untouched: the daemon as a client meets an older one.
 */
export async function withoutCapability(target: string, capability: string): Promise<{ path: string; close: () => void }> {
  const path = join(mkdtempSync(join(tmpdir(), 'conch-old-daemon-')), 'proxy.sock');
  const server = createServer((client) => {
    const upstream = createConnection(target);
    client.pipe(upstream);
    let pending = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      let length = 0;
      let shift = 0;
      let at = 0;
      for (;;) {
        if (at >= pending.length) return;
        const byte = pending[at++]!;
        length += (byte & 0x7f) * 2 ** shift;
        shift += 7;
        if (!(byte & 0x80)) break;
      }
      if (pending.length < at + length) return;
      const welcome = decodeBody(pending.subarray(at, at + length)) as { capabilities: string[] };
      welcome.capabilities = welcome.capabilities.filter((c) => c !== capability);
      upstream.off('data', onData);
      client.write(encodeFrame(welcome as never));
      client.write(pending.subarray(at + length));
      upstream.pipe(client);
    };
    upstream.on('data', onData);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { path, close: () => server.close() };
}
