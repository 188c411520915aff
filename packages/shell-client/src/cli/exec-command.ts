import { finished } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { signalNumber, type SignalName } from '@conch/protocol';
import type { CommandHandle } from '../command-handle.js';
import type { SpawnOptions } from '../options.js';
import { exitStatusOf } from './exit-codes.js';
import { forwardStdin } from './forward-stdin.js';
import { openFromOptions, parseSeconds, usageError, type GlobalOptions } from './global-options.js';

/** Signals to conch itself that are passed on to the remote command, as ssh does. */
const FORWARDED: readonly SignalName[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** `--user UID` (that guest user, with its groups) or `--user UID:GID` (exactly those ids): numeric, as the daemon takes them. */
function parseUser(text: string): { uid: number; gid?: number } {
  const match = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(text);
  const [uid, gid] = [match?.[1], match?.[2]].map((id) => (id === undefined ? undefined : Number(id)));
  if (uid === undefined || uid >= 0xffffffff || (gid !== undefined && gid >= 0xffffffff)) {
    throw usageError(`--user expects UID or UID:GID (numbers below 4294967295), got ${JSON.stringify(text)}`);
  }
  return gid === undefined ? { uid } : { uid, gid };
}

/**
 * `conch exec [-i] [--pty] [--cwd D] [--env K=V]… [--timeout S] [--user UID[:GID]] -- CMD [ARGS…]`. Streams the
 * command's stdout and stderr to ours and returns its exit status (128+signal when killed).
 */
export async function execCommand(args: string[], global: GlobalOptions): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      stdin: { type: 'boolean', short: 'i' },
      pty: { type: 'boolean', short: 't' },
      cwd: { type: 'string' },
      env: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      user: { type: 'string', short: 'u' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length === 0) throw usageError('exec needs a command: conch exec [options] -- CMD [ARGS…]');
  const env: Record<string, string> = {};
  for (const pair of values.env ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw usageError(`--env expects K=V, got ${JSON.stringify(pair)}`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const options: SpawnOptions = {
    stdin: Boolean(values.stdin),
    ...(values.user !== undefined ? parseUser(values.user) : {}),
    ...(values.cwd !== undefined ? { cwd: values.cwd } : {}),
    ...(values.env ? { env } : {}),
    ...(values.timeout !== undefined ? { timeoutMs: parseSeconds(values.timeout, '--timeout') } : {}),
    ...(values.pty ? { pty: { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24, term: process.env.TERM || 'xterm-256color' } } : {}),
  };
  const session = await openFromOptions(global);
  try {
    const handle = await session.spawn(positionals, options);
    const forward = FORWARDED.map((signal) => {
      let received = 0;
      // The first signal goes to the command; a second one means the user wants out now, even
      // if the daemon or the command is not answering.
      const listener = () => {
        if (++received > 1) process.exit(128 + signalNumber(signal));
        void handle.signal(signal).catch(() => process.exit(128 + signalNumber(signal)));
      };
      process.on(signal, listener);
      return () => process.off(signal, listener);
    });
    const stdinDone = values.stdin ? forwardStdin(handle) : undefined;
    // Our stdout/stderr may be slow pipes: Readables give the command exactly that backpressure.
    handle.stdout.pipe(process.stdout, { end: false });
    handle.stderr.pipe(process.stderr, { end: false });
    const closed = outputClosed(handle);
    const status = await Promise.race([
      (async () => {
        const exit = await handle.wait();
        await Promise.all([finished(handle.stdout), finished(handle.stderr)]);
        return exitStatusOf(exit);
      })(),
      closed.status,
    ]).finally(closed.stopWatching);
    for (const off of forward) off();
    // The command is gone; a stdin still open (a terminal, say) must not keep conch alive.
    if (stdinDone) process.stdin.destroy();
    return status;
  } finally {
    await session.close();
  }
}

/**
 * `status` resolves once our stdout or stderr can take no more (the reader went away: `conch exec -- seq
 * 1 1e6 | head -1`), with the status of a process killed by SIGPIPE. The remote command gets
 * SIGPIPE too, as the writer of a closed pipe would: it has no reader any more either.
 */
function outputClosed(handle: CommandHandle): { status: Promise<number>; stopWatching: () => void } {
  let onError: (() => void) | undefined;
  const status = new Promise<number>((resolve) => {
    onError = () => {
      handle.stdout.unpipe();
      handle.stderr.unpipe();
      // Nothing reads them now: closing the session ends them with an error nobody must see.
      handle.stdout.on('error', () => {});
      handle.stderr.on('error', () => {});
      void handle.kill('SIGPIPE').catch(() => {});
      resolve(128 + signalNumber('SIGPIPE'));
    };
    process.stdout.once('error', onError);
    process.stderr.once('error', onError);
  });
  // Once the command is done, a broken pipe is cli.ts's to handle (it exits 141 while alone).
  const stopWatching = () => {
    process.stdout.off('error', onError!);
    process.stderr.off('error', onError!);
  };
  return { status, stopWatching };
}
