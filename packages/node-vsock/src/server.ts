import { EventEmitter } from 'node:events';
import { binding } from './binding.js';
import { vsockError } from './errors.js';
import { VMADDR_CID_ANY } from './constants.js';
import { withAddresses, type VsockSocket } from './vsock-socket.js';
import { wrapFd } from './wrap-fd.js';

/** After EMFILE/ENFILE/ENOMEM on accept, wait this long before accepting again (the addon paused). */
const ACCEPT_RETRY_MS = 100;

export interface VsockServerOptions {
  /** Keep the readable side of accepted sockets open after the peer ends its side. @default false */
  readonly allowHalfOpen?: boolean;
  /** @default 511 */
  readonly backlog?: number;
}

interface VsockServerEvents {
  listening: [];
  connection: [VsockSocket];
  error: [Error];
  close: [];
}

/** A net.Server-like AF_VSOCK listener. Accepting is event-driven (uv_poll), never a blocked thread. */
export class VsockServer extends EventEmitter<VsockServerEvents> {
  readonly #options: VsockServerOptions;
  #fd = -1;
  #watcher: object | undefined;
  #address: { cid: number; port: number } | undefined;
  #retry: NodeJS.Timeout | undefined;

  constructor(options: VsockServerOptions = {}, onConnection?: (socket: VsockSocket) => void) {
    super();
    this.#options = options;
    if (onConnection) this.on('connection', onConnection);
  }

  /** Binds and listens. Errors (EADDRINUSE, VSOCK_UNAVAILABLE) are thrown synchronously. */
  listen(port: number, cid: number = VMADDR_CID_ANY, callback?: () => void): this {
    let bound: { fd: number; cid: number; port: number };
    try {
      bound = binding().listen(cid, port, this.#options.backlog ?? 511);
    } catch (err) {
      throw vsockError(err);
    }
    this.#fd = bound.fd;
    this.#address = { cid: bound.cid, port: bound.port };
    this.#watcher = binding().watchAccept(bound.fd, (err, fd, peerCid, peerPort) => this.#onAccept(err, fd, peerCid, peerPort));
    if (callback) this.once('listening', callback);
    queueMicrotask(() => this.emit('listening'));
    return this;
  }

  address(): { cid: number; port: number } | undefined {
    return this.#address;
  }

  /** Stops accepting and closes the listening socket. Accepted sockets stay open. */
  close(callback?: () => void): this {
    clearTimeout(this.#retry);
    if (this.#watcher) binding().unwatch(this.#watcher);
    this.#watcher = undefined;
    if (this.#fd >= 0) binding().close(this.#fd);
    this.#fd = -1;
    if (callback) this.once('close', callback);
    queueMicrotask(() => this.emit('close'));
    return this;
  }

  ref(): this {
    if (this.#watcher) binding().setRef(this.#watcher, true);
    return this;
  }

  unref(): this {
    if (this.#watcher) binding().setRef(this.#watcher, false);
    return this;
  }

  #onAccept(err: Error | null, fd?: number, peerCid?: number, peerPort?: number): void {
    if (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EMFILE' || code === 'ENFILE' || code === 'ENOBUFS' || code === 'ENOMEM') {
        // The addon stopped polling so a full fd table cannot spin the loop; try again shortly.
        this.#retry = setTimeout(() => this.#watcher && binding().setWatching(this.#watcher, true), ACCEPT_RETRY_MS);
      }
      this.emit('error', vsockError(err));
      return;
    }
    let socket;
    try {
      socket = wrapFd(fd!, this.#options.allowHalfOpen ?? false);
    } catch (wrapErr) {
      binding().close(fd!);
      this.emit('error', wrapErr as Error);
      return;
    }
    this.emit('connection', withAddresses(socket, this.#address!, { cid: peerCid!, port: peerPort! }));
  }
}

export function createServer(options?: VsockServerOptions | ((socket: VsockSocket) => void), onConnection?: (socket: VsockSocket) => void): VsockServer {
  return typeof options === 'function' ? new VsockServer({}, options) : new VsockServer(options, onConnection);
}
