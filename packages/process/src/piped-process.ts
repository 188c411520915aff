import type { Writable } from 'node:stream';
import type { OutputStream, ProcessExit, SpawnedProcess } from './spawned-process.js';

/** A SpawnedProcess over plain pipes, whichever way the process was started. */
export function pipedProcess(
  pid: number,
  streams: { stdout: OutputStream; stderr: OutputStream; stdin: Writable | null },
  exited: Promise<ProcessExit>,
): SpawnedProcess {
  const { stdout, stderr, stdin } = streams;
  // A child that exits before reading its stdin makes our writes fail with EPIPE. That is the
  // child's business, not a daemon crash.
  stdin?.on('error', () => {});
  return {
    pid,
    pty: false,
    stdout,
    stderr,
    stdin,
    exited,
    endInput: () => stdin?.end(),
    resize: () => {},
    // Called only once our side has consumed everything it read, so nothing buffered is lost.
    abandonOutput: () => {
      stdout.destroy();
      stderr.destroy();
    },
  };
}
