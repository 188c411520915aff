import { Decoder, Encoder } from '@msgpack/msgpack';
import { ErrorCodes } from './codes.js';
import { ProtocolError } from './errors.js';
import type { ClientMessage, DaemonMessage, Message } from './messages.js';
import { validateClientMessage, validateDaemonMessage } from './validate.js';

// One encoder per process: encodeSharedRef reuses its buffer, and Node is single-threaded,
// so the bytes are copied out (by the framer) before the next encode can touch them.
const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder({ useBigInt64: false });

/** msgpack body of a message, without the length prefix. The result is a fresh copy. */
export function encodeBody(message: Message): Uint8Array {
  return encoder.encode(message);
}

/** Encodes into the shared buffer; the view is valid only until the next encode. */
export function encodeBodyShared(message: Message): Uint8Array {
  return encoder.encodeSharedRef(message);
}

/** Decodes msgpack to `unknown`. Any decoder failure becomes MALFORMED_FRAME. */
export function decodeBody(body: Uint8Array): unknown {
  if (body.length === 0) throw new ProtocolError(ErrorCodes.MALFORMED_FRAME, 'empty frame');
  try {
    return decoder.decode(body);
  } catch (err) {
    throw new ProtocolError(ErrorCodes.MALFORMED_FRAME, `frame is not valid msgpack: ${(err as Error).message}`);
  }
}

export function decodeClientMessage(body: Uint8Array): ClientMessage {
  return validateClientMessage(decodeBody(body));
}

export function decodeDaemonMessage(body: Uint8Array): DaemonMessage {
  return validateDaemonMessage(decodeBody(body));
}
