import { ConchError, ErrorCodes, normalizeSignal, type CommandExited, type OutputFd } from '@conch/protocol';
import type { ClientConnection, CommandRoute } from './client-connection.js';
import { CommandHandle } from './command-handle.js';
import type { CommandControl } from './command-control.js';
import { CommandLostError } from './errors.js';
import { validateDuration, validateSignal } from './validate-options.js';

/**
 * The client's view of one daemon command: its handle, the next offset expected per stream,
 * credit in both directions, and the connection it currently streams over. The connection can
 * change (a reconnect re-attaches from `expected`), which is why nothing here captures one.
 */
export class RemoteCommand {
  readonly id: string;
  readonly handle: CommandHandle;
  /** Next byte offset expected per stream: where a re-attach resumes. */
  readonly expected: Record<OutputFd, number>;
  readonly #window: number;
  readonly #killGraceMs: number | undefined;
  #connection: ClientConnection;
  #unsent = { 1: 0, 2: 0 };
  #stdinCredit: number;
  #stdinWaiter: (() => void) | undefined;
  /** write() and end() in call order: each waits for the ones before it, as on a Writable. */
  #stdinQueue: Promise<void> = Promise.resolve();
  #lost: Error | undefined;
  /** Until end(): a command started without stdin has none to write to. */
  #stdinOpen: boolean;
  #detached = false;

  constructor(
    connection: ClientConnection,
    init: {
      id: string; pid: number; pty: boolean; stdinWindow: number; window: number; offsets?: Record<OutputFd, number>; killGraceMs?: number;
      /** Whether stdin is open, when the daemon says so; otherwise some credit means it is. */
      stdinOpen?: boolean;
    },
  ) {
    this.id = init.id;
    this.#connection = connection;
    this.#window = init.window;
    this.#killGraceMs = init.killGraceMs;
    this.#stdinCredit = init.stdinWindow;
    this.#stdinOpen = init.stdinOpen ?? init.stdinWindow > 0;
    this.expected = { ...(init.offsets ?? { 1: 0, 2: 0 }) };
    this.handle = new CommandHandle(init.id, init.pid, this.#control(), init.pty, this.expected);
    connection.route(this.id, this.#route());
    // However the handle settles (an abort among them), a writer waiting for credit must hear of it.
    void this.handle.whenSettled().then(() => this.#wakeWriter());
  }

  get finished(): boolean {
    return this.handle.exit !== undefined;
  }

  /** Moves the command onto a new connection (after a reconnect and a successful Attach). */
  rebind(connection: ClientConnection, stdinWindow?: number): void {
    this.#connection = connection;
    // The new subscription starts with a fresh window; credit owed on the old one is void.
    this.#unsent = { 1: 0, 2: 0 };
    // Stdin credit too, when the daemon says what it is (input in flight at the cut may be lost).
    if (stdinWindow !== undefined) {
      this.#stdinCredit = stdinWindow;
      this.#wakeWriter();
    }
    connection.route(this.id, this.#route());
  }

  /** The route for a connection; set synchronously as the Attached/CommandStarted reply is decoded. */
  #route(): CommandRoute {
    const handle = this.handle;
    return {
      output: (fd, offset, data) => {
        if (offset !== this.expected[fd]) {
          handle.fail(new ConchError(ErrorCodes.INVALID_MESSAGE, `stream ${fd} of ${this.id} jumped from offset ${this.expected[fd]} to ${offset}`));
          return;
        }
        this.expected[fd] += data.length;
        handle.push(fd, data);
      },
      exited: (m: CommandExited) => {
        handle.finish({
          exitCode: m.exitCode, signal: m.signal === null ? null : (normalizeSignal(m.signal) ?? null), timedOut: m.timedOut,
          truncated: m.truncated, durationMs: m.durationMs, stdoutBytes: m.stdoutBytes, stderrBytes: m.stderrBytes,
        });
        this.#credit(1);
        this.#credit(2);
        // A writer waiting for credit the command will never grant now.
        this.#wakeWriter();
      },
      stdinCredit: (bytes) => {
        this.#stdinCredit += bytes;
        this.#wakeWriter();
      },
      error: () => {},
      lost: () => this.#wakeWriter(),
    };
  }

  /** The connection is gone for good (or the daemon restarted): the command's fate is unknown. */
  lose(why: string): void {
    this.#lost = new CommandLostError(this.id, why);
    this.#wakeWriter();
    this.handle.fail(this.#lost);
  }

  #wakeWriter(): void {
    this.#stdinWaiter?.();
    this.#stdinWaiter = undefined;
  }

  #control(): CommandControl {
    return {
      write: (data) => {
        // Refused at the call, as a Writable refuses a write after end(); queued ones still go.
        if (!this.#stdinOpen) return Promise.reject(new ConchError(ErrorCodes.STDIN_CLOSED, `stdin of ${this.id} is closed`));
        return this.#queueStdin(() => this.#write(data));
      },
      // After the writes before it: EndInput ahead of queued Input would cut the input short.
      end: () => {
        this.#stdinOpen = false;
        return this.#queueStdin(async () => this.#connection.post({ type: 'EndInput', command: this.id }));
      },
      signal: async (signal) => {
        validateSignal(signal);
        await this.#connection.request({ type: 'Signal', command: this.id, signal }, 'Ok');
      },
      kill: async (signal, graceMs) => {
        validateSignal(signal);
        validateDuration('graceMs', graceMs);
        const grace = graceMs ?? this.#killGraceMs;
        await this.#connection.request({ type: 'KillCommand', command: this.id, signal, ...(grace !== undefined ? { graceMs: grace } : {}) }, 'Ok');
      },
      resize: async (cols, rows) => {
        await this.#connection.request({ type: 'Resize', command: this.id, cols, rows }, 'Ok');
      },
      consumed: (fd, bytes) => {
        this.#unsent[fd] += bytes;
        // After the exit no more output comes to fill a batch, and the daemon keeps every byte we
        // have not credited (for a re-attach) for as long as it keeps the exited command.
        if (this.#unsent[fd] >= this.#creditBatch() || this.handle.exit) this.#credit(fd);
      },
      detach: async () => {
        await this.#connection.request({ type: 'Detach', command: this.id }, 'Ok');
        this.#detached = true;
        this.#connection.unroute(this.id);
        this.handle.fail(
          new ConchError(ErrorCodes.INVALID_STATE, `detached from ${this.id} at offsets ${this.expected[1]}/${this.expected[2]}; attach to follow it again`, {
            command: this.id, stdoutOffset: this.expected[1], stderrOffset: this.expected[2],
          }),
        );
      },
    };
  }

  #queueStdin(step: () => Promise<void>): Promise<void> {
    const run = this.#stdinQueue.then(step);
    this.#stdinQueue = run.catch(() => {});
    return run;
  }

  /**
   * Sends `data` as credit allows. Like a pipe: refused once the command has exited, and
   * settled, the rest dropped, when it exits while the data waits for credit it will never get.
   */
  async #write(data: Uint8Array): Promise<void> {
    // Exited, or no longer followed (lost, aborted, detached): no credit will come.
    const closed = () => this.handle.settled || this.#detached;
    if (closed()) throw new ConchError(ErrorCodes.STDIN_CLOSED, `stdin of ${this.id} is closed`);
    for (let at = 0; at < data.length; ) {
      while (this.#stdinCredit <= 0) {
        if (this.#lost) throw this.#lost;
        if (closed()) return;
        await new Promise<void>((resolve) => (this.#stdinWaiter = resolve));
      }
      const n = Math.min(this.#stdinCredit, this.#connection.maxInputChunk, data.length - at);
      this.#connection.post({ type: 'Input', command: this.id, data: data.subarray(at, at + n) });
      this.#stdinCredit -= n;
      at += n;
    }
  }

  /** Sends the credit owed on one stream, if any. */
  #credit(fd: OutputFd): void {
    const bytes = this.#unsent[fd];
    if (bytes === 0 || this.#detached) return;
    this.#connection.post({ type: 'Credit', command: this.id, fd, bytes });
    this.#unsent[fd] = 0;
  }

  /**
   * Credit goes back once a quarter of the window was consumed, not per chunk: each Credit is a
   * frame, a write and a wakeup of the daemon (64 KiB batches were 16k Credits per GiB), and a
   * quarter keeps three quarters of the window in flight meanwhile. The daemon holds at most
   * ringBytes unacknowledged whatever the window, so the smaller of the two is what counts.
   */
  #creditBatch(): number {
    return Math.max(1, Math.min(this.#window, this.#connection.welcome.limits.ringBytes) >> 2);
  }

  get detached(): boolean {
    return this.#detached;
  }
}
