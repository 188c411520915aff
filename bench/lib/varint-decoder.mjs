/**
 * A hand-written frame decoder for the same wire format as length-prefixed-stream (unsigned
 * LEB128 length, then the body), without a stream in between: `push(chunk)` calls `onFrame`
 * synchronously for every complete body. A body inside one chunk is a view (no copy); one that
 * spans chunks is copied once into a buffer of its declared size. Used only to check whether
 * length-prefixed-stream costs anything measurable; the wire format is unchanged.
 */
export class VarintFrameDecoder {
  #onFrame;
  #limit;
  /** Body being assembled across chunks, and how much of it is filled. */
  #body = null;
  #filled = 0;
  /** Length prefix being read across chunks. */
  #length = 0;
  #shift = 0;

  constructor(onFrame, limit) {
    this.#onFrame = onFrame;
    this.#limit = limit;
  }

  push(chunk) {
    let at = 0;
    while (at < chunk.length) {
      if (this.#body !== null) {
        const n = Math.min(this.#body.length - this.#filled, chunk.length - at);
        chunk.copy(this.#body, this.#filled, at, at + n);
        this.#filled += n;
        at += n;
        if (this.#filled === this.#body.length) {
          const body = this.#body;
          this.#body = null;
          this.#onFrame(body);
        }
        continue;
      }
      const byte = chunk[at++];
      this.#length += (byte & 0x7f) * 2 ** this.#shift;
      this.#shift += 7;
      if (byte & 0x80) {
        if (this.#shift > 35) throw new Error('varint too long');
        continue;
      }
      const length = this.#length;
      this.#length = 0;
      this.#shift = 0;
      if (length > this.#limit) throw new Error(`frame of ${length} bytes over the limit`);
      if (chunk.length - at >= length) {
        this.#onFrame(chunk.subarray(at, at + length));
        at += length;
      } else {
        this.#body = Buffer.allocUnsafe(length);
        this.#filled = 0;
      }
    }
  }
}
