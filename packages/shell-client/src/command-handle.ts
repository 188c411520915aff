import { Readable } from 'node:stream';
import { ConchError, ErrorCodes, type OutputFd, type SignalName } from '@conch/protocol';
import type { CommandControl } from './command-control.js';
import { AbortedError, WaitTimeoutError } from './errors.js';
import type { CommandExit } from './exec-result.js';
import { splitLines } from './split-lines.js';
import { validateSize } from './validate-options.js';

export interface OutputChunk {
  readonly fd: OutputFd;
  readonly data: Uint8Array;
}

export interface OutputLine {
  readonly fd: OutputFd;
  /** One line without its terminator (`\n` or `\r\n`). */
  readonly line: string;
}

/**
 * How output leaves the handle. Chosen by the first consumer and fixed from then on, because two
 * consumers would each see half the bytes. Credit goes back to the producer only as a consumer
 * takes bytes, so an unread handle holds at most one window per stream.
 */
type Mode = 'unset' | 'iterator' | 'streams' | 'buffer' | 'discard';

/**
 * Output held for a consumer that has not attached yet while someone waits for the exit. Past
 * this, the output is dropped rather than let an unread command stall on its window forever.
 */
export const UNCONSUMED_LIMIT_BYTES = 8 << 20;

interface QueuedChunk extends OutputChunk {
  /** Credit already went back for it (queued while a wait() was pending). */
  readonly credited: boolean;
}

/**
 * A running command. Output arrives in order through exactly one of: the async iterator
 * (`for await (const {fd, data} of handle)`), `lines()`, or the `stdout`/`stderr` Readables.
 * `wait()` resolves after all output has been handed over, with the exit.
 */
export class CommandHandle implements AsyncIterable<OutputChunk> {
  /** The daemon's command id (or a local one). */
  readonly id: string;
  readonly pid: number;
  readonly #control: CommandControl;
  readonly #pty: boolean;
  #mode: Mode = 'unset';
  readonly #queue: QueuedChunk[] = [];
  #queuedBytes = 0;
  #waited = false;
  #iterating = false;
  #wake: (() => void) | undefined;
  #streams: Record<OutputFd, Readable> | undefined;
  /** Bytes pushed into a Readable that it has not asked for yet: credited on its next read. */
  readonly #owed: Record<OutputFd, number> = { 1: 0, 2: 0 };
  #buffers: Record<OutputFd, Buffer[]> = { 1: [], 2: [] };
  #exit: CommandExit | undefined;
  #failure: Error | undefined;
  readonly #settled: Promise<CommandExit>;
  #resolve!: (exit: CommandExit) => void;
  #reject!: (err: Error) => void;

  /** Absolute offset per stream of the next byte to arrive: where an attach would resume. */
  readonly #offsets: Record<OutputFd, number>;

  constructor(id: string, pid: number, control: CommandControl, pty = false, offsets: Record<OutputFd, number> = { 1: 0, 2: 0 }) {
    this.id = id;
    this.#offsets = { ...offsets };
    this.pid = pid;
    this.#control = control;
    this.#pty = pty;
    this.#settled = new Promise<CommandExit>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // wait() is how failures are normally observed; without this, a handle nobody waits on
    // would crash the process with an unhandled rejection.
    this.#settled.catch(() => {});
  }

  get pty(): boolean {
    return this.#pty;
  }

  /**
   * Byte offsets, per stream, up to which output has reached this handle. Pass them to
   * `ShellSession.attach` to resume exactly where this handle stopped.
   */
  get offsets(): { readonly stdout: number; readonly stderr: number } {
    return { stdout: this.#offsets[1], stderr: this.#offsets[2] };
  }

  /** The exit, once known. */
  get exit(): CommandExit | undefined {
    return this.#exit;
  }

  /** @internal Why following the command failed (lost, aborted), once it did. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** @internal Resolves once the handle is settled, whichever way; unlike wait(), changes nothing. */
  whenSettled(): Promise<void> {
    return this.#settled.then(
      () => {},
      () => {},
    );
  }

  /** Whether the handle is done: the command exited, or following it failed (lost, aborted). */
  get settled(): boolean {
    return this.#exit !== undefined || this.#failure !== undefined;
  }

  // ------------------------------------------------------------------ fed by the backend

  /** @internal Output, in order. */
  push(fd: OutputFd, data: Uint8Array): void {
    if (this.#exit || this.#failure || data.length === 0) return;
    this.#offsets[fd] += data.length;
    this.#deliver(fd, data);
  }

  /** Routes a chunk to the current consumer; also replays chunks queued before it attached. */
  #deliver(fd: OutputFd, data: Uint8Array): void {
    switch (this.#mode) {
      case 'unset':
        // Nobody reads yet. Once someone waits, keep the command flowing: hold a bounded amount
        // for a consumer that may still attach, and drop the rest.
        if (this.#waited) {
          this.#control.consumed(fd, data.length);
          if (this.#queuedBytes + data.length > UNCONSUMED_LIMIT_BYTES) {
            this.#choose('discard');
            return;
          }
        }
        this.#queue.push({ fd, data, credited: this.#waited });
        this.#queuedBytes += data.length;
        return;
      case 'iterator':
        this.#queue.push({ fd, data, credited: false });
        this.#wake?.();
        return;
      case 'streams':
        this.#toStream(fd, data);
        return;
      case 'buffer':
        this.#buffers[fd].push(Buffer.from(data.buffer, data.byteOffset, data.length));
        this.#control.consumed(fd, data.length);
        return;
      case 'discard':
        this.#control.consumed(fd, data.length);
        return;
    }
  }

  /** @internal Called after the last push. */
  finish(exit: CommandExit): void {
    if (this.#exit || this.#failure) return;
    this.#exit = exit;
    if (this.#streams) for (const s of Object.values(this.#streams)) s.push(null);
    this.#wake?.();
    this.#resolve(exit);
  }

  /** @internal The command's fate is unknown (connection lost) or it could not be followed. */
  fail(err: Error): void {
    if (this.#exit || this.#failure) return;
    this.#failure = err;
    // With the error only where someone listens for it: a Readable nobody reads (the stderr
    // beside a stdout in use, say) would otherwise crash the process with it. wait() has it too.
    if (this.#streams) for (const s of Object.values(this.#streams)) s.destroy(s.listenerCount('error') > 0 ? err : undefined);
    this.#wake?.();
    this.#reject(err);
  }

  // ------------------------------------------------------------------ consumers

  async *[Symbol.asyncIterator](): AsyncIterator<OutputChunk> {
    // Two iterators would each get part of the output, and one of them would wait for ever.
    if (this.#iterating) throw new ConchError(ErrorCodes.INVALID_STATE, `output of ${this.id} is already being iterated; use one consumer`);
    this.#choose('iterator');
    this.#iterating = true;
    let done = false;
    /** The chunk the consumer holds: credited when it comes back, or when it stops. */
    let inHand: QueuedChunk | undefined;
    try {
      for (;;) {
        const chunk = this.#queue.shift();
        if (chunk) {
          inHand = chunk;
          yield { fd: chunk.fd, data: chunk.data };
          inHand = undefined;
          // Credit once the consumer comes back for more, not as we hand the chunk over: credit
          // lets the daemon forget bytes, and a consumer killed mid-chunk must be able to attach
          // again from what it really kept.
          if (!chunk.credited) this.#control.consumed(chunk.fd, chunk.data.length);
          continue;
        }
        if (this.#failure) throw this.#failure;
        if (this.#exit) {
          done = true;
          return;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
      }
    } finally {
      this.#iterating = false;
      // The consumer stopped early (break, return, a throw in its loop body): nobody will read
      // the rest, so it is dropped, credited as it comes, and wait() cannot stall on a full window.
      if (!done && !this.settled) {
        if (inHand && !inHand.credited) this.#control.consumed(inHand.fd, inHand.data.length);
        this.#discardRest();
      }
    }
  }

  /** @internal From now on output is dropped as it arrives, and what is held now goes too. */
  #discardRest(): void {
    this.#mode = 'discard';
    for (const chunk of this.#queue.splice(0)) if (!chunk.credited) this.#control.consumed(chunk.fd, chunk.data.length);
    this.#queuedBytes = 0;
    this.#buffers[1] = [];
    this.#buffers[2] = [];
  }

  /** @internal exec() gave up waiting (waitTimeoutMs): keep the command flowing, keep nothing. */
  abandon(): void {
    if (!this.settled) this.#discardRest();
  }

  /** Lines of both streams, split on `\n` with `\r\n` treated as one terminator, decoded as UTF-8. */
  lines(): AsyncIterable<OutputLine> {
    return splitLines(this);
  }

  /** The command's stdout as a Readable (on a PTY: the terminal). */
  get stdout(): Readable {
    return this.#readables()[1];
  }

  /** The command's stderr as a Readable (empty on a PTY). */
  get stderr(): Readable {
    return this.#readables()[2];
  }

  /** @internal Collect everything into buffers (exec). */
  collect(): () => Record<OutputFd, Buffer> {
    this.#choose('buffer');
    return () => ({ 1: Buffer.concat(this.#buffers[1]), 2: Buffer.concat(this.#buffers[2]) });
  }

  // ------------------------------------------------------------------ control

  /** Writes to stdin; resolves when the daemon has room for more (stdin credit). */
  write(data: string | Uint8Array): Promise<void> {
    return this.#control.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  /** Closes stdin (on a PTY: sends the EOF character). */
  end(): Promise<void> {
    return this.#control.end();
  }

  /** Sends one signal to the command's process group. */
  signal(signal: SignalName): Promise<void> {
    return this.#control.signal(signal);
  }

  /** `signal` (default SIGTERM) to the whole process group, then SIGKILL after the grace period. */
  kill(signal: SignalName = 'SIGTERM', graceMs?: number): Promise<void> {
    return this.#control.kill(signal, graceMs);
  }

  resize(cols: number, rows: number): Promise<void> {
    if (!this.#pty) return Promise.reject(new ConchError(ErrorCodes.INVALID_STATE, `${this.id} has no terminal to resize`));
    try {
      validateSize(cols, rows);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#control.resize(cols, rows);
  }

  /** Stops following the command without killing it; see ShellSession.attach. */
  detach(): Promise<void> {
    return this.#control.detach();
  }

  /**
   * Resolves with the exit after every output byte was handed over. While nothing consumes the
   * output, up to UNCONSUMED_LIMIT_BYTES are kept for a consumer that attaches later and the
   * rest is dropped, so that an unread command cannot stall on a full window.
   * @param options.timeoutMs stop waiting (WAIT_TIMEOUT) without killing the command.
   */
  wait(options: { timeoutMs?: number } = {}): Promise<CommandExit> {
    if (!this.#waited && this.#mode === 'unset') {
      this.#waited = true;
      this.#queuedBytes = 0;
      for (const chunk of this.#queue.splice(0)) this.#deliver(chunk.fd, chunk.data);
    }
    if (options.timeoutMs === undefined) return this.#settled;
    const ms = options.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      this.#settled,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new WaitTimeoutError(ms)), ms))),
    ]).finally(() => clearTimeout(timer));
  }

  /** @internal Kill on abort and reject wait() with ABORTED. */
  abortOn(signal: AbortSignal | undefined, graceMs: number | undefined): void {
    if (!signal) return;
    const onAbort = () => {
      void this.kill('SIGTERM', graceMs).catch(() => {});
      this.fail(new AbortedError(signal.reason));
    };
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      void this.#settled.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => {});
    }
  }

  #choose(mode: Exclude<Mode, 'unset'>): void {
    if (this.#mode === mode) return;
    if (this.#mode !== 'unset') {
      throw new ConchError(ErrorCodes.INVALID_STATE, `output of ${this.id} is already consumed through ${this.#mode}; use one consumer`);
    }
    this.#mode = mode;
    const early = this.#queue.splice(0);
    this.#queuedBytes = 0;
    if (mode === 'iterator') {
      this.#queue.push(...early);
      return;
    }
    for (const chunk of early) {
      if (chunk.credited) this.#deliverCredited(chunk);
      else this.#deliver(chunk.fd, chunk.data);
    }
  }

  /** Hands over a chunk whose credit already went back, without crediting it twice. */
  #deliverCredited(chunk: QueuedChunk): void {
    if (this.#mode === 'buffer') this.#buffers[chunk.fd].push(Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.length));
    else if (this.#mode === 'streams') this.#streams![chunk.fd].push(Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.length));
  }

  #readables(): Record<OutputFd, Readable> {
    if (this.#streams) return this.#streams;
    if (this.#mode !== 'unset') this.#choose('streams');
    const credit = (fd: OutputFd) => {
      const owed = this.#owed[fd];
      this.#owed[fd] = 0;
      if (owed > 0) this.#control.consumed(fd, owed);
    };
    const make = (fd: OutputFd) =>
      new Readable({
        read: () => credit(fd),
        // A stream destroyed by its consumer (only stdout wanted, say) is given up, not paused:
        // what it held and what comes after is credited, or its window would fill and hold the command.
        destroy: (err, done) => {
          credit(fd);
          done(err);
        },
      });
    this.#streams = { 1: make(1), 2: make(2) };
    this.#choose('streams');
    if (this.#exit) for (const s of Object.values(this.#streams)) s.push(null);
    return this.#streams;
  }

  #toStream(fd: OutputFd, data: Uint8Array): void {
    const stream = this.#streams![fd];
    if (stream.destroyed) {
      this.#control.consumed(fd, data.length);
      return;
    }
    if (stream.push(Buffer.from(data.buffer, data.byteOffset, data.length))) this.#control.consumed(fd, data.length);
    else this.#owed[fd] += data.length;
  }
}
