/**
 * The one registry of error codes. Both sides speak these strings: the daemon puts them in
 * `Error` frames and the client surfaces them as `ConchError#code`. Codes are stable API;
 * add new ones, never rename.
 */
export const ErrorCodes = {
  /** The bytes of a frame are not valid msgpack, or the frame is empty. The stream is closed. */
  MALFORMED_FRAME: 'MALFORMED_FRAME',
  /** A length prefix exceeds the receiver's maximum frame size. The stream is closed. */
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  /** A well-formed frame whose `type` is unknown (or not valid in this direction). */
  UNKNOWN_MESSAGE: 'UNKNOWN_MESSAGE',
  /** A known message with a missing or wrongly typed field. */
  INVALID_MESSAGE: 'INVALID_MESSAGE',
  /** A request arrived before the Hello/Welcome handshake completed. */
  HANDSHAKE_REQUIRED: 'HANDSHAKE_REQUIRED',
  /** The peers share no protocol version. */
  VERSION_MISMATCH: 'VERSION_MISMATCH',
  /** The token in Hello was missing or wrong. */
  AUTH_FAILED: 'AUTH_FAILED',
  /** The peer (vsock CID, Unix credentials) is not allowed to talk to this daemon. */
  PEER_REJECTED: 'PEER_REJECTED',
  UNKNOWN_SESSION: 'UNKNOWN_SESSION',
  UNKNOWN_COMMAND: 'UNKNOWN_COMMAND',
  /** The process could not be started (ENOENT, EACCES, bad cwd, …); `details.errno` says why. */
  SPAWN_FAILED: 'SPAWN_FAILED',
  /** A PTY was requested but node-pty is not loadable on this daemon. */
  PTY_UNAVAILABLE: 'PTY_UNAVAILABLE',
  /** Input was sent to a command whose stdin is closed or was never opened. */
  STDIN_CLOSED: 'STDIN_CLOSED',
  /** A configured daemon limit (sessions, processes, queued stdin, …) would be exceeded. */
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  /** The operation is not valid in the command's current state (e.g. resize of a pipe command). */
  INVALID_STATE: 'INVALID_STATE',
  /** A uid/gid switch or similar privileged operation was refused by the OS. */
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  /** The daemon is shutting down and accepts no new work. */
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  /** A bug or an unexpected OS failure inside the daemon; the connection stays usable. */
  INTERNAL: 'INTERNAL',

  // Client-side codes: never sent on the wire, raised by the SDK.
  /** The sidecar (daemon) cannot be used; `reason` says why. */
  UNAVAILABLE: 'UNAVAILABLE',
  /** The connection dropped (or the daemon restarted) while a command was in flight. */
  COMMAND_LOST: 'COMMAND_LOST',
  /** The client wait deadline passed; the command itself may still be running. */
  WAIT_TIMEOUT: 'WAIT_TIMEOUT',
  /** An AbortSignal fired; the command was killed. */
  ABORTED: 'ABORTED',
  /** `reject: true` was asked for and the command did not exit 0. */
  NON_ZERO_EXIT: 'NON_ZERO_EXIT',
  /** A bad argument to an SDK call, caught before anything was sent. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

const codeSet: ReadonlySet<string> = new Set(Object.values(ErrorCodes));

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && codeSet.has(value);
}

/** Codes after which the byte stream can no longer be trusted, so the connection is closed. */
export const FATAL_STREAM_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCodes.MALFORMED_FRAME,
  ErrorCodes.FRAME_TOO_LARGE,
  ErrorCodes.VERSION_MISMATCH,
  ErrorCodes.AUTH_FAILED,
  ErrorCodes.PEER_REJECTED,
]);
