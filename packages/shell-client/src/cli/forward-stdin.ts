import type { Readable } from 'node:stream';
import type { CommandHandle } from '../command-handle.js';

/**
 * Forwards a local input stream to the command, honouring its stdin credit; local EOF becomes
 * end(). Failures are swallowed: once the command has exited or closed its stdin, what is left
 * to send has nowhere to go, and the exit status tells the story.
 */
export async function forwardStdin(handle: CommandHandle, input: Readable = process.stdin): Promise<void> {
  try {
    for await (const chunk of input) await handle.write(chunk as Buffer);
    await handle.end();
  } catch {
    // See above: nothing to do.
  }
}
