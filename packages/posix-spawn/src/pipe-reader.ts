import { EventEmitter } from 'node:events';
import { binding, type ReaderHandle } from './binding.js';

interface PipeReaderEvents {
  data: [chunk: Buffer];
  end: [];
  error: [err: NodeJS.ErrnoException];
  close: [];
}

/** Reads up to this much per readiness: a full 256 KiB frame of output in one read when it is there. */
const PIPE_READ_BYTES = 256 * 1024;

/**
 * Where every PipeReader's reads land, one for the process: readers run on the event loop, one
 * read and its 'data' listeners at a time, so none can overwrite another's bytes while they are
 * being handled. Allocated once (a read per Buffer would be V8 external memory per read; see
 * the addon's openReader).
 */
let readBuffer: Buffer | undefined;

/**
 * A child's output pipe, read by the addon (a uv_poll and one read per readiness) instead of a
 * net.Socket, whose Duplex, Pipe handle and stream state machine cost more per command than
 * the spawn itself. Emits what a Readable in flowing mode does for a pipe: 'data' per read,
 * 'end' at EOF (or 'error'), then 'close'. pause() stops reading, so that the pipe fills and
 * its writer blocks in the kernel; nothing is buffered here. Unlike a Readable it reads from
 * construction on and holds nothing for late listeners: attach them in the same tick (the first
 * read is delivered from the event loop, never before then).
 *
 * Unlike a Readable's, a 'data' chunk is lent, not given: it is valid only until its listeners
 * return, and the next read reuses its memory. A listener that keeps bytes copies them.
 */
export class PipeReader extends EventEmitter<PipeReaderEvents> {
  /** Undefined once the addon has let go of the fd: after EOF, an error or destroy(). */
  #handle: ReaderHandle | undefined;
  #paused = false;

  constructor(fd: number) {
    super();
    readBuffer ??= Buffer.allocUnsafeSlow(PIPE_READ_BYTES);
    const buffer = readBuffer;
    this.#handle = binding().openReader(fd, (err, n) => this.#onRead(err, n > 0 ? buffer.subarray(0, n) : null), buffer);
  }

  get destroyed(): boolean {
    return this.#handle === undefined;
  }

  pause(): this {
    if (this.#handle && !this.#paused) binding().pauseReader(this.#handle);
    this.#paused = true;
    return this;
  }

  resume(): this {
    if (this.#handle && this.#paused) binding().resumeReader(this.#handle);
    this.#paused = false;
    return this;
  }

  /** Stops reading and closes the fd; what the pipe still holds is not read. */
  destroy(): this {
    const handle = this.#handle;
    if (!handle) return this;
    this.#handle = undefined;
    binding().closeReader(handle);
    process.nextTick(() => this.emit('close'));
    return this;
  }

  #onRead(err: NodeJS.ErrnoException | null, data: Buffer | null): void {
    if (data) {
      this.emit('data', data);
      return;
    }
    // The addon has closed the fd already.
    this.#handle = undefined;
    if (err) this.emit('error', err);
    else this.emit('end');
    this.emit('close');
  }
}
