import { CommandSession, type Execution } from '@conch/process';
import { ConchError, ErrorCodes, normalizeSignal, type OutputFd, type SignalName } from '@conch/protocol';
import { CommandHandle } from './command-handle.js';
import type { CommandControl } from './command-control.js';
import { UnavailableError } from './errors.js';
import type { SessionOptions, SpawnOptions } from './options.js';
import { SessionBase } from './session-base.js';
import type { CommandLine } from './shell-session.js';
import type { SessionStatus } from './status.js';
import type { Terminal, TerminalOptions } from './terminal.js';
import { validateCommand, validateDuration, validateSignal, validateTerminal } from './validate-options.js';

/** Output a local command may have outstanding (unconsumed) per stream before its pipe is paused. */
const LOCAL_WINDOW_BYTES = 1 << 20;

let localIds = 0;

/**
 * Runs commands on this host, with no daemon, and the same semantics as a daemon session:
 * process groups, kill escalation, timeouts, output caps, `cd`/`export` persistence, flow
 * control. For tests and for hosts that are themselves the sandbox. It is chosen explicitly
 * (`local` endpoint); a VsockShellSession never turns into one.
 */
export class LocalProcessShellSession extends SessionBase {
  readonly endpoint = 'local';
  readonly #core: CommandSession;
  readonly #running = new Set<Execution>();
  readonly #log: SessionOptions['log'];
  #closed = false;

  constructor(options: SessionOptions = {}) {
    super();
    this.#core = new CommandSession({
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(options.env !== undefined ? { env: options.env } : {}),
      ...(options.clearEnv !== undefined ? { clearEnv: options.clearEnv } : {}),
      ...(options.shell !== undefined ? { shell: options.shell } : {}),
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      ...(options.gid !== undefined ? { gid: options.gid } : {}),
    });
    this.#log = options.log;
  }

  /**
   * A new session with its own program on a terminal (by default the session shell as a login
   * shell), as VsockShellSession.openTerminal gives one. Rejects with the spawn's error when the
   * program cannot start, and leaves nothing behind.
   */
  static async openTerminal(terminal: TerminalOptions, options: SessionOptions = {}): Promise<Terminal<LocalProcessShellSession>> {
    validateTerminal(terminal);
    const session = new LocalProcessShellSession(options);
    try {
      const handle = await session.spawn(terminal.argv ?? [session.#core.shell, '-l'], { pty: terminal.pty, stdin: true });
      return { session, handle };
    } catch (err) {
      await session.close();
      throw err;
    }
  }

  get status(): SessionStatus {
    return this.#closed
      ? { state: 'unavailable', endpoint: this.endpoint, reason: 'closed', message: 'the session was closed' }
      : { state: 'ready', endpoint: this.endpoint, daemon: undefined };
  }

  async connect(): Promise<SessionStatus> {
    return this.status;
  }

  async spawn(command: CommandLine, options: SpawnOptions = {}): Promise<CommandHandle> {
    validateCommand(command, options);
    if (this.#closed) throw new UnavailableError('closed', 'the session was closed');
    const id = `local-${++localIds}`;
    let handle: CommandHandle | undefined;
    // Output that arrives before the handle exists (a fast command) waits here, in order.
    const early: [OutputFd, Buffer][] = [];
    const outstanding = { 1: 0, 2: 0 };
    let execution: Execution | undefined;
    const sink = (fd: OutputFd, lent: Buffer) => {
      // The caller keeps what it is handed; the sink's bytes are reused by the next read.
      const data = Buffer.from(lent);
      outstanding[fd] += data.length;
      if (outstanding[fd] >= LOCAL_WINDOW_BYTES) execution?.pause(fd);
      if (handle) handle.push(fd, data);
      else early.push([fd, data]);
    };
    execution = await this.#core.start(
      {
        ...(typeof command === 'string' ? { command } : { argv: command }),
        ...pick(options, ['cwd', 'env', 'stdin', 'pty', 'timeoutMs', 'killGraceMs', 'maxOutputBytes', 'uid', 'gid']),
      },
      sink,
    );
    const started = execution;
    for (const fd of [1, 2] as const) if (outstanding[fd] >= LOCAL_WINDOW_BYTES) started.pause(fd);
    this.#running.add(started);
    this.#log?.({ event: 'command started', command: id, pid: started.pid });
    const control: CommandControl = {
      write: (data) => writeStdin(started, id, data),
      end: async () => started.process.endInput(),
      signal: async (signal) => {
        validateSignal(signal);
        if (!started.exited) started.signal(signal);
      },
      kill: async (signal, graceMs) => {
        validateSignal(signal);
        validateDuration('graceMs', graceMs);
        if (!started.exited) started.kill(signal, graceMs ?? options.killGraceMs);
      },
      resize: async (cols, rows) => {
        if (!started.exited) started.process.resize(cols, rows);
      },
      consumed: (fd, bytes) => {
        outstanding[fd] -= bytes;
        if (outstanding[fd] < LOCAL_WINDOW_BYTES) started.resume(fd);
      },
      detach: async () => {
        throw new ConchError(ErrorCodes.INVALID_STATE, 'a local session has no daemon to keep a detached command; kill it or wait for it');
      },
    };
    handle = new CommandHandle(id, started.pid, control, started.process.pty);
    for (const [fd, data] of early.splice(0)) handle.push(fd, data);
    const owner = handle;
    void started.done.then((result) => {
      this.#running.delete(started);
      this.#log?.({ event: 'command exited', command: id, exitCode: result.exitCode, signal: result.signal });
      owner.finish({ ...result, signal: result.signal === null ? null : (normalizeSignal(result.signal) ?? result.signal) });
    });
    owner.abortOn(options.signal, options.killGraceMs);
    return owner;
  }

  async killAll(signal: string = 'SIGTERM', graceMs?: number): Promise<void> {
    validateSignal(signal);
    validateDuration('graceMs', graceMs);
    for (const execution of this.#running) execution.kill(signal as SignalName, graceMs);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const running = [...this.#running];
    for (const execution of running) execution.kill('SIGTERM');
    await Promise.all(running.map((e) => e.done));
    this.#core.close();
  }
}

function writeStdin(execution: Execution, id: string, data: Uint8Array): Promise<void> {
  const stdin = execution.process.stdin;
  if (!stdin || stdin.writableEnded || stdin.destroyed) {
    return Promise.reject(new ConchError(ErrorCodes.STDIN_CLOSED, `stdin of ${id} is closed`));
  }
  return new Promise((resolve) => {
    // Resolving on 'drain' rather than on the write callback mirrors the daemon's stdin credit:
    // the caller may queue up to the pipe's buffer, no more.
    if (stdin.write(data)) resolve();
    else {
      const done = () => {
        stdin.off('drain', done);
        stdin.off('close', done);
        resolve();
      };
      stdin.once('drain', done);
      stdin.once('close', done);
    }
  });
}

function pick<T extends object, K extends keyof T>(obj: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (obj[key] !== undefined) out[key] = obj[key];
  return out;
}
