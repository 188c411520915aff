import { EventEmitter } from 'node:events';
import { binding, type ReaderHandle } from './binding.js';

interface PipeReaderEvents {
  data: [chunk: Buffer];
  end: [];
  error: [err: NodeJS.ErrnoException];
  close: [];
}

/**
 * A child's output pipe, read by the addon (a uv_poll and one read per readiness) instead of a
 * net.Socket, whose Duplex, Pipe handle and stream state machine cost more per command than
 * the spawn itself. Emits what a Readable in flowing mode does for a pipe: 'data' per read,
 * 'end' at EOF (or 'error'), then 'close'. pause() stops reading, so that the pipe fills and
 * its writer blocks in the kernel; nothing is buffered here. Unlike a Readable it reads from
 * construction on and holds nothing for late listeners: attach them in the same tick (the first
 * read is delivered from the event loop, never before then).
 */
export class PipeReader extends EventEmitter<PipeReaderEvents> {
  /** Undefined once the addon has let go of the fd: after EOF, an error or destroy(). */
  #handle: ReaderHandle | undefined;
  #paused = false;

  constructor(fd: number) {
    super();
    this.#handle = binding().openReader(fd, (err, data) => this.#onRead(err, data));
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
