/** Bytes per block: a full frame of output (connection.ts sizes frames by it), and one full pipe read. */
export const BLOCK_BYTES = 256 * 1024;

/**
 * Idle blocks kept for the next stream: enough for the rings of a stream in full flow to cycle
 * through (a ring frees blocks about as fast as it takes them), little enough that an idle
 * daemon holds at most 4 MiB more once streaming has stopped.
 */
const MAX_IDLE_BLOCKS = 16;

/**
 * A block of output memory that rings copy pipe reads into and send frames from.
 *
 * Why blocks rather than a Buffer per read: each new Buffer is an ArrayBuffer outside the V8
 * heap, and V8 counts external bytes towards starting a full collection. At hundreds of MB/s,
 * once the heap held a few thousand exit records (a long-lived daemon), V8 ran an incremental
 * mark every 50-60 ms, and a stream through it ran at about 65% of a fresh daemon's speed
 * (bench/README.md, Streaming). Recycled blocks are allocated once.
 *
 * A block may be reused only when nothing can still read it: its ring has let go of every byte
 * in it (`held` false), and no write that carries a piece of it is still queued on a transport
 * (`pins` 0). A write holds its Buffers until its callback, and a client may acknowledge bytes
 * before they have left our socket (a client that lies, or one that attaches from a second
 * connection while the first is backed up), so the ring's acknowledgements alone are not proof.
 */
export class OutputBlock {
  readonly memory = Buffer.allocUnsafeSlow(BLOCK_BYTES);
  /** Writes in flight whose data includes part of this block. */
  pins = 0;
  /** Whether a ring still holds bytes in it (or may write more into it). */
  held = true;
}

const idle: OutputBlock[] = [];
/** The block of each block's memory, so a write can find what it pins from the views it sends. */
const blockOf = new WeakMap<ArrayBuffer, OutputBlock>();

/** A block for a ring to fill: an idle one if there is one. */
export function takeBlock(): OutputBlock {
  const block = idle.pop() ?? newBlock();
  block.held = true;
  return block;
}

function newBlock(): OutputBlock {
  const block = new OutputBlock();
  blockOf.set(block.memory.buffer, block);
  return block;
}

/** A ring lets go of `block`; it is reused once no write holds it. */
export function releaseBlock(block: OutputBlock): void {
  // Twice would put it in the idle list twice, and two rings would fill it.
  if (!block.held) return;
  block.held = false;
  if (block.pins === 0) recycle(block);
}

function recycle(block: OutputBlock): void {
  // Past the cap, the block is left to the collector.
  if (idle.length < MAX_IDLE_BLOCKS) idle.push(block);
}

/**
 * Pins the blocks that `parts` are views into, for a write of them; returns what to call once
 * the transport no longer holds them, or undefined when no part is block memory (small outputs
 * are copied exactly and never reused, so a write of them needs no callback).
 */
export function pinBlocks(parts: readonly Uint8Array[]): (() => void) | undefined {
  let pinned: OutputBlock[] | undefined;
  for (const part of parts) {
    const block = blockOf.get(part.buffer as ArrayBuffer);
    if (!block) continue;
    block.pins++;
    (pinned ??= []).push(block);
  }
  if (!pinned) return undefined;
  const blocks = pinned;
  let done = false;
  return () => {
    if (done) return;
    done = true;
    for (const block of blocks) {
      if (--block.pins === 0 && !block.held) recycle(block);
    }
  };
}

/** Idle blocks now (for tests). */
export function idleBlocks(): number {
  return idle.length;
}
