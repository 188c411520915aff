import type { OutputFd, SignalName } from '@conch/protocol';
import { DEFAULT_KILL_GRACE_MS, ProcessTree } from './process-tree.js';
import type { ProcessExit, SpawnedProcess } from './spawned-process.js';

export interface ExecutionOptions {
  /** Command lifetime; SIGTERM to the group when it passes, then SIGKILL after `killGraceMs`. */
  readonly timeoutMs?: number;
  /** @default 2000 */
  readonly killGraceMs?: number;
  /** Forward at most this many output bytes (both streams together); drop the rest but keep draining. */
  readonly maxOutputBytes?: number;
  /**
   * After the leader exits, how long to wait for the output pipes to close before giving up on
   * background processes that inherited them. @default 1000
   */
  readonly lingerMs?: number;
}

export interface ExecutionResult extends ProcessExit {
  readonly timedOut: boolean;
  readonly truncated: boolean;
  readonly durationMs: number;
  readonly stdoutBytes: number;
  readonly stderrBytes: number;
}

/**
 * Receives output in order, synchronously. The bytes are lent: valid only until the sink
 * returns (pipe output is read into memory the next read reuses), so a sink copies what it keeps.
 */
export type OutputSink = (fd: OutputFd, data: Buffer) => void;

export const DEFAULT_LINGER_MS = 1000;

/**
 * What a pipe can still hold once every writer in the group is gone: Linux's largest pipe
 * buffer (fs.pipe-max-size, 1 MiB by default). Reading past it means a writer that escaped the
 * group (setsid) still holds the pipe.
 */
const DRAIN_LIMIT_BYTES = 1 << 20;

/**
 * One command's lifecycle around a SpawnedProcess: timeout, kill escalation, output cap,
 * flow control (pause/resume per stream), and a result that resolves only after the leader has
 * exited and every output stream has ended.
 */
export class Execution {
  readonly process: SpawnedProcess;
  /** What signals and kills reach: the process's group, and its cgroup where it has one. */
  readonly tree: ProcessTree;
  readonly done: Promise<ExecutionResult>;
  readonly #options: ExecutionOptions;
  readonly #started = performance.now();
  readonly #bytes = { 1: 0, 2: 0 };
  readonly #paused = new Set<OutputFd>();
  #forwarded = 0;
  #truncated = false;
  #timedOut = false;
  #exit: ProcessExit | undefined;
  #timeout: NodeJS.Timeout | undefined;
  /** Bytes read past backpressure since the group died; undefined until then. */
  #drained: number | undefined;

  constructor(process: SpawnedProcess, sink: OutputSink, options: ExecutionOptions = {}, tree = new ProcessTree(process.pid)) {
    this.process = process;
    this.tree = tree;
    this.#options = options;
    const streams = [process.stdout, process.stderr].filter((s) => s !== null);
    const ended = streams.map(
      (stream, i) =>
        new Promise<void>((resolve) => {
          const fd = (i + 1) as OutputFd;
          stream.on('data', (chunk: Buffer) => this.#onData(fd, chunk, sink));
          stream.once('end', resolve);
          stream.once('close', resolve);
          stream.on('error', () => resolve());
        }),
    );
    // 0 is no timeout, as for child_process.spawn: a lifetime of nothing is never what was meant.
    if (options.timeoutMs) {
      this.#timeout = setTimeout(() => {
        this.#timedOut = true;
        this.kill('SIGTERM', options.killGraceMs);
      }, options.timeoutMs);
    }
    const exited = process.exited.then((exit) => {
      this.#exit = exit;
      clearTimeout(this.#timeout);
      tree.leaderExited(exit);
      // Node's ChildProcess resumes its stdio streams on the tick after 'exit' (flushStdio, so
      // that unread output cannot keep the process object alive), which would bypass our
      // backpressure: a paused stream would then read whatever a background writer produces,
      // without bound. This runs after that tick and before any further read.
      for (const fd of this.#paused) this.#stream(fd)?.pause();
      this.#lingerUntilClosed(Promise.all(ended));
      return exit;
    });
    this.done = Promise.all([exited, ...ended]).then(([exit]) => ({
      ...exit,
      timedOut: this.#timedOut,
      truncated: this.#truncated,
      durationMs: Math.round(performance.now() - this.#started),
      stdoutBytes: this.#bytes[1],
      stderrBytes: this.#bytes[2],
    }));
  }

  get pid(): number {
    return this.process.pid;
  }

  get exited(): boolean {
    return this.#exit !== undefined;
  }

  /** Stops reading a stream: the pipe fills and the producer blocks in the kernel. */
  pause(fd: OutputFd): void {
    this.#paused.add(fd);
    this.#stream(fd)?.pause();
  }

  resume(fd: OutputFd): void {
    this.#paused.delete(fd);
    this.#stream(fd)?.resume();
  }

  /** One signal to every process of the command, no escalation. */
  signal(signal: SignalName): void {
    this.tree.signal(signal);
  }

  /** `signal` to every process of the command, then SIGKILL after the grace period. */
  kill(signal: SignalName = 'SIGTERM', graceMs = this.#options.killGraceMs ?? DEFAULT_KILL_GRACE_MS): void {
    this.tree.terminate(signal, graceMs);
  }

  #stream(fd: OutputFd) {
    return fd === 1 ? this.process.stdout : this.process.stderr;
  }

  #onData(fd: OutputFd, chunk: Buffer, sink: OutputSink): void {
    this.#bytes[fd] += chunk.length;
    if (this.#drained !== undefined && (this.#drained += chunk.length) > DRAIN_LIMIT_BYTES) {
      this.process.abandonOutput();
      return;
    }
    const cap = this.#options.maxOutputBytes;
    if (cap === undefined) {
      sink(fd, chunk);
      return;
    }
    const room = cap - this.#forwarded;
    if (room <= 0) {
      this.#truncated = true;
      return;
    }
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    if (part.length < chunk.length) this.#truncated = true;
    this.#forwarded += part.length;
    sink(fd, part);
  }

  /**
   * A background process that inherited our pipes can hold them open long after the leader
   * exited. Wait `lingerMs` for them to close; then stop waiting, but only while nothing is
   * paused, because a paused stream still holds output the consumer has not taken yet.
   * A stream paused for a consumer that may never come back (a killed session, a client gone
   * for good) would hold its command forever, though. Once no process of the command is left
   * (its cgroup is empty, where it has one: a process that left the group may hold the pipe
   * too), nothing can add to the pipe: read what it holds to its end, whatever the backpressure
   * (at most DRAIN_LIMIT_BYTES, so memory stays bounded), and the command can finish.
   */
  #lingerUntilClosed(allEnded: Promise<unknown>): void {
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    // The usual case: the output ends at once. A pending timer would hold this Execution, with
    // its process and streams, for lingerMs after it finished: at hundreds of execs a second,
    // megabytes that then outlive the young generation.
    void allEnded.then(() => {
      finished = true;
      clearTimeout(timer);
    });
    const lingerMs = this.#options.lingerMs ?? DEFAULT_LINGER_MS;
    const check = () => {
      if (finished) return;
      if (this.#paused.size === 0) {
        this.process.abandonOutput();
        return;
      }
      if (!this.tree.alive()) {
        this.#drained ??= 0;
        for (const fd of [...this.#paused]) this.resume(fd);
      }
      timer = setTimeout(check, lingerMs).unref();
    };
    timer = setTimeout(check, lingerMs).unref();
  }
}
