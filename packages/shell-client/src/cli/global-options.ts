import { readFileSync } from 'node:fs';
import { ConchError, ErrorCodes } from '@conch/protocol';
import { openShellSession } from '../open-session.js';
import type { ShellSession } from '../shell-session.js';
import type { VsockSessionOptions } from '../vsock-shell-session.js';

export interface GlobalOptions {
  readonly connect: string | undefined;
  readonly tokenFile: string | undefined;
  readonly connectTimeoutMs: number | undefined;
  readonly verbose: boolean;
}

export function usageError(message: string): ConchError {
  return new ConchError(ErrorCodes.INVALID_ARGUMENT, message);
}

export function parseSeconds(text: string, flag: string): number {
  const seconds = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(seconds)) throw usageError(`${flag} expects seconds, got ${JSON.stringify(text)}`);
  return Math.round(seconds * 1000);
}

/** Opens the session the global options name; CONCH_ENDPOINT stands in for --connect. */
export function openFromOptions(options: GlobalOptions): Promise<ShellSession> {
  return openShellSession(endpointFrom(options), sessionOptionsFrom(options));
}

export function endpointFrom(options: GlobalOptions): string | undefined {
  return options.connect ?? process.env.CONCH_ENDPOINT;
}

/** The session options the global options name: token, connect timeout, verbose log. */
export function sessionOptionsFrom(options: GlobalOptions): VsockSessionOptions {
  let token: string | undefined;
  if (options.tokenFile !== undefined) token = readFileSync(options.tokenFile, 'utf8').replace(/[\r\n]+$/, '');
  return {
    ...(token !== undefined ? { token } : {}),
    ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
    // The CLI's session ends with the CLI: a vanished `conch` must not leave its command running.
    onDisconnect: { policy: 'kill' },
    ...(options.verbose ? { log: (e) => process.stderr.write(`conch: ${JSON.stringify(e)}\n`) } : {}),
  };
}
