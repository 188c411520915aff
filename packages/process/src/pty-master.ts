import { readSync, writeSync } from 'node:fs';
import { Readable } from 'node:stream';
import { ReadStream } from 'node:tty';

/** node-pty's fork sets `c_cc[VEOF] = 4`: ^D. */
const VEOF = 0x04;
/** How often to look again when a terminal whose slave side was closed gets reopened. */
const TAIL_POLL_MS = 20;
/** How long to wait before retrying input that did not fit into the terminal's input queue. */
const INPUT_RETRY_MS = 5;
const READ_CHUNK = 64 * 1024;

/**
 * The master side of a pseudo-terminal: `output` carries every byte written to the terminal and
 * ends only once every process holding the slave side has closed it and the kernel has handed
 * over all it buffered. It owns (and closes) the master fd.
 *
 * WORKAROUND for the lost tail (microsoft/node-pty#72): libuv reads a stream and, when poll()
 * reports POLLHUP after a read that did not fill its buffer, declares EOF without reading again
 * (uv__stream_io). That is right for pipes, but a pty master hands out at most one line-
 * discipline buffer (about 4 KiB) per read, so when the last slave fd closes with more queued,
 * libuv reports a false EOF and node-pty then closes the fd over the unread tail. Measured here:
 * 85 of 100 1 MiB runs short. So we read through libuv while the terminal is live (it has the
 * poll loop and backpressure), keep the fd open when libuv says EOF (`allowHalfOpen`), and then
 * drain it ourselves with non-blocking reads until the kernel answers EIO, which Linux gives only
 * once the slave side is closed AND its buffers are flushed (n_tty_read flushes pending work
 * before it reports EIO). The tail is bounded by the kernel's pty buffering, tens of KiB.
 * If a read in that drain says EAGAIN, someone reopened the slave; we poll every TAIL_POLL_MS
 * until EIO or until the caller gives up (`close`, which Execution does after its linger).
 *
 * Input goes through writeSync on the non-blocking fd rather than the socket, because a write
 * error (EIO once the slave is closed) would make net.Socket destroy itself and close the fd
 * before the output is drained. Input that does not fit is retried every INPUT_RETRY_MS.
 */
export class PtyMaster {
  readonly output: Readable;
  readonly #fd: number;
  readonly #socket: ReadStream;
  readonly #input: { data: Buffer; done: (err?: Error | null) => void }[] = [];
  #draining = false;
  #ended = false;
  #lastInputByte: number | undefined;
  #tailTimer: NodeJS.Timeout | undefined;
  #inputTimer: NodeJS.Timeout | undefined;

  constructor(fd: number) {
    this.#fd = fd;
    this.output = new Readable({
      highWaterMark: READ_CHUNK,
      read: () => (this.#draining ? this.#drainTail() : this.#socket.resume()),
      destroy: (err, callback) => {
        this.close();
        callback(err);
      },
    });
    // allowHalfOpen keeps net.Socket from destroying itself (and closing the fd) at its EOF,
    // which may be libuv's false one; the tail drain needs the fd.
    this.#socket = new ReadStream(fd, { allowHalfOpen: true });
    this.#socket.on('data', (chunk: Buffer) => {
      if (!this.output.push(chunk)) this.#socket.pause();
    });
    this.#socket.on('end', () => {
      this.#draining = true;
      this.#drainTail();
    });
    this.#socket.on('error', (err: NodeJS.ErrnoException) => {
      // The socket destroyed itself, so the fd is closed. EIO is the kernel's true end of output.
      if (err.code === 'EIO') this.#end();
      else this.output.destroy(err);
    });
  }

  /** Whether the master fd is still open. */
  get open(): boolean {
    return !this.#socket.destroyed;
  }

  /** Queues input for the terminal; `done` runs once the kernel has taken all of it. */
  write(data: Buffer, done: (err?: Error | null) => void): void {
    if (data.length === 0) return done();
    this.#lastInputByte = data[data.length - 1];
    this.#input.push({ data, done });
    if (this.#input.length === 1) this.#pumpInput();
  }

  /**
   * Sends the EOF character. In canonical mode it ends a read at once, so a pending partial
   * line needs one ^D to be delivered and another to read as end of input.
   */
  endInput(done: () => void = () => {}): void {
    const pendingLine = this.#lastInputByte !== undefined && this.#lastInputByte !== 0x0a && this.#lastInputByte !== 0x0d;
    this.write(Buffer.from(pendingLine ? [VEOF, VEOF] : [VEOF]), () => done());
  }

  resize(cols: number, rows: number, setSize: (fd: number, cols: number, rows: number) => void): void {
    // Once closed, the fd number may belong to another file by now.
    if (this.open) setSize(this.#fd, cols, rows);
  }

  /** Stops reading and closes the master; processes still on the slave side get a hangup. */
  close(): void {
    clearTimeout(this.#tailTimer);
    clearTimeout(this.#inputTimer);
    this.#failInput();
    this.#socket.destroy();
    if (!this.output.destroyed) this.output.destroy();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#tailTimer);
    this.#failInput();
    this.#socket.destroy();
    this.output.push(null);
  }

  #drainTail(): void {
    this.#tailTimer = undefined;
    if (this.#ended) return;
    if (!this.open) return this.#end();
    for (;;) {
      const buf = Buffer.allocUnsafe(READ_CHUNK);
      let n: number;
      try {
        n = readSync(this.#fd, buf, 0, buf.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          this.#tailTimer = setTimeout(() => this.#drainTail(), TAIL_POLL_MS);
          return;
        }
        // EIO: every slave fd is closed and nothing is left. Anything else: nothing more to get.
        return this.#end();
      }
      // 0 is how BSD and macOS say EOF on a pty master.
      if (n === 0) return this.#end();
      // Read again from output's read() when the consumer wants more.
      if (!this.output.push(buf.subarray(0, n))) return;
    }
  }

  #pumpInput(): void {
    this.#inputTimer = undefined;
    while (this.#input.length > 0) {
      const head = this.#input[0]!;
      if (!this.open) return this.#failInput();
      try {
        const n = writeSync(this.#fd, head.data);
        if (n < head.data.length) {
          head.data = head.data.subarray(n);
          continue;
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          this.#inputTimer = setTimeout(() => this.#pumpInput(), INPUT_RETRY_MS);
          return;
        }
        // EIO: nobody holds the slave any more; input has nowhere to go.
        return this.#failInput();
      }
      this.#input.shift();
      head.done();
    }
  }

  /** Input for a terminal that is gone is dropped quietly, like EPIPE on a stdin pipe. */
  #failInput(): void {
    for (const { done } of this.#input.splice(0)) done();
  }
}
