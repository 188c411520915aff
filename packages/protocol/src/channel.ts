import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { decodeBody } from './codec.js';
import { ErrorCodes, FATAL_STREAM_CODES } from './codes.js';
import { ConchError, ProtocolError } from './errors.js';
import { encodeFrame, encodeFrameParts } from './frame.js';
import { FrameReader } from './frame-reader.js';
import type { Message, StreamOutput } from './messages.js';
import { trailingPayload, type TrailingPayload } from './trailing-payload.js';

export interface FrameChannelOptions<In> {
  /** Largest frame accepted from the peer. */
  readonly maxFrameBytes: number;
  /** Validates a decoded body into a message; throws ProtocolError. */
  readonly validate: (value: unknown) => In;
  /**
   * Stop reading the peer while more than this many bytes of our frames wait to be written to
   * it, until they drain: a peer that sends requests but never reads the replies cannot grow
   * our memory. Only for a side whose peer keeps reading while its own writes are blocked (the
   * daemon); two peers that both did this could wait on each other. @default no bound
   */
  readonly maxUnreadBytes?: number;
  /** Largest frame the peer accepts, when known (it can be learnt later: setPeerMaxFrameBytes). */
  readonly peerMaxFrameBytes?: number;
}

export interface FrameChannelEvents<In> {
  message: [In];
  /** The peer sent something invalid. `fatal` means the stream is out of sync and will be closed. */
  protocolError: [ProtocolError, { fatal: boolean; requestId?: number; command?: string }];
  drain: [];
  close: [];
}

/**
 * Frames over any byte Duplex (net.Socket, a vsock socket, a virtio-serial port, stdio).
 * Decoding and validation happen here, at the boundary; listeners only ever see typed messages.
 */
export class FrameChannel<In extends Message, Out extends Message> extends EventEmitter<FrameChannelEvents<In>> {
  readonly #stream: Duplex;
  readonly #reader: FrameReader;
  readonly #options: FrameChannelOptions<In>;
  #closed = false;
  #emittedClose = false;
  #peerMaxFrameBytes: number | undefined;
  /** Reading the peer is paused because the peer is not reading us. */
  #peerHeld = false;

  constructor(stream: Duplex, options: FrameChannelOptions<In>) {
    super();
    this.#stream = stream;
    this.#options = options;
    this.#peerMaxFrameBytes = options.peerMaxFrameBytes;
    // Frames are handed to listeners as each chunk is read, so nothing queues between the
    // transport and them: a flood of frames is held back by the transport's own flow control.
    this.#reader = new FrameReader(options.maxFrameBytes, (pieces, length) => this.#onFrame(pieces, length));
    stream.on('data', (chunk: Buffer) => {
      if (this.#closed) return;
      try {
        this.#reader.push(chunk);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        this.#fail(err, {});
      }
    });
    stream.on('drain', () => this.emit('drain'));
    // Transport errors (ECONNRESET, EPIPE) end the channel; callers learn of it through 'close'.
    stream.on('error', () => this.destroy());
    stream.on('end', () => this.close());
    stream.on('close', () => this.destroy());
    // A transport may be handed over paused (a hybrid-vsock socket, held still between its
    // CONNECT reply and now so no byte was emitted to nobody): now that we listen, let it flow.
    if (!this.#peerHeld) stream.resume();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether the underlying stream's write buffer is over its high-water mark. */
  get writableNeedDrain(): boolean {
    return this.#stream.writableNeedDrain;
  }

  /** The peer's frame limit, from its Hello or Welcome. */
  setPeerMaxFrameBytes(bytes: number): void {
    this.#peerMaxFrameBytes = bytes;
  }

  /**
   * Sends one message. Returns false when the caller should wait for 'drain' before sending more.
   * Throws LIMIT_EXCEEDED, sending nothing, for a frame larger than the peer accepts: the peer
   * would have to drop the connection over it, and everything else on it with it.
   */
  send(message: Out): boolean {
    if (!this.#canWrite()) return false;
    const frame = encodeFrame(message);
    const max = this.#peerMaxFrameBytes;
    if (max !== undefined && frame.length > max) {
      // The peer's limit is on the body: the frame less its varint prefix (high bit: more bytes).
      let prefix = 1;
      while (frame[prefix - 1]! & 0x80) prefix++;
      const body = frame.length - prefix;
      if (body > max) throw new ConchError(ErrorCodes.LIMIT_EXCEEDED, `${message.type} of ${body} bytes is larger than the peer accepts in one frame (${max} bytes)`, {
        limit: 'maxFrameBytes', bytes: body, maxFrameBytes: max,
      });
    }
    return this.#wrote(this.#stream.write(frame));
  }

  /**
   * Sends a message whose `data` is `payload` joined, without joining it: the frame goes out as
   * one write of its header and then the pieces (a single writev where the transport has one).
   * Returns what send() returns. `written`, when given, is called once the stream no longer
   * holds the pieces (their write completed or failed), and at once when nothing was written:
   * until then their memory must not change.
   */
  sendParts<M extends Out & { data: Uint8Array }>(message: Omit<M, 'data'>, payload: readonly Uint8Array[], written?: () => void): boolean {
    if (!this.#canWrite()) {
      written?.();
      return false;
    }
    const parts = encodeFrameParts<M>(message, payload);
    // A Writable finishes its writes in order, so the last one's callback covers them all.
    const last = parts.length - 1;
    if (last === 0) return this.#wrote(this.#stream.write(parts[0], written));
    this.#stream.cork();
    let ok = true;
    for (let i = 0; i < last; i++) ok = this.#stream.write(parts[i]);
    ok = this.#stream.write(parts[last], written);
    this.#stream.uncork();
    return this.#wrote(ok);
  }

  #canWrite(): boolean {
    return !this.#closed && !this.#stream.destroyed && this.#stream.writable;
  }

  #wrote(ok: boolean): boolean {
    const max = this.#options.maxUnreadBytes;
    // 'drain' follows only a write that returned false, so hold only then.
    if (!ok && max !== undefined && this.#stream.writableLength > max && !this.#peerHeld) {
      this.#peerHeld = true;
      this.#stream.pause();
      this.#stream.once('drain', () => {
        this.#peerHeld = false;
        this.#stream.resume();
      });
    }
    return ok;
  }

  /** Half-closes after pending writes flush, then tears the stream down. */
  close(): void {
    if (!this.#closed) {
      this.#closed = true;
      this.#stream.end();
      // A peer that never reads would keep our end() pending forever; bound it.
      const timer = setTimeout(() => this.#stream.destroy(), CLOSE_FLUSH_TIMEOUT_MS);
      timer.unref();
      this.#stream.once('close', () => clearTimeout(timer));
    }
    this.#emitClose();
  }

  destroy(): void {
    this.#closed = true;
    if (!this.#stream.destroyed) this.#stream.destroy();
    this.#emitClose();
  }

  #onFrame(pieces: readonly Buffer[], length: number): void {
    if (this.#closed) return;
    if (pieces.length > 1) {
      const split = trailingPayload(pieces, length);
      if (split && this.#emitOutputPieces(split)) return;
    }
    const body = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, length);
    let raw: unknown;
    try {
      raw = decodeBody(body);
    } catch (err) {
      this.#fail(err as ProtocolError, {});
      return;
    }
    let message: In;
    try {
      message = this.#options.validate(raw);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.#fail(err, referencesOf(raw));
      return;
    }
    this.emit('message', message);
  }

  /**
   * A StreamOutput whose payload arrived in several chunks goes to the listeners as one message
   * per chunk, each with its own offset, rather than joined into a copy: the same bytes at the
   * same offsets, only cut differently. False (and nothing emitted) for anything else, which then
   * takes the usual path, errors included.
   */
  #emitOutputPieces({ head, payload }: TrailingPayload): boolean {
    let message: In;
    try {
      message = this.#options.validate(decodeBody(head));
    } catch {
      return false;
    }
    if (message.type !== 'StreamOutput' || payload.length === 0) return false;
    let offset = (message as StreamOutput).offset;
    for (const data of payload) {
      if (this.#closed) break;
      this.emit('message', { ...message, offset, data });
      offset += data.length;
    }
    return true;
  }

  #fail(err: ProtocolError, refs: { requestId?: number; command?: string }): void {
    // After a fatal error the decoder may still choke on the rest of the chunk it was given;
    // the stream is already being closed, so that is not news for the listeners.
    if (this.#closed) return;
    const fatal = FATAL_STREAM_CODES.has(err.code);
    this.emit('protocolError', err, { fatal, ...refs });
    if (fatal) this.close();
  }

  #emitClose(): void {
    if (this.#emittedClose) return;
    this.#emittedClose = true;
    this.emit('close');
  }
}

/** How long close() waits for buffered frames (an Error frame, say) to flush before destroying. */
export const CLOSE_FLUSH_TIMEOUT_MS = 2000;

/** The request id and command of an invalid message, when readable, so the error can name them. */
function referencesOf(raw: unknown): { requestId?: number; command?: string } {
  if (typeof raw !== 'object' || raw === null) return {};
  const { id, command } = raw as { id?: unknown; command?: unknown };
  return {
    ...(typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? { requestId: id } : {}),
    ...(typeof command === 'string' && command.length > 0 && command.length <= 256 ? { command } : {}),
  };
}
