import { ConchError, ErrorCodes, normalizeSignal, type Attached, type CommandExited, type OutputFd } from '@conch/protocol';
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
  /** EndInput went out: after a cut it goes again, unless the daemon says stdin is closed. */
  #endSent = false;
  #detached = false;
  /**
   * Stdin bytes posted in all, counted as the daemon counts them (Attached.stdinReceived), and
   * the offset up to which the daemon has credited them back (taken into the pipe). One writer
   * per command: bytes another client writes meanwhile are not ours to count or resend.
   */
  #stdinSent: number;
  #creditedTo: number;
  /**
   * What was posted and not yet credited back, from offset #retainedFrom: a cut can lose it in
   * flight, and a re-attach resends the part the daemon did not get. At most the stdin window.
   */
  #retained: Uint8Array[] = [];
  #retainedFrom: number;

  constructor(
    connection: ClientConnection,
    init: {
      id: string; pid: number; pty: boolean; stdinWindow: number; window: number; offsets?: Record<OutputFd, number>; killGraceMs?: number;
      /** Whether stdin is open, when the daemon says so; otherwise some credit means it is. */
      stdinOpen?: boolean;
      /** Stdin bytes the daemon already has (Attached.stdinReceived), when following a command begun elsewhere. */
      stdinReceived?: number;
    },
  ) {
    this.id = init.id;
    this.#connection = connection;
    this.#window = init.window;
    this.#killGraceMs = init.killGraceMs;
    this.#stdinCredit = init.stdinWindow;
    this.#stdinOpen = init.stdinOpen ?? init.stdinWindow > 0;
    this.#stdinSent = this.#retainedFrom = init.stdinReceived ?? 0;
    // Bytes already queued at the daemon are credited to us later, by count: know where they end.
    this.#creditedTo = this.#stdinSent - queuedAt(connection, init.stdinWindow, init.stdinReceived !== undefined);
    this.expected = { ...(init.offsets ?? { 1: 0, 2: 0 }) };
    this.handle = new CommandHandle(init.id, init.pid, this.#control(), init.pty, this.expected);
    connection.route(this.id, this.#route());
    // However the handle settles (an abort among them), a writer waiting for credit must hear of it.
    void this.handle.whenSettled().then(() => this.#wakeWriter());
  }

  get finished(): boolean {
    return this.handle.exit !== undefined;
  }

  /**
   * Moves the command onto a new connection (after a reconnect and a successful Attach), and
   * resends the stdin the cut lost: the bytes past what the daemon says it received, and EndInput
   * if it went out and stdin is still open. Before any write waiting out the reconnect, so
   * order holds. A daemon that does not say (no `stdinReceived`) may have lost input in flight.
   */
  rebind(connection: ClientConnection, attached: Pick<Attached, 'stdinWindow' | 'stdin' | 'stdinReceived'> = {}): void {
    this.#connection = connection;
    // The new subscription starts with a fresh window; credit owed on the old one is void.
    this.#unsent = { 1: 0, 2: 0 };
    // Stdin credit too, when the daemon says what it is.
    if (attached.stdinWindow !== undefined) this.#stdinCredit = attached.stdinWindow;
    connection.route(this.id, this.#route());
    const received = attached.stdinReceived;
    if (received === undefined || attached.stdin === false) {
      // Nothing to resend, or no way to tell what.
      this.#forget(this.#stdinSent);
      this.#creditedTo = this.#stdinSent;
    } else if (received > this.#stdinSent) {
      // The daemon has more than we sent (another writer): nothing of ours can be placed. Count
      // on from its count, and expect the credit for what it holds queued, as after an attach().
      this.#stdinSent = received;
      this.#forget(received);
      this.#creditedTo = received - queuedAt(connection, attached.stdinWindow, true);
    } else {
      // The daemon credits what it holds queued (received, less the room the window shows) later,
      // on this connection; only what lies before that is known to be in the pipe.
      this.#creditedTo = received - queuedAt(connection, attached.stdinWindow, true);
      this.#forget(this.#creditedTo);
      this.#resend(received);
      if (this.#endSent) connection.post({ type: 'EndInput', command: this.id });
    }
    // A write or end() waiting out the reconnect goes on, over this connection.
    this.#wakeWriter();
  }

  /** Posts again what was sent past `from` (offsets the daemon's), in frames the connection takes. */
  #resend(from: number): void {
    let at = this.#retainedFrom;
    for (const piece of this.#retained) {
      const skip = Math.max(0, from - at);
      for (let i = skip; i < piece.length; i += this.#connection.maxInputChunk) {
        const part = piece.subarray(i, Math.min(piece.length, i + this.#connection.maxInputChunk));
        this.#connection.post({ type: 'Input', command: this.id, data: part });
        this.#stdinCredit -= part.length;
      }
      at += piece.length;
    }
  }

  /** Lets go of retained stdin before offset `upTo`: the daemon's pipe has it. */
  #forget(upTo: number): void {
    while (this.#retainedFrom < upTo && this.#retained.length > 0) {
      const first = this.#retained[0]!;
      const drop = Math.min(first.length, upTo - this.#retainedFrom);
      if (drop === first.length) this.#retained.shift();
      else this.#retained[0] = first.subarray(drop);
      this.#retainedFrom += drop;
    }
    if (this.#retained.length === 0) this.#retainedFrom = this.#stdinSent;
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
        this.#forget(this.#stdinSent);
        // A writer waiting for credit the command will never grant now.
        this.#wakeWriter();
      },
      stdinCredit: (bytes) => {
        this.#stdinCredit += bytes;
        this.#creditedTo += bytes;
        this.#forget(this.#creditedTo);
        this.#wakeWriter();
      },
      error: () => {},
      lost: () => this.#wakeWriter(),
    };
  }

  /** The connection is gone for good (or the daemon restarted): the command's fate is unknown. */
  lose(why: string): void {
    this.#lost = new CommandLostError(this.id, why);
    this.#forget(this.#stdinSent);
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
        return this.#queueStdin(async () => {
          // Lost (superseded by another attach, among others) or detached: the command's stdin is
          // no longer this handle's to close.
          if (this.#lost || this.#detached || !(await this.#waitWhile(() => this.#connection.closed))) return;
          this.#connection.post({ type: 'EndInput', command: this.id });
          this.#endSent = true;
        });
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
        this.#forget(this.#stdinSent);
        this.#connection.unroute(this.id);
        this.handle.fail(
          new ConchError(ErrorCodes.INVALID_STATE, `detached from ${this.id} at offsets ${this.expected[1]}/${this.expected[2]}; attach to follow it again`, {
            command: this.id, stdoutOffset: this.expected[1], stderrOffset: this.expected[2],
          }),
        );
      },
    };
  }

  /**
   * Waits, woken by credit, a rebind or the end, while `blocked` holds: true once it does not,
   * false when stdin never will be written again (the command exited or was detached, or is no
   * longer followed). Throws when the command was lost.
   */
  async #waitWhile(blocked: () => boolean): Promise<boolean> {
    while (blocked()) {
      if (this.#lost) throw this.#lost;
      if (this.handle.settled || this.#detached) return false;
      await new Promise<void>((resolve) => (this.#stdinWaiter = resolve));
    }
    return true;
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
    if (this.handle.settled || this.#detached) throw new ConchError(ErrorCodes.STDIN_CLOSED, `stdin of ${this.id} is closed`);
    for (let at = 0; at < data.length; ) {
      // A closed connection is no credit either: while a reconnect is in flight, what was posted
      // would be dropped unsent, so the write waits for the new connection (rebind) or the loss.
      if (!(await this.#waitWhile(() => this.#stdinCredit <= 0 || this.#connection.closed))) return;
      const n = Math.min(this.#stdinCredit, this.#connection.maxInputChunk, data.length - at);
      // A copy: it may be sent again after a cut, and the caller may reuse its buffer once write() resolves.
      const piece = data.slice(at, at + n);
      this.#connection.post({ type: 'Input', command: this.id, data: piece });
      this.#retained.push(piece);
      this.#stdinSent += n;
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

/**
 * Stdin bytes the daemon holds queued, by what the window it granted leaves of its queue; 0 when
 * it does not say how much it received (then no offsets are compared).
 */
function queuedAt(connection: ClientConnection, stdinWindow: number | undefined, known: boolean): number {
  return known ? Math.max(0, connection.welcome.limits.maxQueuedStdinBytes - (stdinWindow ?? 0)) : 0;
}
