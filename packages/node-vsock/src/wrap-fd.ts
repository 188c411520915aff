import { Socket } from 'node:net';

/**
 * Turns a connected, non-blocking socket fd into a net.Socket, with Node's own backpressure and
 * half-close. libuv classifies an AF_VSOCK fd as UNKNOWN, so `new net.Socket({ fd })` refuses
 * it; a Pipe handle accepts any stream fd. RISK: `process.binding('pipe_wrap')` is internal
 * (DEP0111). It is confined to this one module; the fallback, should Node remove it, is for the
 * addon to own a uv_poll_t per connection and implement the stream itself.
 */
interface PipeHandle {
  open(fd: number): number;
}
interface PipeWrap {
  Pipe: new (type: number) => PipeHandle;
  constants: { SOCKET: number };
}

let pipeWrap: PipeWrap | undefined;

export function wrapFd(fd: number, allowHalfOpen = false): Socket {
  pipeWrap ??= (process as unknown as { binding(name: string): PipeWrap }).binding('pipe_wrap');
  const handle = new pipeWrap.Pipe(pipeWrap.constants.SOCKET);
  const rc = handle.open(fd);
  if (rc < 0) throw Object.assign(new Error(`cannot wrap vsock fd ${fd} (libuv error ${rc})`), { code: 'EINVAL' });
  return new Socket({ handle, readable: true, writable: true, allowHalfOpen } as unknown as ConstructorParameters<typeof Socket>[0]);
}
