import { finished } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import type { SignalName } from '@conch/protocol';
import type { CommandHandle } from '../command-handle.js';
import { openTerminal } from '../open-session.js';
import type { ShellSession } from '../shell-session.js';
import { exitStatusOf } from './exit-codes.js';
import { forwardStdin } from './forward-stdin.js';
import { endpointFrom, sessionOptionsFrom, type GlobalOptions } from './global-options.js';
import { LocalTerminal } from './local-terminal.js';

/**
 * What runs when no command is given: the user's login shell in the session, else bash, else
 * sh. `exec` so that the shell is the command itself and its exit status is ours.
 */
const LOGIN_SHELL = ['/bin/sh', '-c', 'exec "${SHELL:-$(command -v bash || echo /bin/sh)}" -l'];

/** Signals to conch that end the remote shell the way a closed terminal would: with SIGHUP. */
const HANGUPS: readonly NodeJS.Signals[] = ['SIGHUP', 'SIGTERM'];

/**
 * `conch shell [-- CMD [ARGS…]]`: an interactive terminal on the session, like `ssh -t`.
 * The local terminal is in raw mode while it runs (so ^C, ^Z, ^D reach the remote terminal as
 * bytes), window size changes follow it, the exit status is the remote command's, and the local
 * terminal is restored on every way out.
 */
export async function shellCommand(args: string[], global: GlobalOptions): Promise<number> {
  const { positionals } = parseArgs({ args, options: {}, strict: true, allowPositionals: true });
  const argv = positionals.length > 0 ? positionals : LOGIN_SHELL;
  const terminal = new LocalTerminal(process.stdin, process.stdout);
  let session: ShellSession | undefined;
  let handle: CommandHandle | undefined;
  const hangup = (signal: NodeJS.Signals) => {
    terminal.restore();
    // A shell ignores SIGTERM; SIGHUP is what ends it, escalating to SIGKILL after the grace.
    if (handle) void handle.kill('SIGHUP' satisfies SignalName).catch(() => {});
    else process.exit(128 + (signal === 'SIGHUP' ? 1 : 15));
  };
  for (const s of HANGUPS) process.on(s, hangup);
  try {
    // An interactive session: the session and its program on the terminal in one round trip.
    ({ session, handle } = await openTerminal(
      endpointFrom(global),
      { pty: { ...terminal.size(), term: process.env.TERM || 'xterm-256color' }, argv },
      sessionOptionsFrom(global),
    ));
    const running = handle;
    terminal.enterRaw();
    terminal.onResize((cols, rows) => void running.resize(cols, rows).catch(() => {}));
    void forwardStdin(running);
    // Backpressure: a slow local terminal slows the remote command through its output credit.
    running.stdout.pipe(process.stdout, { end: false });
    const exit = await running.wait();
    await finished(running.stdout);
    return exitStatusOf(exit);
  } finally {
    for (const s of HANGUPS) process.off(s, hangup);
    terminal.restore();
    // Nothing reads the local terminal any more; it must not keep conch alive.
    process.stdin.destroy();
    await session?.close();
  }
}

