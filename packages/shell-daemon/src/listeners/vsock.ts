import { ConchError, encodeFrame, ErrorCodes, formatEndpoint } from '@conch/protocol';
import type { AcceptStream, Listener } from './listener.js';

/** The host, as a guest sees it. */
const HOST_CID = 2;

export interface VsockListenOptions {
  /** The local CID to bind (vsock:CID:PORT): the guest's own, or 1 for loopback only. @default every CID */
  readonly cid?: number;
  /** Peer CIDs accepted besides the host. */
  readonly allowCids: readonly number[];
  readonly onRejected: (peer: { cid: number; port: number }, reason: string) => void;
}

/**
 * AF_VSOCK on any CID (or the one given), through our addon. Only the host (CID 2) may connect unless --allow-cid
 * names more: inside the guest, the workload can reach this port over vsock loopback (CID 1),
 * and it must not be able to drive the daemon that way. A refused peer gets a PEER_REJECTED
 * frame (so it knows why) and is closed; the daemon logs who and why.
 */
export async function listenVsock(port: number, accept: AcceptStream, options: VsockListenOptions): Promise<Listener> {
  let vsock: typeof import('@conch/node-vsock');
  try {
    vsock = await import('@conch/node-vsock');
  } catch (err) {
    throw new ConchError(ErrorCodes.INVALID_ARGUMENT, `vsock listener unavailable: cannot load @conch/node-vsock (${(err as Error).message})`);
  }
  const allowed = new Set([HOST_CID, ...options.allowCids]);
  const server = vsock.createServer((socket) => {
    try {
      admit(socket);
    } catch (err) {
      // One bad connection must not take the daemon down: drop it and carry on.
      options.onRejected({ cid: socket.remoteCid, port: socket.remotePort }, `cannot set up the connection: ${(err as Error).message}`);
      socket.destroy();
    }
  });
  const admit = (socket: import('@conch/node-vsock').VsockSocket) => {
    if (!allowed.has(socket.remoteCid)) {
      const reason = `vsock peer CID ${socket.remoteCid} is not allowed (allowed: ${[...allowed].join(', ')}; see --allow-cid)`;
      options.onRejected({ cid: socket.remoteCid, port: socket.remotePort }, reason);
      socket.on('error', () => {});
      socket.end(encodeFrame({ type: 'Error', code: ErrorCodes.PEER_REJECTED, message: 'this peer may not use this daemon' }));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    accept(socket, { transport: 'vsock', cid: socket.remoteCid, port: socket.remotePort });
  };
  const endpoint = formatEndpoint({ kind: 'vsock', cid: options.cid, port });
  try {
    if (options.cid === undefined) server.listen(port);
    else server.listen(port, options.cid);
  } catch (err) {
    throw new ConchError(ErrorCodes.INVALID_ARGUMENT, `cannot listen on ${endpoint}: ${(err as Error).message}`, {
      errno: (err as NodeJS.ErrnoException).code,
    });
  }
  server.on('error', () => {});
  return {
    endpoint,
    close: async () => {
      server.close();
    },
  };
}
