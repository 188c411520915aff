import { createConnection, type Socket } from 'node:net';
import { connectFailure, withConnectTimeout } from './connect-errors.js';
import type { TransportOptions } from './transport.js';

/** A Unix socket: conchd's own, or a QEMU virtio-serial chardev carrying the same stream. */
export function connectUnix(path: string, options: TransportOptions): Promise<Socket> {
  const socket = createConnection({ path });
  const connected = new Promise<Socket>((resolve, reject) => {
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  }).catch((err: unknown) => {
    throw connectFailure(err, `unix:${path}`);
  });
  return withConnectTimeout(connected, options.timeoutMs, `unix:${path}`, () => socket.destroy(), options.signal);
}
