import { ConchError, ErrorCodes } from '@conch/protocol';
import type { UnavailableReason } from './status.js';
import type { ExecResult } from './exec-result.js';

/** The sidecar cannot be used. Nothing was run, on the guest or on the host. */
export class UnavailableError extends ConchError {
  readonly reason: UnavailableReason;
  /** The message without the "unavailable (reason)" prefix, as SessionStatus carries it. */
  readonly detail: string;
  constructor(reason: UnavailableReason, detail: string, options?: { cause?: unknown }) {
    super(ErrorCodes.UNAVAILABLE, `daemon unavailable (${reason}): ${detail}`, { reason }, options);
    this.name = 'UnavailableError';
    this.reason = reason;
    this.detail = detail;
  }
}

/**
 * The connection went away (or the daemon restarted) while the command was in flight. Its fate
 * is unknown: it may still be running, so this is never reported as an exit.
 */
export class CommandLostError extends ConchError {
  constructor(command: string, why: string) {
    super(ErrorCodes.COMMAND_LOST, `command ${command} lost: ${why}`, { command });
    this.name = 'CommandLostError';
  }
}

/** The client stopped waiting; the command itself was not killed. */
export class WaitTimeoutError extends ConchError {
  constructor(ms: number) {
    super(ErrorCodes.WAIT_TIMEOUT, `gave up waiting after ${ms} ms (the command was not killed)`, { waitTimeoutMs: ms });
    this.name = 'WaitTimeoutError';
  }
}

/** An AbortSignal fired; the command was sent a kill. */
export class AbortedError extends ConchError {
  constructor(reason: unknown) {
    super(ErrorCodes.ABORTED, `aborted: ${reason instanceof Error ? reason.message : String(reason)}`, undefined, { cause: reason });
    this.name = 'AbortedError';
  }
}

/** `reject: true` was asked for and the command did not exit 0. The result is attached. */
export class NonZeroExitError<T extends string | Uint8Array = string | Uint8Array> extends ConchError {
  readonly result: ExecResult<T>;
  constructor(result: ExecResult<T>) {
    const how = result.signal !== null ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
    super(ErrorCodes.NON_ZERO_EXIT, `command ${how}${result.timedOut ? ' (timed out)' : ''}`, {
      exitCode: result.exitCode, signal: result.signal, timedOut: result.timedOut,
    });
    this.name = 'NonZeroExitError';
    this.result = result;
  }
}
