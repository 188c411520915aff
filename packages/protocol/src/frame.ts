import type { Transform } from 'node:stream';
import * as lps from 'length-prefixed-stream';
import { encodeBodyShared } from './codec.js';
import { ErrorCodes } from './codes.js';
import { ProtocolError } from './errors.js';
import type { Message } from './messages.js';
import { varintLength, writeVarint } from './varint.js';

/** A whole frame: varint length prefix, then the msgpack body. */
export function encodeFrame(message: Message): Buffer {
  const body = encodeBodyShared(message);
  const prefix = varintLength(body.length);
  const frame = Buffer.allocUnsafe(prefix + body.length);
  writeVarint(body.length, frame, 0);
  frame.set(body, prefix);
  return frame;
}

/**
 * A Transform from raw bytes to frame bodies (Buffers), built on length-prefixed-stream.
 * It checks the declared length against `maxFrameBytes` before buffering anything, so a peer
 * cannot make us allocate its claimed size. Its errors are untyped: pass them to frameError().
 */
export function createFrameDecoder(maxFrameBytes: number): Transform {
  return lps.decode({ limit: maxFrameBytes, allowEmpty: true });
}

/**
 * length-prefixed-stream reports every prefix problem with one untyped Error: a length over the
 * limit, or a varint longer than the limit's own encoding. Both mean "too large".
 */
export function frameError(err: unknown, maxFrameBytes: number): ProtocolError {
  if (err instanceof ProtocolError) return err;
  return new ProtocolError(ErrorCodes.FRAME_TOO_LARGE, `frame length exceeds the limit of ${maxFrameBytes} bytes`, { maxFrameBytes });
}
