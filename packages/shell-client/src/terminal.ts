import type { PtyOptions } from '@conch/protocol';
import type { CommandHandle } from './command-handle.js';
import type { ShellSession } from './shell-session.js';

/** The program an interactive session is created with: a terminal for an agent or a person. */
export interface TerminalOptions {
  /** Its terminal: size, and TERM. */
  readonly pty: PtyOptions;
  /** What runs on it. @default the session's shell as a login shell (`SHELL -l`) */
  readonly argv?: readonly string[];
}

/**
 * A session created with its own program on a terminal. `handle` is that program: read its
 * output, `write()` keystrokes, `resize()`, `kill()`, `wait()` for its exit. The session outlives
 * the program, takes other commands meanwhile, and is ended by `session.close()`.
 */
export interface Terminal<S extends ShellSession = ShellSession> {
  readonly session: S;
  readonly handle: CommandHandle;
}
