export { CommandHandle, type OutputChunk, type OutputLine } from './command-handle.js';
export { AbortedError, CommandLostError, NonZeroExitError, UnavailableError, WaitTimeoutError } from './errors.js';
export type { CommandExit, ExecResult } from './exec-result.js';
export { LocalProcessShellSession } from './local-process-shell-session.js';
export { openShellSession, openTerminal } from './open-session.js';
export type { CommandOptions, ExecOptions, LogEvent, SessionOptions, SpawnOptions } from './options.js';
export type { CommandLine, ShellSession } from './shell-session.js';
export { splitLines } from './split-lines.js';
export type { Terminal, TerminalOptions } from './terminal.js';
export type { DaemonInfo, SessionStatus, UnavailableReason } from './status.js';
export { CLIENT_VERSION } from './version.js';
export {
  DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_KEEPALIVE_MS, DEFAULT_RECONNECT_TIMEOUT_MS, VsockShellSession, type AttachOptions, type AttachResult,
  type VsockSessionOptions,
} from './vsock-shell-session.js';
export { ConchError, ErrorCodes, MAX_DURATION_MS, RemoteError, type CommandInfo, type ErrorCode, type PtyOptions, type SessionInfo, type SignalName } from '@conch/protocol';
