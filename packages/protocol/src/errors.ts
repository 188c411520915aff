import type { ErrorCode } from './codes.js';

/**
 * Base of every error conch raises, on either side. `code` is stable; `message` is for humans.
 */
export class ConchError extends Error {
  /** One of ErrorCodes; from a newer daemon (RemoteError), possibly a code this version lacks. */
  readonly code: ErrorCode | (string & {});
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode | (string & {}), message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConchError';
    this.code = code;
    this.details = details;
  }
}

/** Raised while decoding or validating a frame: the peer sent something we cannot accept. */
export class ProtocolError extends ConchError {
  /** Always one of ours: raised here, by this version's decoder and validators. */
  declare readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'ProtocolError';
  }
}

/** An `Error` frame from the peer, surfaced as an exception. */
export class RemoteError extends ConchError {
  constructor(code: ErrorCode | (string & {}), message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'RemoteError';
  }
}
