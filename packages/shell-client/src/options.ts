import type { PtyOptions } from '@conch/protocol';

/** Options for one command, shared by `exec` and `spawn`. */
export interface CommandOptions {
  /** Working directory, relative to the session's current one. @default the session's cwd */
  readonly cwd?: string;
  /** Variables overlaid on the session environment for this command only. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Command lifetime, enforced by the daemon: SIGTERM to the whole process group when it passes,
   * then SIGKILL after `killGraceMs`. The result has `timedOut: true`. 0, like leaving it out,
   * is no timeout.
   */
  readonly timeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL for timeouts, aborts and kill(). @default 2000 */
  readonly killGraceMs?: number;
  /**
   * How long the client waits for the result. Passing it rejects with WAIT_TIMEOUT but does NOT
   * kill the command; use `timeoutMs` or `signal` for that.
   */
  readonly waitTimeoutMs?: number;
  /** Aborting kills the command (SIGTERM to its group, then SIGKILL) and rejects with ABORTED. */
  readonly signal?: AbortSignal;
  /** Drop output past this many bytes (stdout and stderr together); the result says `truncated`. */
  readonly maxOutputBytes?: number;
  /** Run on a terminal. stdout carries everything; stderr is empty. */
  readonly pty?: PtyOptions;
  /**
   * Open stdin for write()/end(). Otherwise the command's stdin is /dev/null (on a PTY: the
   * terminal, at end of input). @default spawn(): true on a PTY, else false; exec(): false unless `input`
   */
  readonly stdin?: boolean;
  /**
   * Run as this guest user: alone, with the group and supplementary groups of its /etc/passwd and
   * /etc/group entries (a uid with no entry needs `gid` too); with `gid`, exactly these two ids
   * and no supplementary groups. Overrides the session's.
   */
  readonly uid?: number;
  /** Run with this gid; without `uid`, the daemon's uid stays. */
  readonly gid?: number;
}

export interface ExecOptions extends CommandOptions {
  /** Bytes written to stdin, then closed. Implies `stdin: true`. */
  readonly input?: string | Uint8Array;
  /** `'utf8'` decodes output into strings; `'buffer'` keeps the bytes. @default 'utf8' */
  readonly encoding?: 'utf8' | 'buffer';
  /** Reject with NonZeroExitError unless the command exits 0. @default false */
  readonly reject?: boolean;
}

export type SpawnOptions = CommandOptions;

/** Options of the session itself, fixed when it is created. */
export interface SessionOptions {
  /** Initial working directory. @default the daemon's (or, locally, this process's) cwd */
  readonly cwd?: string;
  /** Overlaid on the base environment when the session is created. */
  readonly env?: Readonly<Record<string, string>>;
  /** Start from an empty environment instead of the daemon's. @default false */
  readonly clearEnv?: boolean;
  /** Shell for string commands. @default $SHELL, else /bin/sh */
  readonly shell?: string;
  /** Every command's user, as CommandOptions' `uid` and `gid` say, unless a command names its own. */
  readonly uid?: number;
  readonly gid?: number;
  /**
   * A verbose hook: one call per notable event. Both backends: `command started` {command, pid},
   * `command exited` {command, exitCode, signal}; the daemon's also `connected`, `connect retry`,
   * `unavailable`, `disconnected`, `reconnected`, `reconnect failed`, `command not followed to its exit`
   * {command, error} (lost or aborted), `daemon error`.
   */
  readonly log?: (event: LogEvent) => void;
}

export interface LogEvent {
  readonly event: string;
  readonly [field: string]: unknown;
}
