/** Errno codes that mean "this machine has no vsock at all", not "this peer said no". */
const UNAVAILABLE_CODES = new Set(['ENODEV', 'EAFNOSUPPORT', 'ENOENT', 'EPROTONOSUPPORT']);

/** AF_VSOCK is not available here: no vsock device or transport module. */
export class VsockUnavailableError extends Error {
  readonly code = 'VSOCK_UNAVAILABLE';
  override readonly cause: Error;
  constructor(cause: Error) {
    super(`vsock unavailable on this machine: ${cause.message} (load vsock and a transport: vmw_vsock_virtio_transport in a guest, vhost_vsock on a host)`);
    this.name = 'VsockUnavailableError';
    this.cause = cause;
  }
}

/**
 * The addon throws Errors carrying `code` (the errno name) and `syscall`. A missing address
 * family becomes VsockUnavailableError; everything else (ECONNREFUSED, EADDRINUSE, …) stays as
 * it is, like net's errors.
 */
export function vsockError(err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && UNAVAILABLE_CODES.has(e.code) && (e.syscall === 'socket' || e.syscall?.startsWith('open'))) {
    return new VsockUnavailableError(e);
  }
  return e instanceof Error ? e : new Error(String(err));
}
