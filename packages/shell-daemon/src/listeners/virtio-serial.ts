import { closeSync, createReadStream, createWriteStream, openSync, read, write, writev, constants as fsc } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { AcceptStream, Listener } from './listener.js';
import { findVirtioPort } from './find-virtio-port.js';
import { JoinedDuplex } from './joined-duplex.js';

/**
 * A port that gives EOF this soon after opening has no host on the other end: wait before
 * reopening, so an unconnected port costs a few wakeups a second rather than a busy loop.
 */
const QUICK_EOF_MS = 1000;
const REOPEN_DELAY_MS = 250;

export interface VirtioSerialOptions {
  /**
   * Called when the port cannot be opened, once per failure in a row that reads differently
   * (it is retried every REOPEN_DELAY_MS, and a log line each time says nothing new); the
   * listener keeps retrying.
   */
  readonly onError: (err: Error) => void;
}

/**
 * A virtio-serial port: one byte stream with no connection boundaries. The host disconnecting
 * shows up as EOF, after which the port must be reopened for the next host connection; each
 * open is one daemon connection. Bytes the host sent before the port was open are discarded by
 * the guest kernel, which is why clients repeat Hello until a Welcome arrives.
 *
 * Reads go through fs streams on libuv's thread pool: a character device is not a handle
 * libuv can poll (net.Socket rejects it), so one pool thread waits in read() while a host is
 * connected. The CLI raises UV_THREADPOOL_SIZE so that this never starves spawns or file I/O.
 *
 * Not a Pipe handle over an O_NONBLOCK fd (tried): virtio_console reports POLLHUP whenever no
 * host is connected, and libuv takes POLLHUP after a short read as the end of the stream. A
 * host that reconnects between the poll and the read has its first bytes (its Hello) read and
 * then a false EOF: the daemon answers the Welcome and closes that connection, and the host's
 * next requests go unanswered. The e2e VM under load showed just that (a Welcome, then no
 * answer to SpawnSession), in two of four runs on that design. A blocking read returns 0 only
 * when, at that moment, no host is connected and nothing is queued. What the blocking design
 * costs: a write issued just after a host left waits (will_write_block) until the next host
 * connects, and this connection closes only then.
 */
export function listenVirtioSerial(name: string, accept: AcceptStream, options: VirtioSerialOptions): Listener {
  // Looked up at each attempt until found: the port appears only once virtio_console is loaded,
  // which an init may do after it starts conchd (Alpine's modules runs in boot, after sysinit).
  let path: string | undefined;
  let closed = false;
  let current: Duplex | undefined;
  let timer: NodeJS.Timeout | undefined;
  let reported: string | undefined;

  const open = () => {
    if (closed) return;
    let fd: number;
    let device: string;
    try {
      device = path ??= findVirtioPort(name);
      fd = openSync(device, fsc.O_RDWR | fsc.O_NOCTTY);
    } catch (err) {
      const error = path === undefined ? (err as Error) : explainOpenError(err as NodeJS.ErrnoException, path);
      // Gone (unplugged, the module reloaded): looked up afresh, in case it comes back as another vportNpM.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') path = undefined;
      if (error.message !== reported) options.onError(error);
      reported = error.message;
      timer = setTimeout(open, REOPEN_DELAY_MS);
      return;
    }
    reported = undefined;
    const openedAt = Date.now();
    // The streams never close the fd; release() does, once. (destroy() closes a stream's fd even
    // with autoClose false, after its I/O in flight: two such closes, after ours, could land on
    // the number once the next open or a spawn's pipe had it.)
    const readable = createReadStream('', { fd, autoClose: false, highWaterMark: 256 * 1024, fs: { read, close: keepOpen } });
    const writable = createWriteStream('', { fd, autoClose: false, fs: { write, writev, close: keepOpen } });
    const stream = new JoinedDuplex(readable, writable);
    current = stream;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      current = undefined;
      readable.destroy();
      writable.destroy();
      // A read may still be pending on the pool; closing the fd under it is what ends it.
      try {
        closeSync(fd);
      } catch {
        // Already closed.
      }
      if (!closed) timer = setTimeout(open, Date.now() - openedAt < QUICK_EOF_MS ? REOPEN_DELAY_MS : 0);
    };
    stream.once('close', release);
    stream.once('error', release);
    accept(stream, { transport: 'virtio-serial', port: name, device });
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

/** The close the port's streams are given: none (see listenVirtioSerial). */
function keepOpen(_fd: number, callback: (err: NodeJS.ErrnoException | null) => void): void {
  callback(null);
}

/**
 * A port sysfs knows of whose /dev node is missing is an image without devtmpfs on /dev (no
 * udev, mdev or devfs service): say so, since the bare ENOENT reads as a missing port.
 */
function explainOpenError(err: NodeJS.ErrnoException, path: string): Error {
  if (err.code !== 'ENOENT' || !path.startsWith('/dev/vport')) return err;
  const port = path.slice('/dev/'.length);
  return new Error(
    `${err.message}: the kernel has the port (/sys/class/virtio-ports/${port}) but /dev has no node for it; ` +
      `mount devtmpfs on /dev (udev, mdev or OpenRC's devfs service do) or create the node (major:minor in /sys/class/virtio-ports/${port}/dev)`,
    { cause: err },
  );
}
