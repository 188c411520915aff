import { binding } from './binding.js';
import { vsockError } from './errors.js';
import { withAddresses, type VsockSocket } from './vsock-socket.js';
import { wrapFd } from './wrap-fd.js';

export interface ConnectOptions {
  /** Give up after this long with ETIMEDOUT. @default 10000 */
  readonly timeoutMs?: number;
  /** @default false */
  readonly allowHalfOpen?: boolean;
  /** Aborting gives up at once: the socket is closed, and the promise rejects with code ABORT_ERR. */
  readonly signal?: AbortSignal;
}

function abortError(cid: number, port: number): Error {
  return Object.assign(new Error(`connect to vsock ${cid}:${port} was aborted`), { name: 'AbortError', code: 'ABORT_ERR', syscall: 'connect' });
}

/** Connects to `cid:port` without blocking the loop; resolves with a connected socket. */
export function connect(cid: number, port: number, options: ConnectOptions = {}): Promise<VsockSocket> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const signal = options.signal;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(cid, port));
      return;
    }
    let fd: number;
    try {
      fd = binding().connect(cid, port, timeoutMs);
    } catch (err) {
      reject(vsockError(err));
      return;
    }
    let settled = false;
    const watcher = binding().watchConnect(fd, (err, peerCid, peerPort) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) {
        binding().close(fd);
        reject(vsockError(err));
        return;
      }
      try {
        const local = binding().sockName(fd);
        resolve(withAddresses(wrapFd(fd, options.allowHalfOpen ?? false), local, { cid: peerCid!, port: peerPort! }));
      } catch (wrapErr) {
        binding().close(fd);
        reject(vsockError(wrapErr));
      }
    });
    const giveUp = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      binding().unwatch(watcher);
      binding().close(fd);
      reject(err);
    };
    const timer = setTimeout(() => {
      giveUp(Object.assign(new Error(`connect to vsock ${cid}:${port} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT', syscall: 'connect' }));
    }, timeoutMs);
    const onAbort = () => giveUp(abortError(cid, port));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** This machine's own CID (IOCTL_VM_SOCKETS_GET_LOCAL_CID). */
export function localCid(): number {
  try {
    return binding().localCid();
  } catch (err) {
    throw vsockError(err);
  }
}
