import type { CommandHandle } from './command-handle.js';
import type { ExecResult } from './exec-result.js';
import type { ExecOptions, SpawnOptions } from './options.js';
import type { SessionStatus } from './status.js';

/** A shell string (run by the session's shell; `cd`/`export` persist) or an argv (never interpolated). */
export type CommandLine = string | readonly string[];

/**
 * One shell session: a cwd and an environment that commands share, on a daemon in a guest
 * (VsockShellSession) or on this host (LocalProcessShellSession). Both give the same semantics.
 * A session never falls back from one to the other: when its daemon cannot be reached, every
 * operation rejects with UnavailableError carrying the reason.
 */
export interface ShellSession {
  /** The endpoint, as a URI (`unix:/…`, `vsock:3:1024`, `local`, …). */
  readonly endpoint: string;
  /** `ready`, `connecting`, or `unavailable` with a reason. */
  readonly status: SessionStatus;
  /** Connects (if needed) and resolves with the status; never rejects. */
  connect(): Promise<SessionStatus>;
  /** Runs a command to completion and returns its output as data. */
  exec(command: CommandLine, options?: ExecOptions & { encoding?: 'utf8' }): Promise<ExecResult<string>>;
  exec(command: CommandLine, options: ExecOptions & { encoding: 'buffer' }): Promise<ExecResult<Uint8Array>>;
  exec(command: CommandLine, options?: ExecOptions): Promise<ExecResult<string | Uint8Array>>;
  /** Starts a command and returns a handle to stream, feed, signal and wait on it. */
  spawn(command: CommandLine, options?: SpawnOptions): Promise<CommandHandle>;
  /**
   * Sends `signal` (default SIGTERM, then SIGKILL after the grace) to every command in the
   * session. The session stays, with its cwd and environment, and takes new commands.
   */
  killAll(signal?: string, graceMs?: number): Promise<void>;
  /**
   * Ends the session: its commands are killed and the connection closes. Handles of commands
   * still running settle at once: on the daemon backend with COMMAND_LOST (the connection is
   * gone before their exits arrive; a command that died at once can still settle with its exit,
   * when that came in with the kill's reply), locally with the exit of the kill.
   */
  close(): Promise<void>;
}
