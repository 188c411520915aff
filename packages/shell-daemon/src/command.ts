import { ConchError, ErrorCodes, type CommandInfo, type OutputFd, type SignalName } from '@conch/protocol';
import type { Execution, ExecutionResult, ProcessTree } from '@conch/process';
import { listedArgv } from './list-reply.js';
import { pinBlocks } from './output-blocks.js';
import { OutputRing } from './output-ring.js';
import { perFd } from './per-fd.js';
import type { Subscriber } from './subscriber.js';

interface Subscription {
  readonly to: Subscriber;
  /** Next offset to send, per stream. */
  readonly sent: Record<OutputFd, number>;
  /** Offset the peer has credit up to, per stream. */
  readonly limit: Record<OutputFd, number>;
  readonly window: number;
  exitSent: boolean;
}

/** The longest output waits for more to fill its frame (see Command.#pumpSoon). */
const FLUSH_DELAY_MS = 4;

export interface CommandOptions {
  readonly id: string;
  readonly session: string;
  readonly argv: readonly string[];
  readonly ringBytes: number;
  readonly maxQueuedStdinBytes: number;
  readonly stdin: boolean;
}

/**
 * One running (or finished) command in the daemon: its output rings, the connection it streams
 * to, flow control in both directions, and the rule that CommandExited goes out only after every
 * output byte has been sent to that connection.
 */
export class Command {
  readonly id: string;
  readonly session: string;
  readonly argv: readonly string[];
  readonly #rings: Record<OutputFd, OutputRing>;
  readonly #maxQueuedStdin: number;
  /** Set while the process runs; dropped at exit, with the child, its streams and their listeners. */
  #execution: Execution | undefined;
  #pid = 0;
  /** What the command started, kept past its exit: what the leader left behind can still be killed. */
  #tree: ProcessTree | undefined;
  #pty = false;
  #subscription: Subscription | undefined;
  #result: ExecutionResult | undefined;
  #stdinOpen: boolean;
  #stdinQueued = 0;
  /** Taken from Input frames in all, for a client that re-attaches to resend from (Attached). */
  #stdinReceived = 0;
  readonly #readPaused = perFd(false, false);

  constructor(options: CommandOptions) {
    this.id = options.id;
    this.session = options.session;
    this.argv = options.argv;
    this.#rings = perFd(new OutputRing(options.ringBytes), new OutputRing(options.ringBytes));
    this.#maxQueuedStdin = options.maxQueuedStdinBytes;
    this.#stdinOpen = options.stdin;
  }

  /** The output sink handed to the Execution; bound before the process starts. */
  readonly sink = (fd: OutputFd, data: Buffer): void => {
    this.#rings[fd].append(data);
    this.#applyBackpressure(fd);
    this.#pumpSoon(fd);
  };

  /**
   * Sends output in frames of up to a full chunk rather than one per read: every frame costs
   * both processes a write, a wakeup and a decode, and a read gives 4 KiB on a PTY and often
   * far less than 64 KiB on a pipe (bench/README.md). So output that follows other output
   * within FLUSH_DELAY_MS waits, at most that long, for a full chunk; output after a quiet spell
   * (a keystroke's echo, a prompt) goes at once. It also goes at once when reading is paused
   * (no more is coming until the peer credits) or when the other stream has unsent output, so
   * that stdout and stderr still arrive in the order they were read.
   */
  #pumpSoon(fd: OutputFd): void {
    const sub = this.#subscription;
    if (!sub) return;
    if (sub.to.congested) {
      sub.to.pumpOnDrain(this);
      return;
    }
    const other = fd === 1 ? 2 : 1;
    if (this.#readPaused[fd] || this.#rings[other].end > sub.sent[other]) {
      this.pump();
      return;
    }
    this.#send(false);
    // Nothing to wait for when there is no credit: a Credit pumps.
    if (this.#flushTimer || this.#rings[fd].end === sub.sent[fd] || sub.sent[fd] >= sub.limit[fd]) return;
    if (performance.now() - this.#flushedAt >= FLUSH_DELAY_MS) this.pump();
    // A closure per wait rather than one per Command: exited commands are kept by the thousand.
    else this.#flushTimer = setTimeout(() => this.pump(), FLUSH_DELAY_MS);
  }

  #flushTimer: NodeJS.Timeout | undefined;
  #flushedAt = -Infinity;

  /** Wires the started process in; called once. */
  started(execution: Execution): void {
    this.#execution = execution;
    this.#pid = execution.pid;
    this.#tree = execution.tree;
    this.#pty = execution.process.pty;
    for (const fd of [1, 2] as const) this.#applyBackpressure(fd);
    void execution.done.then((result) => {
      // Copied into one literal: the result as built (a spread) measured a hidden class of its
      // own per command, about 300 bytes, kept for as long as the command is.
      this.#result = {
        exitCode: result.exitCode, signal: result.signal, timedOut: result.timedOut, truncated: result.truncated,
        durationMs: result.durationMs, stdoutBytes: result.stdoutBytes, stderrBytes: result.stderrBytes,
      };
      this.#stdinOpen = false;
      // An exited command is kept for attach and list (for --exit-retention), possibly many
      // thousands of them: keep its status and rings, not the process objects (about 8 KiB each).
      this.#execution = undefined;
      this.pump();
      // What is still held is kept at its size from now on (heldBytes counts it so).
      this.#rings[1].compact();
      this.#rings[2].compact();
    });
  }

  get pid(): number {
    return this.#pid;
  }

  get result(): ExecutionResult | undefined {
    return this.#result;
  }

  get subscriber(): Subscriber | undefined {
    return this.#subscription?.to;
  }

  get pty(): boolean {
    return this.#pty;
  }

  /** Output bytes the rings hold: after the exit, what can still be replayed. */
  get heldBytes(): number {
    return this.#rings[1].end - this.#rings[1].start + this.#rings[2].end - this.#rings[2].start;
  }

  /** Whether a subscriber is still owed output or the exit. */
  get streaming(): boolean {
    const sub = this.#subscription;
    return sub !== undefined && !sub.exitSent;
  }

  /**
   * Streams to `to` from the given offsets, starting at the next pump(). Returns how many
   * requested bytes are no longer held.
   */
  attach(to: Subscriber, offsets: Record<OutputFd, number>, window: number): Record<OutputFd, number> {
    const dropped = { 1: 0, 2: 0 };
    const sent = perFd(0, 0);
    for (const fd of [1, 2] as const) {
      const ring = this.#rings[fd];
      if (offsets[fd] > ring.end) {
        throw new ConchError(ErrorCodes.INVALID_STATE, `offset ${offsets[fd]} is past the end (${ring.end}) of stream ${fd}`);
      }
      ring.ack(offsets[fd]);
      sent[fd] = Math.max(offsets[fd], ring.start);
      dropped[fd] = sent[fd] - offsets[fd];
    }
    this.#subscription = { to, sent, limit: perFd(sent[1] + window, sent[2] + window), window, exitSent: false };
    // No pump here: the caller first sends the reply that tells the peer this command's id.
    return dropped;
  }

  /** Stops streaming to `to` (if it is the current subscriber); the command keeps running. */
  detach(to: Subscriber): void {
    if (this.#subscription?.to === to) this.#subscription = undefined;
  }

  /** The peer consumed `bytes` more of stream `fd` and grants that much more. */
  credit(from: Subscriber, fd: OutputFd, bytes: number): void {
    const sub = this.#subscription;
    if (sub?.to !== from) return;
    sub.limit[fd] += bytes;
    this.#ackCredited(sub, fd);
    this.pump();
  }

  /**
   * Acknowledges what the peer's credit says it consumed, but never past what it was sent: credit
   * is for bytes consumed, and a peer that credits ahead must not have the ring drop output it
   * was never sent (it would get a gap, and the reader would run on unpaused).
   */
  #ackCredited(sub: Subscription, fd: OutputFd): void {
    this.#rings[fd].ack(Math.min(sub.limit[fd] - sub.window, sub.sent[fd]));
    this.#applyBackpressure(fd);
  }

  /** Sends whatever credit and the transport allow; then the exit, once everything is out. */
  pump(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#flushedAt = performance.now();
    this.#send(true);
  }

  /** pump(), but without a last frame shorter than a chunk (or than the credit) unless `partial`. */
  #send(partial: boolean): void {
    const sub = this.#subscription;
    if (!sub) return;
    for (const fd of [1, 2] as const) {
      const ring = this.#rings[fd];
      while (sub.sent[fd] < ring.end && sub.sent[fd] < sub.limit[fd]) {
        if (sub.to.congested) {
          sub.to.pumpOnDrain(this);
          return;
        }
        const max = Math.min(sub.limit[fd] - sub.sent[fd], sub.to.maxChunkBytes);
        if (!partial && ring.end - sub.sent[fd] < max) break;
        const parts = ring.read(sub.sent[fd], max);
        let bytes = 0;
        for (const part of parts) bytes += part.length;
        sub.to.sendOutput(this.id, fd, sub.sent[fd], parts, pinBlocks(parts));
        sub.sent[fd] += bytes;
      }
      // Credit ahead of what was sent acknowledges bytes as they go out. (An honest peer's never
      // is: it credits what it consumed, so this is one comparison per pump.)
      if (sub.limit[fd] - sub.window > ring.acked) this.#ackCredited(sub, fd);
    }
    const result = this.#result;
    if (result && !sub.exitSent && sub.sent[1] === this.#rings[1].end && sub.sent[2] === this.#rings[2].end) {
      sub.exitSent = true;
      sub.to.send({
        type: 'CommandExited', command: this.id, exitCode: result.exitCode, signal: result.signal,
        timedOut: result.timedOut, truncated: result.truncated, durationMs: result.durationMs,
        stdoutBytes: result.stdoutBytes, stderrBytes: result.stderrBytes,
      });
      this.#rings[1].dropHistory();
      this.#rings[2].dropHistory();
    }
  }

  /** Writes stdin, returning credit to the subscriber as the child's pipe takes the bytes. */
  input(data: Uint8Array): void {
    const stdin = this.#execution?.process.stdin;
    if (!this.#stdinOpen || !stdin) throw new ConchError(ErrorCodes.STDIN_CLOSED, `stdin of ${this.id} is closed`);
    if (this.#stdinQueued + data.length > this.#maxQueuedStdin) {
      throw new ConchError(ErrorCodes.LIMIT_EXCEEDED, `stdin of ${this.id} has more than ${this.#maxQueuedStdin} bytes queued; wait for credit`, {
        limit: 'maxQueuedStdinBytes',
      });
    }
    this.#stdinQueued += data.length;
    this.#stdinReceived += data.length;
    stdin.write(data, () => {
      this.#stdinQueued -= data.length;
      if (data.length > 0) this.#subscription?.to.send({ type: 'Credit', command: this.id, fd: 0, bytes: data.length });
    });
  }

  endInput(): void {
    if (!this.#stdinOpen) return;
    this.#stdinOpen = false;
    this.#execution?.process.endInput();
  }

  /**
   * Stdin credit for a client that starts following the command now: what the queue has room
   * for (all of it when the command starts, since nothing can be queued before then).
   */
  get stdinWindow(): number {
    return this.#stdinOpen ? Math.max(0, this.#maxQueuedStdin - this.#stdinQueued) : 0;
  }

  get stdinReceived(): number {
    return this.#stdinReceived;
  }

  get stdinOpen(): boolean {
    return this.#stdinOpen;
  }

  // Through the tree, which outlives the Execution: processes the leader left behind may still
  // be there to signal after its exit, as they were before (the tree knows when they are gone).
  signal(signal: SignalName): void {
    this.#requirePid();
    this.#tree?.signal(signal);
  }

  // While it runs, through the Execution, for the grace the command was started with.
  kill(signal?: SignalName, graceMs?: number): void {
    this.#requirePid();
    if (this.#execution) this.#execution.kill(signal, graceMs);
    else this.#tree?.terminate(signal, graceMs);
  }

  resize(cols: number, rows: number): void {
    this.#requirePid();
    if (!this.#pty) throw new ConchError(ErrorCodes.INVALID_STATE, `${this.id} has no PTY to resize`);
    const execution = this.#execution;
    if (execution && !execution.exited) execution.process.resize(cols, rows);
  }

  info(): CommandInfo {
    const r = this.#result;
    return {
      command: this.id, pid: this.pid, argv: listedArgv(this.argv), pty: this.pty, state: r ? 'exited' : 'running',
      exitCode: r?.exitCode ?? null, signal: r?.signal ?? null,
      stdoutBytes: this.#rings[1].end, stderrBytes: this.#rings[2].end, attached: this.#subscription !== undefined,
    };
  }

  /** The process group to signal; never 0, which would signal the daemon's own group. */
  #requirePid(): number {
    if (this.#pid === 0) throw new ConchError(ErrorCodes.INVALID_STATE, `${this.id} has not started`);
    return this.#pid;
  }

  /** Stop reading a pipe while the peer holds a full ring of unacknowledged bytes. */
  #applyBackpressure(fd: OutputFd): void {
    const execution = this.#execution;
    if (!execution) return;
    const full = this.#rings[fd].unacked >= this.#rings[fd].capacity;
    if (full !== this.#readPaused[fd]) {
      this.#readPaused[fd] = full;
      if (full) execution.pause(fd);
      else execution.resume(fd);
    }
  }
}
