import { createConnection } from 'node:net';

/** A relay run that takes longer than this has hung: the bench reports the case failed rather than wait forever. */
const RELAY_TIMEOUT_MS = 120_000;

/**
 * Asks a relay socket of frame-server.mjs (pipe-relay, pty-relay) for `n` bytes of its command's
 * output; resolves with the bytes and milliseconds up to the end of the connection. Rejects when
 * the connection closes without ending (the relay failed) or the run times out.
 */
export function countRelayed(path, n) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let bytes = 0;
    const socket = createConnection(path, () => socket.write(`${n}\n`));
    const timer = setTimeout(() => socket.destroy(new Error(`relay ${path} sent ${bytes} of ${n} bytes in ${RELAY_TIMEOUT_MS} ms`)), RELAY_TIMEOUT_MS);
    socket.on('data', (d) => (bytes += d.length));
    socket.once('end', () => {
      clearTimeout(timer);
      resolve({ bytes, ms: performance.now() - t0 });
    });
    socket.once('close', (hadError) => {
      clearTimeout(timer);
      if (!socket.readableEnded) reject(new Error(`relay ${path} closed after ${bytes} of ${n} bytes without ending${hadError ? ' (socket error)' : ''}`));
    });
    socket.once('error', reject);
  });
}
