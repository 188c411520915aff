/**
 * The bytes of one output stream, addressed by absolute offset since the command started.
 * It keeps every byte a client has not yet acknowledged, plus history up to `capacity`
 * bytes for replay to a client that attaches later. The reader is paused (by the caller)
 * while `unacked >= capacity`, so memory stays within capacity plus one read.
 */
export class OutputRing {
  readonly capacity: number;
  #chunks: Buffer[] = [];
  /** Offset of the first byte still held. */
  #start = 0;
  /** Offset one past the last byte written: total bytes produced. */
  #end = 0;
  /** Bytes before this offset were consumed by a client and may be discarded. */
  #acked = 0;
  /** Whether acknowledged bytes are kept, up to capacity, for replay: until dropHistory(). */
  #history = true;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get start(): number {
    return this.#start;
  }

  get end(): number {
    return this.#end;
  }

  get acked(): number {
    return this.#acked;
  }

  get unacked(): number {
    return this.#end - this.#acked;
  }

  /** Copies `data` in: it is lent (a pipe read's memory is reused by the next read). */
  append(data: Buffer): void {
    if (data.length === 0) return;
    const copy = Buffer.allocUnsafeSlow(data.length);
    data.copy(copy);
    this.#chunks.push(copy);
    this.#end += data.length;
    this.#trim();
  }

  /** Marks bytes before `offset` as consumed (never moves backwards or past the end). */
  ack(offset: number): void {
    this.#acked = Math.min(this.#end, Math.max(this.#acked, offset));
    this.#trim();
  }

  /**
   * Up to `max` bytes starting at `offset` (which must be >= start), as the held chunks they
   * span (the first and last cut to fit), without copying. Empty when nothing is held there.
   */
  read(offset: number, max: number): Buffer[] {
    const chunks = this.#chunks;
    // Unsent bytes are at the end, so look from there: a ring of small (PTY) chunks holds many.
    let i = chunks.length;
    let position = this.#end;
    while (i > 0 && position > offset) position -= chunks[--i]!.length;
    const parts: Buffer[] = [];
    let skip = offset - position;
    let room = max;
    for (; i < chunks.length && room > 0; i++) {
      const chunk = chunks[i]!;
      const piece = skip === 0 && chunk.length <= room ? chunk : chunk.subarray(skip, skip + room);
      skip = 0;
      parts.push(piece);
      room -= piece.length;
    }
    return parts;
  }

  /**
   * Drops replay history, now and for every later acknowledgement, keeping only bytes not yet
   * acknowledged: once a command's exit has been sent, history is not worth its memory, but a
   * client that dropped before reading the tail can still attach and get it.
   */
  dropHistory(): void {
    this.#history = false;
    this.#trim();
  }

  /** Discards bytes that are acknowledged and (while history is kept) older than `capacity` from the end. */
  #trim(): void {
    const keepFrom = this.#history ? Math.min(this.#acked, this.#end - this.capacity) : this.#acked;
    while (this.#start < keepFrom && this.#chunks.length > 0) {
      const first = this.#chunks[0]!;
      const drop = Math.min(first.length, keepFrom - this.#start);
      if (drop === first.length) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(drop);
      this.#start += drop;
    }
  }
}
