import { ConchError, ErrorCodes, MAX_DURATION_MS, MAX_TERMINAL_CELLS, isSignalName, isTerminalCells } from '@conch/protocol';
import { AbortedError } from './errors.js';
import type { ExecOptions } from './options.js';
import type { CommandLine } from './shell-session.js';
import type { TerminalOptions } from './terminal.js';

function invalid(message: string): never {
  throw new ConchError(ErrorCodes.INVALID_ARGUMENT, message);
}

const positiveInt = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Checks an SDK call's arguments where they enter, so nothing half-valid reaches a backend. */
export function validateCommand(command: CommandLine, options: ExecOptions): void {
  if (options === null || typeof options !== 'object') invalid('options must be an object');
  if (options.signal !== undefined) {
    if (!(options.signal instanceof AbortSignal)) invalid('signal must be an AbortSignal');
    // Before anything starts: an aborted call must not run its command at all.
    if (options.signal.aborted) throw new AbortedError(options.signal.reason);
  }
  if (typeof command === 'string') {
    if (command.trim() === '') invalid('command must not be empty');
    // A C string ends at a NUL: the shell would run less than was asked.
    if (command.includes('\0')) invalid('command must not contain NUL bytes');
  } else if (!Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === 'string')) {
    invalid('argv must be a non-empty array of strings');
  } else if (command.some((a) => a.includes('\0'))) {
    invalid('argv must not contain NUL bytes');
  }
  if (options.maxOutputBytes !== undefined && !positiveInt(options.maxOutputBytes)) invalid('maxOutputBytes must be a non-negative integer');
  // uid_t is 32 bits, and (uid_t)-1 means "no change" to setuid: not an id anyone can be.
  for (const key of ['uid', 'gid'] as const) {
    if (options[key] !== undefined && !(positiveInt(options[key]) && options[key] < 0xffffffff)) invalid(`${key} must be an integer from 0 to 4294967294`);
  }
  if (options.input !== undefined && typeof options.input !== 'string' && !(options.input instanceof Uint8Array)) invalid('input must be a string or a Uint8Array');
  for (const key of ['timeoutMs', 'killGraceMs', 'waitTimeoutMs'] as const) validateDuration(key, options[key]);
  if (options.pty) validateSize(options.pty.cols, options.pty.rows);
  if (options.cwd !== undefined && (typeof options.cwd !== 'string' || options.cwd.includes('\0'))) invalid('cwd must be a string without NUL bytes');
  if (options.env !== undefined && (options.env === null || typeof options.env !== 'object' || Array.isArray(options.env))) invalid('env must be an object of strings');
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (typeof v !== 'string' || k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) invalid(`invalid env entry ${JSON.stringify(k)}`);
  }
  if (options.encoding !== undefined && options.encoding !== 'utf8' && options.encoding !== 'buffer') {
    invalid(`encoding must be 'utf8' or 'buffer'`);
  }
}

/** An interactive session's program: a terminal size, and an argv if one is given. */
export function validateTerminal(terminal: TerminalOptions): void {
  if (terminal === null || typeof terminal !== 'object' || terminal.pty === null || typeof terminal.pty !== 'object') invalid('a terminal needs pty {cols, rows}');
  // An argv only: the program is executed, never given to a shell as a string.
  if (terminal.argv !== undefined && !Array.isArray(terminal.argv)) invalid('a terminal\'s argv must be an array of strings');
  validateCommand(terminal.argv ?? ['sh'], { pty: terminal.pty });
}

/** A terminal size: whole cells from 1 to 65535 (isTerminalCells). */
export function validateSize(cols: number, rows: number): void {
  if (!isTerminalCells(cols) || !isTerminalCells(rows)) invalid(`a terminal size is whole cells from 1 to ${MAX_TERMINAL_CELLS}, got ${String(cols)}x${String(rows)}`);
}

export function validateSignal(signal: string): void {
  if (!isSignalName(signal)) invalid(`unknown signal ${JSON.stringify(signal)}`);
}

/**
 * A duration in milliseconds, when given: an integer from 0 to MAX_DURATION_MS (about 24.8 days),
 * the longest a timer can wait; Node would fire a longer one at once.
 */
export function validateDuration(name: string, value: number | undefined): void {
  if (value !== undefined && !(positiveInt(value) && value <= MAX_DURATION_MS)) {
    invalid(`${name} must be an integer number of milliseconds from 0 to ${MAX_DURATION_MS} (about 24.8 days), got ${String(value)}`);
  }
}
