import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { ConchError, ErrorCodes } from '@conch/protocol';
import type { AcceptStream, Listener } from './listener.js';

/**
 * A Unix socket with mode 0600: only the daemon's own user (root, in a guest) may connect, so a
 * guest-local workload running as another user cannot drive the daemon.
 */
export async function listenUnix(path: string, accept: AcceptStream): Promise<Listener> {
  await removeStaleSocket(path);
  const server = createServer({ allowHalfOpen: false }, (socket) => accept(socket, { transport: 'unix' }));
  // The umask closes the window between bind() and chmod() in which the socket would carry the
  // default mode; chmod then makes the mode explicit whatever the umask was.
  const previous = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
  }
  chmodSync(path, 0o600);
  server.on('error', () => {});
  return {
    endpoint: `unix:${path}`,
    close: () => closeServer(server),
  };
}

/**
 * Stops accepting. Not waiting for close()'s callback is deliberate: it fires only once every
 * established connection has ended, and the daemon closes those itself after killing commands.
 */
async function closeServer(server: Server): Promise<void> {
  server.close();
}

/**
 * A socket file left by a daemon that died is removed; one that still answers belongs to a
 * live daemon and is an error, and anything that is not a socket is never deleted.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return;
  }
  if (!isSocket) {
    throw new ConchError(ErrorCodes.INVALID_ARGUMENT, `${path} exists and is not a socket; refusing to replace it`);
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new ConchError(ErrorCodes.INVALID_ARGUMENT, `another daemon is already listening on ${path}`);
  unlinkSync(path);
}
