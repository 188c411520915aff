import { closeSync, constants as fsc, openSync } from 'node:fs';
import type { Socket } from 'node:net';
import { wrapFd } from '@conch/node-vsock';
import type { AcceptStream, Listener } from './listener.js';
import { findVirtioPort } from './find-virtio-port.js';

/**
 * A port that gives EOF this soon after opening has no host on the other end: wait before
 * reopening, so an unconnected port costs a few wakeups a second rather than a busy loop.
 */
const QUICK_EOF_MS = 1000;
const REOPEN_DELAY_MS = 250;

export interface VirtioSerialOptions {
  /** Called when the port cannot be opened; the listener keeps retrying. */
  readonly onError: (err: Error) => void;
}

/**
 * A virtio-serial port: one byte stream with no connection boundaries. The host disconnecting
 * shows up as EOF (and POLLHUP), after which the port must be reopened for the next host
 * connection; each open is one daemon connection. Bytes the host sent before the port was open
 * are discarded by the guest kernel, which is why clients repeat Hello until a Welcome arrives.
 *
 * The port is opened O_NONBLOCK and driven by libuv's poll loop, as a net.Socket over a Pipe
 * handle (virtio_console implements poll), rather than through blocking fs streams on the
 * thread pool. While no host is connected the kernel blocks every write to the port
 * (will_write_block), so with blocking fs streams a reply written in the moment between the
 * host leaving and the EOF being read parks a pool thread in write() until the next host
 * connects, and fs streams wait for that write before they close the fd: the port could not be
 * reopened until then, and the stale bytes went to that next host. Non-blocking, such a write
 * waits in libuv's queue and is dropped with the socket at the EOF; no thread waits on the port.
 * (QEMU itself may still hand the next host output it took from the guest for the last one;
 * the client's handshake skips it: packages/shell-client/src/handshake-reply.ts.)
 */
export function listenVirtioSerial(name: string, accept: AcceptStream, options: VirtioSerialOptions): Listener {
  const path = findVirtioPort(name);
  let closed = false;
  let current: Socket | undefined;
  let timer: NodeJS.Timeout | undefined;

  const retry = (err: Error) => {
    options.onError(err);
    timer = setTimeout(open, REOPEN_DELAY_MS);
  };

  const open = () => {
    if (closed) return;
    let fd: number;
    try {
      fd = openSync(path, fsc.O_RDWR | fsc.O_NOCTTY | fsc.O_NONBLOCK);
    } catch (err) {
      return retry(err as Error);
    }
    let socket: Socket;
    try {
      socket = wrapFd(fd);
    } catch (err) {
      closeSync(fd);
      return retry(err as Error);
    }
    const openedAt = Date.now();
    current = socket;
    // Closing the socket closes the fd, which releases the port for the next open.
    socket.once('close', () => {
      current = undefined;
      if (!closed) timer = setTimeout(open, Date.now() - openedAt < QUICK_EOF_MS ? REOPEN_DELAY_MS : 0);
    });
    accept(socket, { transport: 'virtio-serial', port: name, device: path });
  };
  open();

  return {
    endpoint: `virtio-serial:${name}`,
    close: async () => {
      closed = true;
      clearTimeout(timer);
      current?.destroy();
    },
  };
}
