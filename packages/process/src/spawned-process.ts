import type { Readable, Writable } from 'node:stream';
import type { PtyOptions, SignalName } from '@conch/protocol';
import type { CommandCgroup } from './cgroup.js';

/** What to run. `argv[0]` is resolved through PATH by the OS, never by a shell. */
export interface ProcessSpec {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** Open a stdin pipe; otherwise stdin is /dev/null (on a PTY, stdin is always the terminal). */
  readonly stdin: boolean;
  readonly pty?: PtyOptions;
  readonly uid?: number;
  readonly gid?: number;
  /** The cgroup the process joins before it runs (see ProcessTree). */
  readonly cgroup?: CommandCgroup;
}

export interface ProcessExit {
  readonly exitCode: number | null;
  readonly signal: SignalName | null;
}

/**
 * What is needed of an output stream: a Readable (node-pty, child_process), or the addon's
 * PipeReader, which emits the same events for a pipe without a stream around it. A 'data'
 * chunk is valid only while its listeners run (a PipeReader reuses the memory for its next
 * read): copy what is kept.
 */
export interface OutputStream {
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  once(event: 'end' | 'close', listener: () => void): this;
  pause(): this;
  resume(): this;
  destroy(): this;
}

/**
 * A started process, whatever its plumbing (pipes or a PTY). Its pid is also its process
 * group id. `stdout` (the terminal, for a PTY) ends only after every byte the process wrote
 * has been read; `exited` resolves when the leader exits, which may be before that.
 */
export interface SpawnedProcess {
  readonly pid: number;
  readonly pty: boolean;
  readonly stdout: OutputStream;
  /** null on a PTY, where stderr is the terminal too. */
  readonly stderr: OutputStream | null;
  /** null when stdin was not asked for. */
  readonly stdin: Writable | null;
  readonly exited: Promise<ProcessExit>;
  /** Closes stdin: end of the pipe, or the EOF character on a PTY. */
  endInput(): void;
  resize(cols: number, rows: number): void;
  /**
   * Stops waiting for output that a lingering grandchild may never finish: closes the output
   * streams. Callers invoke it only when they have consumed everything already read.
   */
  abandonOutput(): void;
}

/** A PTY's process: its terminal output is a Readable (node-pty's socket). */
export interface PtyProcess extends SpawnedProcess {
  readonly stdout: Readable;
}
