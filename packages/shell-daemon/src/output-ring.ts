import { BLOCK_BYTES, releaseBlock, takeBlock, type OutputBlock } from './output-blocks.js';

/**
 * Past either of these a stream is output in bulk, copied into recycled blocks; below both it
 * is a command's few lines, copied at their exact size (a block each would be 256 KiB per
 * retained command).
 */
const BULK_APPEND_BYTES = 16 * 1024;
const BULK_HELD_BYTES = 64 * 1024;

/**
 * A ring that has taken no output for this long gives its blocks back (compact()): a command that
 * printed a few hundred KiB and went quiet (a server's banner) would otherwise keep up to a
 * block more than its bytes for as long as it runs, a thousand of them 256 MiB.
 */
export const QUIET_MS = 2000;

/** Rings that hold blocks, for the sweep; a ring leaves it when it holds none. */
const holdingBlocks = new Set<OutputRing>();
let sweep: NodeJS.Timeout | undefined;

/** Compacts every ring that has taken no output since `now - QUIET_MS`; the sweep's work, exported for tests. */
export function compactQuietRings(now = performance.now()): void {
  for (const ring of holdingBlocks) if (now - ring.lastAppendAt >= QUIET_MS) ring.compact();
  if (holdingBlocks.size === 0) {
    clearInterval(sweep);
    sweep = undefined;
  }
}

function watchQuiet(ring: OutputRing): void {
  holdingBlocks.add(ring);
  if (sweep) return;
  sweep = setInterval(compactQuietRings, QUIET_MS);
  // Housekeeping: it must not keep a stopping daemon alive.
  sweep.unref();
}

/**
 * The bytes of one output stream, addressed by absolute offset since the command started.
 * It keeps every byte a client has not yet acknowledged, plus history up to `capacity`
 * bytes for replay to a client that attaches later. The reader is paused (by the caller)
 * while `unacked >= capacity`, so memory stays within capacity plus one read (and, for bulk
 * output, what is unused of its first and last blocks).
 *
 * append() copies: what it is handed is lent (a pipe read's memory is reused by the next
 * read). Bulk output goes into blocks from output-blocks.ts, given back once trimmed.
 */
export class OutputRing {
  readonly capacity: number;
  /** Views of what is held, in order; bulk ones into the blocks below. */
  #chunks: Buffer[] = [];
  /**
   * Blocks holding bytes, each with the offset one past its last byte. The last is the one
   * appends fill, #tailUsed bytes of it so far.
   */
  #blocks: { readonly block: OutputBlock; end: number }[] = [];
  #tailUsed = 0;
  /** Offset of the first byte still held. */
  #start = 0;
  /** Offset one past the last byte written: total bytes produced. */
  #end = 0;
  /** Bytes before this offset were consumed by a client and may be discarded. */
  #acked = 0;
  /** Whether acknowledged bytes are kept, up to capacity, for replay: until dropHistory(). */
  #history = true;
  /** performance.now() at the last append into a block. */
  lastAppendAt = 0;

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

  /** Copies `data` in (it is lent: see the class comment). */
  append(data: Buffer): void {
    const n = data.length;
    if (n === 0) return;
    if (this.#blocks.length === 0 && n < BULK_APPEND_BYTES && this.#end - this.#start < BULK_HELD_BYTES) {
      const copy = Buffer.allocUnsafeSlow(n);
      data.copy(copy);
      this.#chunks.push(copy);
      this.#end += n;
      this.#trim();
      return;
    }
    this.lastAppendAt = performance.now();
    if (this.#blocks.length === 0) watchQuiet(this);
    for (let from = 0; from < n; ) {
      if (this.#blocks.length === 0 || this.#tailUsed === BLOCK_BYTES) {
        this.#blocks.push({ block: takeBlock(), end: this.#end });
        this.#tailUsed = 0;
      }
      const tail = this.#blocks[this.#blocks.length - 1]!;
      const memory = tail.block.memory;
      const k = Math.min(n - from, BLOCK_BYTES - this.#tailUsed);
      data.copy(memory, this.#tailUsed, from, from + k);
      // Bytes that continue the last chunk in the same block extend it: fewer, larger pieces
      // per frame.
      const last = this.#chunks.length - 1;
      const prev = this.#chunks[last];
      if (prev && prev.buffer === memory.buffer && prev.byteOffset + prev.length === this.#tailUsed) {
        this.#chunks[last] = memory.subarray(prev.byteOffset, this.#tailUsed + k);
      } else {
        this.#chunks.push(memory.subarray(this.#tailUsed, this.#tailUsed + k));
      }
      this.#tailUsed += k;
      this.#end += k;
      tail.end = this.#end;
      from += k;
    }
    this.#trim();
  }

  /**
   * Moves what is held out of blocks into copies of its own size and gives the blocks back: for
   * a ring that takes no more output (its command exited) and may be kept for minutes, or one
   * gone quiet (the sweep above), where a block would hold up to 256 KiB for a tail of a few
   * bytes, and --max-exited-bytes, which counts bytes held, would be wrong by as much. Output
   * that comes later goes into blocks again.
   */
  compact(): void {
    if (this.#blocks.length === 0) return;
    const memories = new Set<ArrayBufferLike>(this.#blocks.map(({ block }) => block.memory.buffer));
    this.#chunks = this.#chunks.map((chunk) => {
      if (!memories.has(chunk.buffer)) return chunk;
      const copy = Buffer.allocUnsafeSlow(chunk.length);
      chunk.copy(copy);
      return copy;
    });
    for (const { block } of this.#blocks) releaseBlock(block);
    this.#blocks = [];
    this.#tailUsed = 0;
    holdingBlocks.delete(this);
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
    // Blocks whose every byte is gone go back, the one being filled too once the ring is empty
    // (an exited command's ring would otherwise keep a block it never fills).
    const blocks = this.#blocks;
    let released = false;
    while (blocks.length > 0 && blocks[0]!.end <= this.#start && (blocks.length > 1 || this.#start === this.#end)) {
      releaseBlock(blocks.shift()!.block);
      released = true;
    }
    if (released && blocks.length === 0) holdingBlocks.delete(this);
  }
}
