import { Buffer } from 'node:buffer';
import type { CommandHandle } from './command-handle.js';
import { NonZeroExitError } from './errors.js';
import type { ExecResult } from './exec-result.js';
import type { ExecOptions, SpawnOptions } from './options.js';
import type { CommandLine } from './shell-session.js';

/**
 * exec() for any backend: spawn, feed `input`, collect both streams, wait. Kept apart from
 * the backends so that both have exactly the same buffering, abort and reject semantics.
 */
export async function execVia(
  spawn: (command: CommandLine, options: SpawnOptions) => Promise<CommandHandle>,
  command: CommandLine,
  options: ExecOptions = {},
): Promise<ExecResult<string | Uint8Array>> {
  const { input, encoding = 'utf8', reject = false, waitTimeoutMs, ...spawnOptions } = options;
  const handle = await spawn(command, { ...spawnOptions, stdin: spawnOptions.stdin ?? input !== undefined });
  const output = handle.collect();
  if (input !== undefined) {
    // Feeding stdin runs beside collection: a command that echoes more than a window before
    // reading the rest of its input must not deadlock us.
    void handle
      .write(typeof input === 'string' ? Buffer.from(input, 'utf8') : input)
      .then(() => handle.end())
      .catch(() => {});
  }
  let exit;
  try {
    exit = await handle.wait(waitTimeoutMs !== undefined ? { timeoutMs: waitTimeoutMs } : {});
  } catch (err) {
    // Nobody holds this handle once we throw: what the command still writes must not pile up
    // here until it exits (a `yes` would fill the host's memory).
    handle.abandon();
    throw err;
  }
  const bytes = output();
  const decode = (b: Buffer) => (encoding === 'buffer' ? new Uint8Array(b.buffer, b.byteOffset, b.length) : b.toString('utf8'));
  const result: ExecResult<string | Uint8Array> = { ...exit, stdout: decode(bytes[1]), stderr: decode(bytes[2]) };
  if (reject && (exit.exitCode !== 0 || exit.signal !== null)) throw new NonZeroExitError(result);
  return result;
}
