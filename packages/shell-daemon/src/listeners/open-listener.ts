import { ConchError, ErrorCodes, formatEndpoint, type Endpoint } from '@conch/protocol';
import type { AcceptStream, Listener } from './listener.js';
import { listenStdio } from './stdio.js';
import { listenUnix } from './unix.js';
import { listenVirtioSerial } from './virtio-serial.js';
import { listenVsock } from './vsock.js';

export interface ListenerContext {
  /** Called when a single-connection listener (stdio) loses its peer. */
  readonly onStdioEnd: () => void;
  /** Transient listener failures that are retried (a virtio-serial port that cannot be opened). */
  readonly onError: (endpoint: string, err: Error) => void;
  /** vsock peer CIDs accepted besides the host. */
  readonly allowCids: readonly number[];
  /** A peer was refused (vsock CID check); logged with its reason. */
  readonly onRejected: (peer: Record<string, unknown>, reason: string) => void;
}

export async function openListener(endpoint: Endpoint, accept: AcceptStream, context: ListenerContext): Promise<Listener> {
  switch (endpoint.kind) {
    case 'unix':
      return listenUnix(endpoint.path, accept);
    case 'stdio':
      return listenStdio(accept, context.onStdioEnd);
    case 'virtio-serial':
      return listenVirtioSerial(endpoint.name, accept, { onError: (err) => context.onError(formatEndpoint(endpoint), err) });
    case 'vsock':
      // vsock:PORT binds every CID; vsock:CID:PORT the one given (the guest's own, or 1: loopback only).
      return listenVsock(endpoint.port, accept, {
        allowCids: context.allowCids, onRejected: context.onRejected, ...(endpoint.cid !== undefined ? { cid: endpoint.cid } : {}),
      });
    case 'hybrid-vsock':
    case 'local':
      throw new ConchError(ErrorCodes.INVALID_ARGUMENT, `conchd cannot listen on ${formatEndpoint(endpoint)}`);
  }
}
