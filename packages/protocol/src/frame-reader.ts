import { ErrorCodes } from './codes.js';
import { ProtocolError } from './errors.js';
import { varintLength } from './varint.js';

/**
 * A body that comes in more pieces than this is joined as it arrives instead: a peer trickling a
 * frame a byte per read must not make us hold an object per byte. A legitimate 1 MiB frame in
 * 64 KiB reads is 17 pieces.
 */
const MAX_PIECES = 64;

/** The least a joined body starts with; it doubles as bytes arrive, up to the declared length. */
const JOIN_START_BYTES = 4096;

/**
 * Splits a byte stream into frame bodies, synchronously, as chunks arrive: the framing of
 * length-prefixed-stream (an unsigned LEB128 length, then the body), read the same way.
 *
 * A body that arrived in one chunk is handed over as a view of it. A body that spans chunks is
 * handed over as the views it spans, not joined: the caller may then take a large payload as
 * those pieces rather than copy it (see trailingPayload). length-prefixed-stream copied every
 * spanning body into one buffer, and a 256 KiB output frame always spans the 64 KiB reads of a
 * socket: that copy was 16% of the client's CPU in a 1 GiB stream (bench/README.md).
 *
 * The declared length is checked against `maxFrameBytes` before anything is buffered, and
 * nothing is allocated for bytes that have not arrived (a joined body grows with them), so a peer
 * cannot make us hold its claimed size. After an error the reader stays failed.
 */
export class FrameReader {
  readonly #maxFrameBytes: number;
  /** A prefix longer than the encoding of the limit is over the limit whatever follows. */
  readonly #maxPrefixBytes: number;
  readonly #onFrame: (pieces: readonly Buffer[], length: number) => void;
  #prefixValue = 0;
  #prefixBytes = 0;
  /** Body bytes still to come for the frame being read; 0 while reading a prefix. */
  #missing = 0;
  #length = 0;
  #pieces: Buffer[] = [];
  /** The body being joined, once it came in more than MAX_PIECES pieces, and how much of it is in. */
  #joined: Buffer | undefined;
  #joinedBytes = 0;
  #failed = false;

  constructor(maxFrameBytes: number, onFrame: (pieces: readonly Buffer[], length: number) => void) {
    this.#maxFrameBytes = maxFrameBytes;
    this.#maxPrefixBytes = varintLength(maxFrameBytes);
    this.#onFrame = onFrame;
  }

  /** Takes the next chunk of the stream; throws ProtocolError (FRAME_TOO_LARGE) on a bad prefix. */
  push(chunk: Buffer): void {
    if (this.#failed) return;
    let at = 0;
    while (at < chunk.length) {
      if (this.#missing === 0) {
        at = this.#readPrefix(chunk, at);
        continue;
      }
      const take = Math.min(this.#missing, chunk.length - at);
      this.#keep(at === 0 && take === chunk.length ? chunk : chunk.subarray(at, at + take));
      at += take;
      this.#missing -= take;
      if (this.#missing === 0) this.#emit();
    }
  }

  #readPrefix(chunk: Buffer, at: number): number {
    while (at < chunk.length) {
      const byte = chunk[at++]!;
      if (this.#prefixBytes >= this.#maxPrefixBytes) this.#tooLarge();
      this.#prefixValue += (byte & 0x7f) * 2 ** (7 * this.#prefixBytes);
      this.#prefixBytes++;
      if (byte & 0x80) continue;
      const length = this.#prefixValue;
      this.#prefixValue = 0;
      this.#prefixBytes = 0;
      if (length > this.#maxFrameBytes) this.#tooLarge();
      this.#length = length;
      this.#missing = length;
      // An empty body is a frame too (the channel reports it as malformed).
      if (length === 0) this.#emit();
      return at;
    }
    return at;
  }

  #keep(piece: Buffer): void {
    if (!this.#joined && this.#pieces.length < MAX_PIECES) {
      this.#pieces.push(piece);
      return;
    }
    const needed = this.#joinedBytes + piece.length + (this.#joined ? 0 : this.#pieces.reduce((n, kept) => n + kept.length, 0));
    if (!this.#joined || needed > this.#joined.length) {
      // Room for what has arrived, doubling, never past the declared length (checked against the
      // limit already): 65 one-byte writes after a 1 MiB prefix must not cost 1 MiB.
      const grown = Buffer.allocUnsafe(Math.min(this.#length, Math.max(needed, 2 * (this.#joined?.length ?? 0), JOIN_START_BYTES)));
      if (this.#joined) this.#joined.copy(grown, 0, 0, this.#joinedBytes);
      else for (const kept of this.#pieces) this.#joinedBytes += kept.copy(grown, this.#joinedBytes);
      this.#joined = grown;
      this.#pieces = [];
    }
    this.#joinedBytes += piece.copy(this.#joined, this.#joinedBytes);
  }

  #emit(): void {
    const pieces = this.#joined ? [this.#joined] : this.#pieces;
    this.#pieces = [];
    this.#joined = undefined;
    this.#joinedBytes = 0;
    this.#onFrame(pieces, this.#length);
  }

  #tooLarge(): never {
    this.#failed = true;
    this.#pieces = [];
    this.#joined = undefined;
    throw new ProtocolError(ErrorCodes.FRAME_TOO_LARGE, `frame length exceeds the limit of ${this.#maxFrameBytes} bytes`, {
      maxFrameBytes: this.#maxFrameBytes,
    });
  }
}
