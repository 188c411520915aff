import { Duplex, type Readable, type Writable } from 'node:stream';

/**
 * One Duplex over a Readable and a Writable (stdin and stdout; a port's two fs streams), whose
 * write callbacks fire when the inner stream's do: once the bytes are written, not merely
 * queued.
 *
 * Why not `Duplex.from({ readable, writable })`: its write calls back as soon as the inner
 * stream has taken a chunk into its buffer (when that write returned true), while the inner
 * stream still holds the chunk. FrameChannel's `written` callback releases output blocks for
 * reuse (output-blocks.ts), so a callback that early let a block be refilled while its bytes
 * still waited to go out.
 */
export class JoinedDuplex extends Duplex {
  readonly #readable: Readable;
  readonly #writable: Writable;

  constructor(readable: Readable, writable: Writable) {
    // Half-open, as Duplex.from's is: the peer's EOF ends reading; what we still write goes out
    // until end() (FrameChannel ends us at the peer's EOF).
    super({ allowHalfOpen: true });
    this.#readable = readable;
    this.#writable = writable;
    readable.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) readable.pause();
    });
    readable.once('end', () => this.push(null));
    // Closed without an end (destroyed under us): nothing more will come, and nobody to write to.
    readable.once('close', () => {
      if (!readable.readableEnded) this.destroy();
    });
    readable.on('error', (err) => this.destroy(err));
    writable.on('error', (err) => this.destroy(err));
  }

  override _read(): void {
    this.#readable.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#writable.write(chunk, encoding, callback);
  }

  /** A frame's header and pieces, written while the previous write was in flight: one batch. */
  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], callback: (err?: Error | null) => void): void {
    const writable = this.#writable;
    writable.cork();
    // The inner stream completes its writes in order: the last one's callback covers them all.
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) writable.write(chunks[i]!.chunk, chunks[i]!.encoding);
    writable.write(chunks[last]!.chunk, chunks[last]!.encoding, callback);
    writable.uncork();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#writable.end((err?: Error | null) => callback(err ?? null));
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#readable.destroy();
    this.#writable.destroy();
    callback(err);
  }
}
