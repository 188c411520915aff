import type { Socket } from 'node:net';
import { UnavailableError } from '../errors.js';
import { connectFailure } from './connect-errors.js';
import type { TransportOptions } from './transport.js';

/** Kernel AF_VSOCK (a host with vhost-vsock, or inside a guest), through @conch/node-vsock. */
export async function connectVsock(cid: number, port: number, options: TransportOptions): Promise<Socket> {
  const where = `vsock:${cid}:${port}`;
  let vsock: typeof import('@conch/node-vsock');
  try {
    vsock = await import('@conch/node-vsock');
  } catch (err) {
    throw new UnavailableError('connect-refused', `${where}: the vsock addon cannot be loaded (${(err as Error).message})`, { cause: err });
  }
  try {
    return await vsock.connect(cid, port, { timeoutMs: options.timeoutMs, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (err) {
    if ((err as { code?: string }).code === 'ABORT_ERR') throw new UnavailableError('closed', 'the session was closed', { cause: err });
    if ((err as { code?: string }).code === 'VSOCK_UNAVAILABLE') {
      throw new UnavailableError('connect-refused', `${where}: ${(err as Error).message}`, { cause: err });
    }
    throw connectFailure(err, where);
  }
}
