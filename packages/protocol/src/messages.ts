import type { ErrorCode } from './codes.js';

/**
 * Every message on the wire. Each frame body is one msgpack map whose `type` field is the tag.
 * docs/protocol.md is the normative spec; these types mirror it field for field.
 *
 * Identifiers: `id` is a request id chosen by the client (unique among its in-flight requests
 * on one connection) and echoed in the reply. `session` and `command` ids are strings chosen
 * by the daemon; they stay valid across connections so that a client can attach again.
 */

/** Output stream numbers: 1 = stdout (also the PTY), 2 = stderr. */
export type OutputFd = 1 | 2;

export interface PtyOptions {
  readonly cols: number;
  readonly rows: number;
  /** TERM for the child. @default 'xterm-256color' */
  readonly term?: string;
}

export interface DisconnectPolicy {
  /** `kill`: kill the session's commands when its last client goes. `keep`: keep them for `keepMs`. */
  readonly policy: 'kill' | 'keep';
  /** How long a detached session is kept, in ms. Only with `keep`. */
  readonly keepMs?: number;
}

export interface DaemonLimits {
  readonly maxSessions: number;
  readonly maxProcesses: number;
  readonly maxFrameBytes: number;
  readonly maxQueuedStdinBytes: number;
  readonly ringBytes: number;
  readonly defaultWindowBytes: number;
}

// ---------------------------------------------------------------- client → daemon

/** First frame a client sends. May be repeated (same nonce or new) until a Welcome arrives. */
export interface Hello {
  readonly type: 'Hello';
  readonly minVersion: number;
  readonly maxVersion: number;
  /** Echoed in Welcome so that a retried Hello can be matched to its answer. */
  readonly nonce: number;
  /** Largest frame this client accepts. */
  readonly maxFrameBytes: number;
  readonly capabilities: readonly string[];
  /** Free-form client name and version, for logs. */
  readonly client: string;
  readonly token?: string;
}

export interface Ping {
  readonly type: 'Ping';
  readonly id: number;
}

/** Creates a session: a cwd, an environment and defaults that every command in it inherits. */
export interface SpawnSession {
  readonly type: 'SpawnSession';
  readonly id: number;
  readonly cwd?: string;
  /** Environment for the session. Replaces the daemon's environment when `clearEnv` is set, else overlays it. */
  readonly env?: Readonly<Record<string, string>>;
  readonly clearEnv?: boolean;
  /** Shell used for string commands. @default '/bin/bash' when present, else '/bin/sh' */
  readonly shell?: string;
  readonly uid?: number;
  readonly gid?: number;
  readonly onDisconnect?: DisconnectPolicy;
  /** Starts an interactive program (a login shell by default) as the session's own command. */
  readonly interactive?: { readonly argv?: readonly string[]; readonly pty: PtyOptions };
}

/** Runs a command in a session. Exactly one of `command` (shell string) and `argv` is set. */
export interface ExecCommand {
  readonly type: 'ExecCommand';
  readonly id: number;
  readonly session: string;
  /** A shell string, run by the session's shell; `cd` and `export` in it persist to the session. */
  readonly command?: string;
  /** An argv, executed directly; never shell-interpolated. */
  readonly argv?: readonly string[];
  readonly cwd?: string;
  /** Overlaid on the session environment for this command only. */
  readonly env?: Readonly<Record<string, string>>;
  /** Open a stdin pipe. Without it stdin is /dev/null. */
  readonly stdin?: boolean;
  readonly pty?: PtyOptions;
  /** Daemon-enforced lifetime: SIGTERM to the group when it passes, SIGKILL after `killGraceMs`. */
  readonly timeoutMs?: number;
  /** @default 2000 */
  readonly killGraceMs?: number;
  /** Stop forwarding output after this many bytes (stdout + stderr); the exit reports `truncated`. */
  readonly maxOutputBytes?: number;
  /** Initial credit for each output stream, in bytes. @default limits.defaultWindowBytes */
  readonly window?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/** Stdin bytes for a command. Never exceeds the stdin credit the daemon granted. */
export interface Input {
  readonly type: 'Input';
  readonly command: string;
  readonly data: Uint8Array;
}

/** Closes stdin (on a PTY: sends the EOF character). */
export interface EndInput {
  readonly type: 'EndInput';
  readonly command: string;
}

/**
 * Flow-control credit, in bytes. Client → daemon for output streams (fd 1, 2);
 * daemon → client for stdin (fd 0).
 */
export interface Credit {
  readonly type: 'Credit';
  readonly command: string;
  readonly fd: 0 | 1 | 2;
  readonly bytes: number;
}

export interface Resize {
  readonly type: 'Resize';
  readonly id: number;
  readonly command: string;
  readonly cols: number;
  readonly rows: number;
}

/** Sends one signal to the command's whole process group, with no escalation. */
export interface Signal {
  readonly type: 'Signal';
  readonly id: number;
  readonly command: string;
  readonly signal: string;
}

/** Sends `signal` (default SIGTERM) to the group, then SIGKILL after `graceMs` if anything is left. */
export interface KillCommand {
  readonly type: 'KillCommand';
  readonly id: number;
  readonly command: string;
  readonly signal?: string;
  readonly graceMs?: number;
}

/**
 * Kills every command in the session (as KillCommand) and removes the session; with
 * `keepSession` (capability "kill-keeps-session") the session stays, its cwd and environment too.
 */
export interface KillSession {
  readonly type: 'KillSession';
  readonly id: number;
  readonly session: string;
  readonly signal?: string;
  readonly graceMs?: number;
  readonly keepSession?: boolean;
}

/** Subscribes this connection to a command's output, replaying from the given byte offsets. */
export interface Attach {
  readonly type: 'Attach';
  readonly id: number;
  readonly command: string;
  readonly stdoutOffset: number;
  readonly stderrOffset: number;
  readonly window?: number;
}

/** Unsubscribes this connection from a command (or every command of a session); they keep running. */
export interface Detach {
  readonly type: 'Detach';
  readonly id: number;
  readonly command?: string;
  readonly session?: string;
}

export interface ListSessions {
  readonly type: 'ListSessions';
  readonly id: number;
}

// ---------------------------------------------------------------- daemon → client

export interface Welcome {
  readonly type: 'Welcome';
  readonly nonce: number;
  /** The version both sides now speak. */
  readonly version: number;
  readonly daemonVersion: string;
  /** Changes when the guest reboots (the kernel boot id). */
  readonly bootId: string;
  /** Changes when the daemon restarts. */
  readonly instanceId: string;
  readonly capabilities: readonly string[];
  readonly limits: DaemonLimits;
}

export interface Pong {
  readonly type: 'Pong';
  readonly id: number;
}

export interface SessionSpawned {
  readonly type: 'SessionSpawned';
  readonly id: number;
  readonly session: string;
  /** For interactive sessions: the command id of the session's own program. */
  readonly command?: string;
  readonly pid?: number;
  /**
   * For interactive sessions: the program's stdin credit, as CommandStarted's. A daemon from
   * before this field granted `limits.maxQueuedStdinBytes`, which is what a client assumes without it.
   */
  readonly stdinWindow?: number;
}

export interface CommandStarted {
  readonly type: 'CommandStarted';
  readonly id: number;
  readonly command: string;
  readonly pid: number;
  /** Stdin credit granted up front, in bytes (0 when stdin is closed). */
  readonly stdinWindow: number;
}

/** Output bytes. `offset` is the position of `data[0]` in the stream since the command started. */
export interface StreamOutput {
  readonly type: 'StreamOutput';
  readonly command: string;
  readonly fd: OutputFd;
  readonly offset: number;
  readonly data: Uint8Array;
}

/**
 * The command ended. Sent only after every byte of its output has been sent on this connection.
 * Exactly one of `exitCode` and `signal` is non-null.
 */
export interface CommandExited {
  readonly type: 'CommandExited';
  readonly command: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly truncated: boolean;
  readonly durationMs: number;
  /** Total bytes produced on each stream (including bytes dropped by truncation). */
  readonly stdoutBytes: number;
  readonly stderrBytes: number;
}

export interface Attached {
  readonly type: 'Attached';
  readonly id: number;
  readonly command: string;
  readonly session: string;
  /** Bytes between the requested offset and the oldest byte still in the ring (0 when nothing was lost). */
  readonly stdoutDropped: number;
  readonly stderrDropped: number;
  /** The command's pid (0 before it started); absent from daemons before it was added. */
  readonly pid?: number;
  readonly pty?: boolean;
  /** Stdin bytes this client may send now, as CommandStarted's; 0 also while the queue is full. */
  readonly stdinWindow?: number;
  /** Whether the command's stdin is still open. */
  readonly stdin?: boolean;
  /**
   * Stdin bytes the daemon has taken from Input frames, on every connection: where a client that
   * lost its connection resends what it had written from. Absent from daemons before it was added.
   */
  readonly stdinReceived?: number;
}

export interface CommandInfo {
  readonly command: string;
  readonly pid: number;
  /** As listed: abbreviated where long (an element cut short ends in "…"), so that lists stay small. */
  readonly argv: readonly string[];
  readonly pty: boolean;
  readonly state: 'running' | 'exited';
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdoutBytes: number;
  readonly stderrBytes: number;
  readonly attached: boolean;
}

export interface SessionInfo {
  readonly session: string;
  readonly cwd: string;
  readonly commands: readonly CommandInfo[];
  /**
   * Commands of this session left out so that the reply fits in one frame the client accepts:
   * exited ones first, oldest first. Absent when none were.
   */
  readonly omittedCommands?: number;
}

export interface SessionList {
  readonly type: 'SessionList';
  readonly id: number;
  readonly sessions: readonly SessionInfo[];
}

/** Success reply for requests that carry no data back. */
export interface Ok {
  readonly type: 'Ok';
  readonly id: number;
}

/** A failure. `id` names the failed request; `command` is set for errors about a command's stream. */
export interface ErrorMessage {
  readonly type: 'Error';
  /** One of ErrorCodes, or a code a newer peer added (§10): passed on as it came. */
  readonly code: ErrorCode | (string & {});
  readonly message: string;
  readonly id?: number;
  readonly command?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export type ClientMessage =
  | Hello
  | Ping
  | SpawnSession
  | ExecCommand
  | Input
  | EndInput
  | Credit
  | Resize
  | Signal
  | KillCommand
  | KillSession
  | Attach
  | Detach
  | ListSessions;

export type DaemonMessage =
  | Welcome
  | Pong
  | SessionSpawned
  | CommandStarted
  | StreamOutput
  | CommandExited
  | Credit
  | Attached
  | SessionList
  | Ok
  | ErrorMessage;

export type Message = ClientMessage | DaemonMessage;
export type MessageType = Message['type'];
export type ClientMessageType = ClientMessage['type'];
export type DaemonMessageType = DaemonMessage['type'];

/** Replies that answer a request `id`. */
export type Reply = Pong | SessionSpawned | CommandStarted | Attached | SessionList | Ok | ErrorMessage;
