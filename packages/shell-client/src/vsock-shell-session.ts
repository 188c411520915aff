import {
  ConchError, ErrorCodes, formatEndpoint, normalizeSignal, parseEndpoint, type CommandExited, type Endpoint, type OutputFd,
} from '@conch/protocol';
import { ClientConnection } from './client-connection.js';
import { CommandHandle } from './command-handle.js';
import type { CommandControl } from './command-control.js';
import { CommandLostError, UnavailableError } from './errors.js';
import { execVia } from './exec.js';
import type { ExecResult } from './exec-result.js';
import type { ExecOptions, SessionOptions, SpawnOptions } from './options.js';
import type { CommandLine, ShellSession } from './shell-session.js';
import type { SessionStatus } from './status.js';
import { openTransport } from './transports/open-transport.js';
import { validateCommand, validateSignal } from './validate-options.js';
import { CLIENT_VERSION } from './version.js';

export interface VsockSessionOptions extends SessionOptions {
  /** Bound on connect plus handshake. @default 10000 */
  readonly connectTimeoutMs?: number;
  /** Ping interval; a daemon silent for three intervals is declared gone. 0 disables. @default 5000 */
  readonly keepaliveMs?: number;
  /** Sent in Hello when the daemon runs with --token-file. */
  readonly token?: string;
  /** What the daemon does with this session's commands if the connection drops. @default kill */
  readonly onDisconnect?: { readonly policy: 'kill' | 'keep'; readonly keepMs?: number };
  /** Output credit per stream, in bytes. @default the daemon's default window */
  readonly windowBytes?: number;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_KEEPALIVE_MS = 5_000;
/** Send Credit once this much output was consumed, rather than per chunk (never more than a quarter window). */
const CREDIT_BATCH_BYTES = 64 * 1024;

/**
 * A session on conchd, reached over `unix:` (a local daemon, or a QEMU virtio-serial chardev)
 * or `hybrid-vsock:` (Firecracker / Cloud Hypervisor). When the daemon cannot be reached the
 * status says why and every operation rejects with UnavailableError; nothing runs on the host.
 */
export class VsockShellSession implements ShellSession {
  readonly endpoint: string;
  readonly #target: Endpoint | undefined;
  readonly #options: VsockSessionOptions;
  #status: SessionStatus;
  #connecting: Promise<SessionStatus> | undefined;
  #connection: ClientConnection | undefined;
  #session: string | undefined;

  /** @param endpoint `unix:PATH` or `hybrid-vsock:PATH:PORT`; undefined or '' means not configured. */
  constructor(endpoint: string | undefined, options: VsockSessionOptions = {}) {
    this.#options = options;
    this.endpoint = endpoint ?? '';
    let target: Endpoint | undefined;
    let problem: string | undefined;
    if (endpoint === undefined || endpoint === '') problem = 'no endpoint configured (pass one, or set CONCH_ENDPOINT)';
    else {
      try {
        target = parseEndpoint(endpoint);
        if (target.kind === 'local') problem = 'the local endpoint is LocalProcessShellSession; a VsockShellSession never runs commands on the host';
      } catch (err) {
        problem = (err as Error).message;
      }
    }
    this.#target = problem === undefined ? target : undefined;
    this.#status = problem === undefined
      ? { state: 'connecting', endpoint: this.endpoint }
      : { state: 'unavailable', endpoint: this.endpoint, reason: 'not-configured', message: problem };
  }

  get status(): SessionStatus {
    return this.#status;
  }

  /** The daemon's identity from the handshake, once connected. */
  get daemon() {
    return this.#status.state === 'ready' ? this.#status.daemon : undefined;
  }

  connect(): Promise<SessionStatus> {
    if (this.#status.state !== 'connecting') return Promise.resolve(this.#status);
    this.#connecting ??= this.#connect();
    return this.#connecting;
  }

  exec(command: CommandLine, options?: ExecOptions & { encoding?: 'utf8' }): Promise<ExecResult<string>>;
  exec(command: CommandLine, options: ExecOptions & { encoding: 'buffer' }): Promise<ExecResult<Uint8Array>>;
  exec(command: CommandLine, options?: ExecOptions): Promise<ExecResult<string | Uint8Array>>;
  async exec(command: CommandLine, options: ExecOptions = {}): Promise<ExecResult<string | Uint8Array>> {
    validateCommand(command, options);
    return execVia((c, o) => this.spawn(c, o), command, options);
  }

  async spawn(command: CommandLine, options: SpawnOptions = {}): Promise<CommandHandle> {
    validateCommand(command, options);
    const connection = await this.#ready();
    let handle: CommandHandle | undefined;
    await connection.request(
      {
        type: 'ExecCommand', session: this.#session!,
        ...(typeof command === 'string' ? { command } : { argv: command }),
        ...definedOnly({
          cwd: options.cwd, env: options.env, stdin: options.stdin, pty: options.pty, timeoutMs: options.timeoutMs,
          killGraceMs: options.killGraceMs, maxOutputBytes: options.maxOutputBytes, uid: options.uid, gid: options.gid,
          window: this.#options.windowBytes,
        }),
      },
      'CommandStarted',
      (started) => {
        handle = this.#follow(connection, started.command, started.pid, started.stdinWindow, Boolean(options.pty), options.killGraceMs);
      },
    );
    if (!handle) throw new ConchError(ErrorCodes.INTERNAL, 'CommandStarted arrived without a handle');
    handle.abortOn(options.signal, options.killGraceMs);
    return handle;
  }

  async killAll(signal = 'SIGTERM', graceMs?: number): Promise<void> {
    validateSignal(signal);
    const connection = await this.#ready();
    await connection.request({ type: 'KillSession', session: this.#session!, signal, ...definedOnly({ graceMs }) }, 'Ok');
    // KillSession ends the daemon session; the next command gets a fresh one.
    this.#session = await this.#spawnSession(connection);
  }

  async close(): Promise<void> {
    const connection = this.#connection;
    if (connection && !connection.closed && this.#session !== undefined) {
      await connection.request({ type: 'KillSession', session: this.#session }, 'Ok').catch(() => {});
    }
    connection?.close();
    this.#status = { state: 'unavailable', endpoint: this.endpoint, reason: 'closed', message: 'the session was closed' };
  }

  async #ready(): Promise<ClientConnection> {
    const status = await this.connect();
    if (status.state !== 'ready' || !this.#connection) {
      const s = status as Extract<SessionStatus, { state: 'unavailable' }>;
      throw new UnavailableError(s.reason, s.message);
    }
    return this.#connection;
  }

  async #connect(): Promise<SessionStatus> {
    const target = this.#target!;
    const timeoutMs = this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const log = this.#options.log;
    const started = Date.now();
    try {
      const stream = await openTransport(target, { timeoutMs });
      const connection = await ClientConnection.handshake(
        stream,
        {
          clientName: `conch-client/${CLIENT_VERSION}`,
          connectTimeoutMs: Math.max(1, timeoutMs - (Date.now() - started)),
          keepaliveMs: this.#options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS,
          ...definedOnly({ token: this.#options.token, log }),
        },
        formatEndpoint(target),
      );
      this.#connection = connection;
      this.#session = await this.#spawnSession(connection);
      connection.on('close', (why) => {
        this.#status = { state: 'unavailable', endpoint: this.endpoint, reason: 'closed', message: why };
        log?.({ event: 'disconnected', why });
      });
      const w = connection.welcome;
      this.#status = {
        state: 'ready', endpoint: this.endpoint,
        daemon: { protocolVersion: w.version, daemonVersion: w.daemonVersion, bootId: w.bootId, instanceId: w.instanceId, capabilities: w.capabilities },
      };
      log?.({ event: 'connected', endpoint: this.endpoint, ms: Date.now() - started, instanceId: w.instanceId });
    } catch (err) {
      const unavailable = err instanceof UnavailableError ? err : new UnavailableError('handshake-failed', (err as Error).message, { cause: err });
      this.#connection?.close();
      this.#status = { state: 'unavailable', endpoint: this.endpoint, reason: unavailable.reason, message: unavailable.detail };
      log?.({ event: 'unavailable', reason: unavailable.reason, message: unavailable.detail });
    }
    return this.#status;
  }

  async #spawnSession(connection: ClientConnection): Promise<string> {
    const o = this.#options;
    const reply = await connection.request(
      {
        type: 'SpawnSession',
        onDisconnect: o.onDisconnect ?? { policy: 'kill' },
        ...definedOnly({ cwd: o.cwd, env: o.env, clearEnv: o.clearEnv, shell: o.shell, uid: o.uid, gid: o.gid }),
      },
      'SessionSpawned',
    );
    return reply.session;
  }

  /** Wires a daemon command to a handle: output with credit, stdin with credit, exit, loss. */
  #follow(connection: ClientConnection, id: string, pid: number, stdinWindow: number, pty: boolean, killGraceMs?: number): CommandHandle {
    const window = this.#options.windowBytes ?? connection.welcome.limits.defaultWindowBytes;
    const batch = Math.min(CREDIT_BATCH_BYTES, Math.max(1, window >> 2));
    const unsent = { 1: 0, 2: 0 };
    const expected = { 1: 0, 2: 0 };
    let stdinCredit = stdinWindow;
    let stdinWaiter: (() => void) | undefined;
    const control: CommandControl = {
      write: async (data) => {
        for (let at = 0; at < data.length; ) {
          while (stdinCredit <= 0) {
            if (connection.closed) throw new CommandLostError(id, 'the connection closed while writing stdin');
            await new Promise<void>((resolve) => (stdinWaiter = resolve));
          }
          const n = Math.min(stdinCredit, connection.maxInputChunk, data.length - at);
          connection.post({ type: 'Input', command: id, data: data.subarray(at, at + n) });
          stdinCredit -= n;
          at += n;
        }
      },
      end: async () => connection.post({ type: 'EndInput', command: id }),
      signal: async (signal) => {
        validateSignal(signal);
        await connection.request({ type: 'Signal', command: id, signal }, 'Ok');
      },
      kill: async (signal, graceMs) => {
        validateSignal(signal);
        await connection.request({ type: 'KillCommand', command: id, signal, ...definedOnly({ graceMs: graceMs ?? killGraceMs }) }, 'Ok');
      },
      resize: async (cols, rows) => {
        await connection.request({ type: 'Resize', command: id, cols, rows }, 'Ok');
      },
      consumed: (fd, bytes) => {
        unsent[fd] += bytes;
        if (unsent[fd] >= batch) {
          connection.post({ type: 'Credit', command: id, fd, bytes: unsent[fd] });
          unsent[fd] = 0;
        }
      },
      detach: async () => {
        await connection.request({ type: 'Detach', command: id }, 'Ok');
        connection.unroute(id);
        handle.fail(new ConchError(ErrorCodes.INVALID_STATE, `detached from ${id}; attach again to follow it`));
      },
    };
    const handle = new CommandHandle(id, pid, control, pty);
    connection.route(id, {
      output: (fd: OutputFd, offset, data) => {
        if (offset !== expected[fd]) {
          handle.fail(new ConchError(ErrorCodes.INVALID_MESSAGE, `stream ${fd} of ${id} jumped from offset ${expected[fd]} to ${offset}`));
          return;
        }
        expected[fd] += data.length;
        handle.push(fd, data);
      },
      exited: (m: CommandExited) =>
        handle.finish({
          exitCode: m.exitCode, signal: m.signal === null ? null : (normalizeSignal(m.signal) ?? null), timedOut: m.timedOut,
          truncated: m.truncated, durationMs: m.durationMs, stdoutBytes: m.stdoutBytes, stderrBytes: m.stderrBytes,
        }),
      stdinCredit: (bytes) => {
        stdinCredit += bytes;
        stdinWaiter?.();
        stdinWaiter = undefined;
      },
      error: (err) => this.#options.log?.({ event: 'command error', command: id, code: err.code, message: err.message }),
      lost: (why) => {
        stdinWaiter?.();
        handle.fail(new CommandLostError(id, why));
      },
    });
    return handle;
  }
}

/** Drops undefined fields: the wire validators reject explicit undefined/nil for optional fields. */
function definedOnly<T extends Record<string, unknown>>(fields: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
