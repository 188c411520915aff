import { mkdtempSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFrameDecoder, decodeBody, encodeFrame } from '@conch/protocol';

/**
 * A proxy in front of the daemon that passes the client's bytes through untouched and re-encodes
 * each frame the daemon sends after `rewrite` (which returns it changed, or as it was, or a
 * promise of it: a slow daemon; frames stay in order): the client meets a daemon of another version.
 */
export async function rewritingProxy(
  target: string,
  rewrite: (message: Record<string, unknown>) => Record<string, unknown> | Promise<Record<string, unknown>>,
): Promise<{ path: string; close: () => void }> {
  const path = join(mkdtempSync(join(tmpdir(), 'conch-other-daemon-')), 'proxy.sock');
  const server = createServer((client) => {
    const upstream = createConnection(target);
    client.pipe(upstream);
    const frames = upstream.pipe(createFrameDecoder(1 << 24));
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    let order = Promise.resolve();
    frames.on('data', (body: Buffer) => {
      const rewritten = rewrite(decodeBody(body) as Record<string, unknown>);
      // A rewrite that fails ends the connection, rather than leave every later frame unsent.
      order = order
        .then(async () => {
          if (!client.destroyed) client.write(encodeFrame((await rewritten) as never));
        })
        .catch(drop);
    });
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    frames.on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { path, close: () => server.close() };
}

/** A daemon from before `capability`: the proxy takes it out of the Welcome. */
export function withoutCapability(target: string, capability: string): Promise<{ path: string; close: () => void }> {
  return rewritingProxy(target, (m) => (m.type === 'Welcome' ? { ...m, capabilities: (m.capabilities as string[]).filter((c) => c !== capability) } : m));
}
