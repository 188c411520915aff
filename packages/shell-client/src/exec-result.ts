import type { SignalName } from '@conch/protocol';

/** How a command ended. Exactly one of exitCode and signal is non-null. */
export interface CommandExit {
  readonly exitCode: number | null;
  readonly signal: SignalName | null;
  /** The daemon-enforced lifetime (`timeoutMs`) ran out and the command was killed. */
  readonly timedOut: boolean;
  /** `maxOutputBytes` was reached and later output was dropped. */
  readonly truncated: boolean;
  readonly durationMs: number;
  /** Bytes the command wrote, including any dropped by truncation. */
  readonly stdoutBytes: number;
  readonly stderrBytes: number;
}

/** What `exec` resolves to: the exit plus the captured output. */
export interface ExecResult<T extends string | Uint8Array = string> extends CommandExit {
  readonly stdout: T;
  readonly stderr: T;
}
