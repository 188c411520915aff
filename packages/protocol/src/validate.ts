import { ErrorCodes, isErrorCode, type ErrorCode } from './codes.js';
import { ProtocolError } from './errors.js';
import type { ClientMessage, ClientMessageType, DaemonMessage, DaemonMessageType, Message, MessageType } from './messages.js';
import {
  anyMap, arrayOf, bool, bytes, cstr, durationMs, envMap, fail, literal, nonEmptyStr, nullable, object, optional, positiveInt, str, uint,
  type Validator,
} from './schema.js';
import { isSignalName } from './signals.js';
import { MAX_TERMINAL_CELLS, isTerminalCells } from './terminal-size.js';

const signal: Validator<string> = (v, path) => (isSignalName(v) ? v : fail(path, 'a signal name such as "SIGTERM"', v));
const id = uint;
const ref = nonEmptyStr;
/** A terminal side the kernel can set (16-bit winsize fields): larger is a bad message, not the daemon's internal error. */
const cells: Validator<number> = (v, path) => (typeof v === 'number' && isTerminalCells(v) ? v : fail(path, `whole cells from 1 to ${MAX_TERMINAL_CELLS}`, v));
const pty = object({ cols: cells, rows: cells, term: optional(cstr) });
const limits = object({
  maxSessions: uint, maxProcesses: uint, maxFrameBytes: uint, maxQueuedStdinBytes: uint, ringBytes: uint, defaultWindowBytes: uint,
});
const commandInfo = object({
  command: ref, pid: uint, argv: arrayOf(str), pty: bool, state: literal('running', 'exited'),
  exitCode: nullable(uint), signal: nullable(signal), stdoutBytes: uint, stderrBytes: uint, attached: bool,
});

/** The validator for each message type, minus its `type` field. */
type Validators<M extends Message> = { [K in M['type']]: Validator<Omit<Extract<M, { type: K }>, 'type'>> };

// Built once, outside the validators that add a check to them: object() does its setup per call.
const execCommand = object({
  id, session: ref, command: optional(cstr), argv: optional(arrayOf(cstr, { minLength: 1 })),
  cwd: optional(cstr), env: optional(envMap), stdin: optional(bool), pty: optional(pty),
  timeoutMs: optional(durationMs), killGraceMs: optional(durationMs), maxOutputBytes: optional(uint), window: optional(positiveInt),
  uid: optional(uint), gid: optional(uint),
});

const clientValidators: Validators<ClientMessage> = {
  Hello: object({
    minVersion: uint, maxVersion: uint, nonce: uint, maxFrameBytes: positiveInt,
    capabilities: arrayOf(str), client: str, token: optional(str),
  }),
  Ping: object({ id }),
  SpawnSession: object({
    id, cwd: optional(cstr), env: optional(envMap), clearEnv: optional(bool), shell: optional(nonEmptyStr),
    uid: optional(uint), gid: optional(uint),
    onDisconnect: optional(object({ policy: literal('kill', 'keep'), keepMs: optional(durationMs) })),
    interactive: optional(object({ argv: optional(arrayOf(cstr, { minLength: 1 })), pty })),
  }),
  ExecCommand: (v, path) => {
    const m = execCommand(v, path);
    if ((m.command === undefined) === (m.argv === undefined)) fail(path, 'exactly one of "command" and "argv"', v);
    return m;
  },
  Input: object({ command: ref, data: bytes }),
  EndInput: object({ command: ref }),
  Credit: object({ command: ref, fd: literal(1, 2), bytes: positiveInt }),
  Resize: object({ id, command: ref, cols: cells, rows: cells }),
  Signal: object({ id, command: ref, signal }),
  KillCommand: object({ id, command: ref, signal: optional(signal), graceMs: optional(durationMs) }),
  KillSession: object({ id, session: ref, signal: optional(signal), graceMs: optional(durationMs), keepSession: optional(bool) }),
  Attach: object({ id, command: ref, stdoutOffset: uint, stderrOffset: uint, window: optional(positiveInt) }),
  Detach: object({ id, command: optional(ref), session: optional(ref) }),
  ListSessions: object({ id }),
};

/**
 * A code of ErrorCodes, or one that a newer peer added (adding a code keeps the protocol
 * version): refusing it would drop the whole Error, and leave its request waiting for ever.
 */
const errorCode: Validator<ErrorCode | (string & {})> = (v, path) =>
  isErrorCode(v) || (typeof v === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(v)) ? v : fail(path, 'an error code (UPPER_SNAKE_CASE)', v);

const commandExited = object({
  command: ref, exitCode: nullable(uint), signal: nullable(signal), timedOut: bool, truncated: bool,
  durationMs: uint, stdoutBytes: uint, stderrBytes: uint,
});

const daemonValidators: Validators<DaemonMessage> = {
  Welcome: object({
    nonce: uint, version: uint, daemonVersion: str, bootId: str, instanceId: nonEmptyStr,
    capabilities: arrayOf(str), limits,
  }),
  Pong: object({ id }),
  SessionSpawned: object({ id, session: ref, command: optional(ref), pid: optional(uint), stdinWindow: optional(uint) }),
  CommandStarted: object({ id, command: ref, pid: uint, stdinWindow: uint }),
  StreamOutput: object({ command: ref, fd: literal(1, 2), offset: uint, data: bytes }),
  CommandExited: (v, path) => {
    const m = commandExited(v, path);
    if ((m.exitCode === null) === (m.signal === null)) fail(path, 'exactly one of "exitCode" and "signal"', v);
    return m;
  },
  Credit: object({ command: ref, fd: literal(0), bytes: positiveInt }),
  Attached: object({ id, command: ref, session: ref, stdoutDropped: uint, stderrDropped: uint, pid: optional(uint), pty: optional(bool), stdinWindow: optional(uint), stdin: optional(bool), stdinReceived: optional(uint) }),
  SessionList: object({ id, sessions: arrayOf(object({ session: ref, cwd: str, commands: arrayOf(commandInfo), omittedCommands: optional(uint) })) }),
  Ok: object({ id }),
  Error: object({ code: errorCode, message: str, id: optional(id), command: optional(ref), details: optional(anyMap) }),
};

function validateWith<M extends Message>(table: Validators<M>, direction: string, value: unknown): M {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new ProtocolError(ErrorCodes.INVALID_MESSAGE, 'message: expected a map with a "type" field');
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') {
    throw new ProtocolError(ErrorCodes.INVALID_MESSAGE, 'message.type: expected a string');
  }
  if (!Object.prototype.hasOwnProperty.call(table, type)) {
    throw new ProtocolError(ErrorCodes.UNKNOWN_MESSAGE, `unknown ${direction} message type ${JSON.stringify(type.slice(0, 64))}`, {
      messageType: type.slice(0, 64),
    });
  }
  const validator = table[type as M['type']] as Validator<object>;
  const message = validator(value, type) as { type?: string };
  // Added last rather than spread into a copy in front: one object per frame, not two. So "type"
  // is the last key of a validated message; nothing re-encodes one (encodeFrame's fast path for
  // a payload wants "data" last, and would fall back to the general encoder for such a message).
  message.type = type;
  return message as unknown as M;
}

/** Validates a decoded frame that a client sent. Throws ProtocolError with a precise message. */
export function validateClientMessage(value: unknown): ClientMessage {
  return validateWith(clientValidators, 'client', value);
}

/** Validates a decoded frame that a daemon sent. */
export function validateDaemonMessage(value: unknown): DaemonMessage {
  return validateWith(daemonValidators, 'daemon', value);
}

export const CLIENT_MESSAGE_TYPES = Object.keys(clientValidators) as ClientMessageType[];
export const DAEMON_MESSAGE_TYPES = Object.keys(daemonValidators) as DaemonMessageType[];
export type { MessageType };
