import { LocalProcessShellSession } from './local-process-shell-session.js';
import type { ShellSession } from './shell-session.js';
import type { Terminal, TerminalOptions } from './terminal.js';
import { VsockShellSession, type VsockSessionOptions } from './vsock-shell-session.js';

/**
 * The session for an endpoint URI, connected. `local` is the only way to get a
 * LocalProcessShellSession: an unreachable daemon yields an unavailable session, never a local one.
 * @param endpoint defaults to $CONCH_ENDPOINT
 */
export async function openShellSession(
  endpoint: string | undefined = process.env.CONCH_ENDPOINT,
  options: VsockSessionOptions = {},
): Promise<ShellSession> {
  const session = endpoint === 'local' ? new LocalProcessShellSession(options) : new VsockShellSession(endpoint, options);
  await session.connect();
  return session;
}

/**
 * A new session for an endpoint, created with its own program on a terminal (see
 * VsockShellSession.openTerminal). Rejects, with nothing left open, when the daemon is unavailable
 * (UnavailableError) or the program cannot start (the daemon's error).
 * @param endpoint defaults to $CONCH_ENDPOINT
 */
export async function openTerminal(
  endpoint: string | undefined,
  terminal: TerminalOptions,
  options: VsockSessionOptions = {},
): Promise<Terminal> {
  endpoint ??= process.env.CONCH_ENDPOINT;
  return endpoint === 'local' ? LocalProcessShellSession.openTerminal(terminal, options) : VsockShellSession.openTerminal(endpoint, terminal, options);
}
