import type { Socket } from 'node:net';

/** A connected vsock stream: an ordinary net.Socket plus both ends' vsock addresses. */
export interface VsockSocket extends Socket {
  readonly remoteCid: number;
  readonly remotePort: number;
  readonly localCid: number;
  readonly localPort: number;
}

/**
 * Adds the vsock addresses as own properties. net.Socket defines `remotePort` and `localPort`
 * as getter-only accessors on its prototype (they ask the handle, which knows nothing of
 * vsock), so plain assignment would throw; defining own properties shadows them.
 */
export function withAddresses(socket: Socket, local: { cid: number; port: number }, remote: { cid: number; port: number }): VsockSocket {
  const value = (v: number) => ({ value: v, enumerable: true, configurable: true, writable: false });
  return Object.defineProperties(socket, {
    localCid: value(local.cid),
    localPort: value(local.port),
    remoteCid: value(remote.cid),
    remotePort: value(remote.port),
  }) as VsockSocket;
}
