import { Capabilities, ConchError, ErrorCodes, formatEndpoint, parseEndpoint, type Endpoint, type SessionInfo } from '@conch/protocol';
import { cancellable } from './cancellable.js';
import { ClientConnection, HELLO_RETRY_MS } from './client-connection.js';
import type { CommandHandle } from './command-handle.js';
import { UnavailableError } from './errors.js';
import type { SessionOptions, SpawnOptions } from './options.js';
import { SessionBase } from './session-base.js';
import { RemoteCommand } from './remote-command.js';
import type { CommandLine } from './shell-session.js';
import type { SessionStatus } from './status.js';
import type { Terminal, TerminalOptions } from './terminal.js';
import { openTransport } from './transports/open-transport.js';
import { validateCommand, validateDuration, validateSignal, validateTerminal } from './validate-options.js';
import { CLIENT_VERSION } from './version.js';

export interface VsockSessionOptions extends SessionOptions {
  /** Bound on connect plus handshake. @default 10000 */
  readonly connectTimeoutMs?: number;
  /** Ping interval; a daemon silent for three intervals is declared gone. 0 disables. @default 5000 */
  readonly keepaliveMs?: number;
  /** Sent in Hello when the daemon runs with --token-file. */
  readonly token?: string;
  /**
   * What the daemon does with this session's commands when the connection drops: kill them, or
   * keep them for `keepMs` so that a client can attach again. @default { policy: 'kill' }
   */
  readonly onDisconnect?: { readonly policy: 'kill' | 'keep'; readonly keepMs?: number };
  /**
   * After an unexpected disconnect, reconnect with backoff and resume every followed command
   * from its last offset. @default true when onDisconnect.policy is 'keep'
   */
  readonly reconnect?: boolean;
  /** How long to keep trying to reconnect. @default onDisconnect.keepMs, else 30000 */
  readonly reconnectTimeoutMs?: number;
  /** Output credit per stream, in bytes. @default the daemon's default window */
  readonly windowBytes?: number;
}

export interface AttachOptions {
  /** Resume stdout from this byte offset. @default 0 */
  readonly stdoutOffset?: number;
  /** Resume stderr from this byte offset. @default 0 */
  readonly stderrOffset?: number;
}

export interface AttachResult {
  readonly handle: CommandHandle;
  /** Bytes asked for that had already fallen out of the daemon's ring: exactly how many are gone. */
  readonly dropped: { readonly stdout: number; readonly stderr: number };
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_KEEPALIVE_MS = 5_000;
export const DEFAULT_RECONNECT_TIMEOUT_MS = 30_000;
/** First reconnect delay, doubled per attempt up to RECONNECT_MAX_DELAY_MS. */
const RECONNECT_FIRST_DELAY_MS = 50;
const RECONNECT_MAX_DELAY_MS = 2_000;
/** The least an attempt gets, even the last one at the bound: enough for a connect and a handshake. */
const MIN_RECONNECT_ATTEMPT_MS = 250;
/** Pause before connect() tries again after losing a connection right after its handshake. */
const CONNECT_RETRY_DELAY_MS = 50;
/** How long close() waits for the daemon to confirm KillSession before it lets go of the connection anyway. */
const CLOSE_KILL_SESSION_TIMEOUT_MS = 2_000;

const CLOSED_BY_USER = (endpoint: string): SessionStatus => ({ state: 'unavailable', endpoint, reason: 'closed', message: 'the session was closed' });

/**
 * A session on conchd, reached over `unix:` (a local daemon, or a QEMU virtio-serial chardev)
 * or `hybrid-vsock:` (Firecracker / Cloud Hypervisor). When the daemon cannot be reached the
 * status says why and every operation rejects with UnavailableError; nothing runs on the host.
 */
export class VsockShellSession extends SessionBase {
  readonly endpoint: string;
  readonly #target: Endpoint | undefined;
  readonly #options: VsockSessionOptions;
  readonly #commands = new Map<string, RemoteCommand>();
  #status: SessionStatus;
  #connecting: Promise<SessionStatus> | undefined;
  /** Aborted by close(): the connect or reconnect in flight gives up at once, transport and all. */
  #attempt = new AbortController();
  #connection: ClientConnection | undefined;
  #session: string | undefined;
  #instanceId: string | undefined;
  #closedByUser = false;
  /** Set on sessions made by fork(): they ride on the parent's connection. */
  #parent: VsockShellSession | undefined;
  /** This session's listener on its connection's 'close'. */
  #onClose: ((why: string) => void) | undefined;
  /** Set by openTerminal(): the program the daemon session is created with. */
  #interactive: TerminalOptions | undefined;
  /** That program, once the daemon started it. */
  #terminal: RemoteCommand | undefined;
  /** Why the last connect failed, as it was raised: openTerminal() rejects with it. */
  #failure: unknown;

  /** @param endpoint `unix:PATH` or `hybrid-vsock:PATH:PORT`; undefined or '' means not configured. */
  constructor(endpoint: string | undefined, options: VsockSessionOptions = {}) {
    super();
    for (const [name, value] of [
      ['connectTimeoutMs', options.connectTimeoutMs], ['keepaliveMs', options.keepaliveMs],
      ['reconnectTimeoutMs', options.reconnectTimeoutMs], ['onDisconnect.keepMs', options.onDisconnect?.keepMs],
    ] as const) validateDuration(name, value);
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

  /**
   * A new session created with its own program on a terminal (by default the session shell as a
   * login shell): one round trip for both, where connect() then spawn() takes two. Rejects with
   * UnavailableError when the daemon cannot be reached, and with the daemon's own error
   * (SPAWN_FAILED, LIMIT_EXCEEDED, …) when it cannot start the program; nothing is left open then.
   * After a reconnect to the same daemon the program is followed on; after a daemon restart its
   * handle fails with COMMAND_LOST, and the session goes on without it.
   */
  static async openTerminal(endpoint: string | undefined, terminal: TerminalOptions, options: VsockSessionOptions = {}): Promise<Terminal<VsockShellSession>> {
    validateTerminal(terminal);
    return VsockShellSession.#startTerminal(new VsockShellSession(endpoint, options), terminal);
  }

  /**
   * openTerminal() on this session's connection, as fork() is to a new VsockShellSession: the
   * way to a terminal where one connection carries every session (a virtio-serial port).
   */
  async forkTerminal(terminal: TerminalOptions, options: SessionOptions & Pick<VsockSessionOptions, 'connectTimeoutMs'> = {}): Promise<Terminal<VsockShellSession>> {
    validateTerminal(terminal);
    return VsockShellSession.#startTerminal(this.fork(options), terminal);
  }

  static async #startTerminal(session: VsockShellSession, terminal: TerminalOptions): Promise<Terminal<VsockShellSession>> {
    session.#interactive = { pty: terminal.pty, ...(terminal.argv !== undefined ? { argv: [...terminal.argv] } : {}) };
    const status = await session.connect();
    const started = session.#terminal;
    if (status.state === 'ready' && started) return { session, handle: started.handle };
    const failure = session.#failure;
    await session.close();
    if (failure instanceof ConchError) throw failure;
    const s = status as Extract<SessionStatus, { state: 'unavailable' }>;
    throw new UnavailableError(s.reason, s.message);
  }

  get status(): SessionStatus {
    return this.#status;
  }

  /** The daemon's identity from the handshake, once connected. */
  get daemon() {
    return this.#status.state === 'ready' ? this.#status.daemon : undefined;
  }

  /** The daemon-side session id, once connected. */
  get sessionId(): string | undefined {
    return this.#session;
  }

  connect(): Promise<SessionStatus> {
    if (this.#status.state !== 'connecting') return Promise.resolve(this.#status);
    this.#connecting ??= this.#connect().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async spawn(command: CommandLine, options: SpawnOptions = {}): Promise<CommandHandle> {
    validateCommand(command, options);
    const connection = await this.#ready();
    const uid = options.uid ?? this.#options.uid;
    if (uid !== undefined && (options.gid ?? this.#options.gid) === undefined && !connection.welcome.capabilities.includes(Capabilities.USER_GROUPS)) {
      // Such a daemon would keep its own gid for the command: root's group, not the user's.
      throw new ConchError(ErrorCodes.INVALID_ARGUMENT, `the daemon at ${this.endpoint} does not announce ${Capabilities.USER_GROUPS}: a uid without a gid would run in its own group (root's); give a gid too`);
    }
    let remote: RemoteCommand | undefined;
    await connection.request(
      {
        type: 'ExecCommand', session: this.#session!,
        ...(typeof command === 'string' ? { command } : { argv: command }),
        ...definedOnly({
          // 0 is no timeout: sent as none, which a daemon from before that rule reads the same way.
          cwd: options.cwd, env: options.env, stdin: options.stdin, pty: options.pty, timeoutMs: options.timeoutMs || undefined,
          killGraceMs: options.killGraceMs, maxOutputBytes: options.maxOutputBytes, uid: options.uid, gid: options.gid,
          window: this.#options.windowBytes,
        }),
      },
      'CommandStarted',
      (started) => {
        remote = this.#track(
          new RemoteCommand(connection, {
            id: started.command, pid: started.pid, pty: Boolean(options.pty), stdinWindow: started.stdinWindow,
            window: this.#window(connection), ...definedOnly({ killGraceMs: options.killGraceMs }),
          }),
        );
      },
    );
    remote!.handle.abortOn(options.signal, options.killGraceMs);
    this.#logCommand(remote!.handle);
    return remote!.handle;
  }

  /** The same events as the local backend's, so that one hook reads both. */
  #logCommand(handle: CommandHandle): void {
    const log = this.#options.log;
    if (!log) return;
    const { id, pid } = handle;
    log({ event: 'command started', command: id, pid });
    // whenSettled, not wait(): a wait would change how unread output is kept.
    void handle.whenSettled().then(() => {
      const exit = handle.exit;
      if (exit) log({ event: 'command exited', command: id, exitCode: exit.exitCode, signal: exit.signal });
      else log({ event: 'command not followed to its exit', command: id, error: handle.failure?.message });
    });
  }

  /**
   * Follows a command started earlier (by this client before a crash, or by another one) from
   * the given offsets, out of the daemon's ring. `dropped` says how many requested bytes are gone.
   */
  async attach(commandId: string, options: AttachOptions = {}): Promise<AttachResult> {
    const connection = await this.#ready();
    const offsets = { 1: options.stdoutOffset ?? 0, 2: options.stderrOffset ?? 0 };
    let remote: RemoteCommand | undefined;
    const attached = await connection.request(
      {
        type: 'Attach', command: commandId, stdoutOffset: offsets[1], stderrOffset: offsets[2],
        ...definedOnly({ window: this.#options.windowBytes }),
      },
      'Attached',
      (reply) => {
        // Only now: an attach that fails (a bad offset) leaves a handle already following it be.
        this.#commands.get(commandId)?.lose('superseded by a new attach');
        const start = { 1: offsets[1] + reply.stdoutDropped, 2: offsets[2] + reply.stderrDropped };
        remote = this.#track(
          new RemoteCommand(connection, {
            id: commandId, pid: reply.pid ?? 0, pty: reply.pty ?? false, stdinWindow: reply.stdinWindow ?? 0,
            ...definedOnly({ stdinOpen: reply.stdin, stdinReceived: reply.stdinReceived }),
            window: this.#window(connection), offsets: start,
          }),
        );
      },
    );
    return { handle: remote!.handle, dropped: { stdout: attached.stdoutDropped, stderr: attached.stderrDropped } };
  }

  /**
   * Another session (its own cwd and environment) on this session's connection. Transports that
   * carry a single stream (a virtio-serial port) need this; on the others it saves a connection
   * and a handshake per session. A forked session closes with its parent's connection and does
   * not reconnect on its own.
   */
  fork(options: SessionOptions & Pick<VsockSessionOptions, 'connectTimeoutMs'> = {}): VsockShellSession {
    const child = new VsockShellSession(this.endpoint, { ...this.#options, ...options, reconnect: false });
    child.#parent = this;
    return child;
  }

  /** Sessions and commands the daemon holds, with their state and byte counts. */
  async list(): Promise<readonly SessionInfo[]> {
    const connection = await this.#ready();
    return (await connection.request({ type: 'ListSessions' }, 'SessionList')).sessions;
  }

  async killAll(signal = 'SIGTERM', graceMs?: number): Promise<void> {
    validateSignal(signal);
    validateDuration('graceMs', graceMs);
    const connection = await this.#ready();
    // The session, with its cd and export, outlives its commands, as the local backend's does.
    const keep = connection.welcome.capabilities.includes(Capabilities.KILL_KEEPS_SESSION);
    await connection.request({ type: 'KillSession', session: this.#session!, signal, ...definedOnly({ graceMs }), ...(keep ? { keepSession: true } : {}) }, 'Ok');
    // A daemon from before keepSession ends the session: the next command gets a fresh one.
    if (!keep) this.#session = await this.#spawnSession(connection);
  }

  /**
   * Ends the daemon session and lets go of the connection. When it resolves, this session holds
   * no transport, even if a connect or reconnect was in flight or the daemon does not answer.
   */
  async close(): Promise<void> {
    this.#closedByUser = true;
    this.#status = CLOSED_BY_USER(this.endpoint);
    // An attempt in flight stops where it is (a daemon that went silent would otherwise hold
    // close() for the whole connect timeout) and closes what it opened.
    this.#attempt.abort();
    await this.#connecting?.catch(() => {});
    const connection = this.#connection;
    if (connection && !connection.closed && this.#session !== undefined) {
      await withDeadline(connection.request({ type: 'KillSession', session: this.#session }, 'Ok'), CLOSE_KILL_SESSION_TIMEOUT_MS).catch(() => {});
    }
    if (!this.#parent) connection?.close();
    // A fork shares the connection and lives on in its 'close' listeners until they go.
    if (connection && this.#onClose) connection.off('close', this.#onClose);
    // Commands still unsettled (a reconnect in flight had not resumed them) are not followed any more.
    for (const remote of this.#commands.values()) remote.lose('the session was closed');
    this.#status = CLOSED_BY_USER(this.endpoint);
  }

  #track(remote: RemoteCommand): RemoteCommand {
    this.#commands.set(remote.id, remote);
    // Its own entry only: a re-attach puts a new RemoteCommand under the same id while the
    // one it supersedes is still settling.
    const forget = () => {
      if (this.#commands.get(remote.id) === remote) this.#commands.delete(remote.id);
    };
    void remote.handle.wait().then(forget, forget);
    return remote;
  }

  #window(connection: ClientConnection): number {
    return this.#options.windowBytes ?? connection.welcome.limits.defaultWindowBytes;
  }

  async #ready(): Promise<ClientConnection> {
    const status = await this.connect();
    if (status.state !== 'ready' || !this.#connection) {
      const s = status as Extract<SessionStatus, { state: 'unavailable' }>;
      throw new UnavailableError(s.reason, s.message);
    }
    return this.#connection;
  }

  /** One connect attempt: transport, handshake. Throws UnavailableError. */
  async #open(timeoutMs = this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS): Promise<ClientConnection> {
    const target = this.#target!;
    const started = Date.now();
    const signal = this.#attempt.signal;
    // Every transport tears its connect down on abort, and rejects with UnavailableError('closed').
    const stream = await openTransport(target, { timeoutMs, signal });
    // Ours from here: close() destroys it, which ends the handshake's wait at once (also when
    // close() came between the connect and this line).
    const onAbort = () => stream.destroy();
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await ClientConnection.handshake(
        stream,
        {
          clientName: `conch-client/${CLIENT_VERSION}`,
          connectTimeoutMs: Math.max(1, timeoutMs - (Date.now() - started)),
          keepaliveMs: this.#options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS,
          ...definedOnly({ token: this.#options.token, log: this.#options.log }),
        },
        formatEndpoint(target),
      );
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async #connect(): Promise<SessionStatus> {
    const log = this.#options.log;
    const started = Date.now();
    const timeoutMs = this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const remaining = () => timeoutMs - (Date.now() - started);
    for (let attempt = 1; ; attempt++) {
      let opened: ClientConnection | undefined;
      /** A fork's parent's connection, which outlives this attempt. */
      let shared: ClientConnection | undefined;
      let spawning: Promise<string> | undefined;
      const given = { up: false };
      let adopted = false;
      try {
        const signal = this.#attempt.signal;
        const connection = this.#parent ? (shared = await cancellable(this.#parent.#ready(), signal)) : (opened = await this.#open(Math.max(1, remaining())));
        if (this.#abandon(connection)) return this.#status;
        // Connecting ends with the daemon-side session: a daemon that handshakes but never answers
        // SpawnSession (or whose errors keep the keepalive content) must not hold connect() open.
        // Pings meanwhile, as often as Hellos: if the daemon's end was replaced after the Welcome
        // (virtio-serial), SpawnSession was dropped with the old one, and only a later frame can
        // reach the new one and draw the HANDSHAKE_REQUIRED that tells us to start over.
        const probe = connection === opened ? setInterval(() => connection.request({ type: 'Ping' }).catch(() => {}), HELLO_RETRY_MS) : undefined;
        try {
          spawning = this.#spawnSession(connection, this.#interactive, given);
          this.#session = await cancellable(
            withDeadline(
              spawning,
              Math.max(1, remaining()),
              () => new UnavailableError('connect-timeout', `the daemon at ${this.endpoint} did not create a session within ${timeoutMs} ms of connecting`),
            ),
            signal,
          );
        } finally {
          clearInterval(probe);
        }
        if (this.#abandon(connection)) {
          // close() came while it was created: on a connection that lives on, not to be left there.
          if (shared) killLateSession(shared, this.#session);
          return this.#status;
        }
        this.#adopt(connection);
        adopted = true;
        log?.({ event: 'connected', endpoint: this.endpoint, ms: Date.now() - started, attempt, instanceId: connection.welcome.instanceId });
        return this.#status;
      } catch (err) {
        // Connected: only the log hook can have thrown, and the session is ready all the same.
        if (adopted) return this.#status;
        given.up = true;
        // A connection opened for this attempt is not adopted: close it, or it holds the transport.
        if (opened) await this.#closeUnadopted(opened, spawning);
        // On a fork's parent's connection, which lives on, a session created for this attempt (now
        // or late, after a timeout or close()) is killed, its program with it.
        else if (shared && spawning) {
          const parent = shared;
          spawning.then((late) => killLateSession(parent, late), () => {});
        }
        // Its program went with its session; no one holds the handle yet, and a retry starts a new one.
        this.#terminal?.lose('the connection closed before the session was ready');
        this.#terminal = undefined;
        if (this.#closedByUser) {
          this.#status = CLOSED_BY_USER(this.endpoint);
          return this.#status;
        }
        // Lost right after the handshake, before any state of ours exists on it: on virtio-serial
        // the daemon's end can close and reopen just then (the host cannot see it), so a fresh
        // handshake is the whole remedy. Only within the connect bound, and never after close().
        const lostEarly = err instanceof UnavailableError && err.reason === 'closed' && opened !== undefined;
        if (lostEarly && !this.#closedByUser && remaining() > CONNECT_RETRY_DELAY_MS) {
          log?.({ event: 'connect retry', attempt, error: (err as Error).message });
          await pause(CONNECT_RETRY_DELAY_MS, this.#attempt.signal);
          continue;
        }
        this.#fail(err);
        return this.#status;
      }
    }
  }

  #adopt(connection: ClientConnection): void {
    // The connection before a reconnect keeps no listener of ours.
    if (this.#connection && this.#onClose) this.#connection.off('close', this.#onClose);
    this.#connection = connection;
    this.#instanceId = connection.welcome.instanceId;
    const w = connection.welcome;
    this.#status = {
      state: 'ready', endpoint: this.endpoint,
      daemon: { protocolVersion: w.version, daemonVersion: w.daemonVersion, bootId: w.bootId, instanceId: w.instanceId, capabilities: w.capabilities },
    };
    this.#onClose = (why: string) => this.#onDisconnect(connection, why);
    connection.on('close', this.#onClose);
  }

  /**
   * Closes a connection of our own that an attempt opened and did not adopt. When the attempt was
   * given up (close(), the connect timeout) while its SpawnSession was in flight, and the session
   * is one the daemon keeps after a disconnect, the daemon would keep it for keepMs, known to no
   * one: wait a little for the reply, and kill the session before the connection goes. (A session
   * killed on disconnect goes anyway.)
   */
  async #closeUnadopted(connection: ClientConnection, spawning: Promise<string> | undefined): Promise<void> {
    if (spawning && this.#options.onDisconnect?.policy === 'keep' && !connection.closed) {
      const killed = spawning.then((session) => connection.request({ type: 'KillSession', session }, 'Ok'));
      await withDeadline(killed, CLOSE_KILL_SESSION_TIMEOUT_MS).catch(() => {});
    }
    connection.close();
  }

  /**
   * A connection that landed after close(): closed at once, so that nothing holds the transport
   * (a QEMU virtio-serial chardev serves one host connection at a time). True when abandoned.
   */
  #abandon(connection: ClientConnection): boolean {
    if (!this.#closedByUser) return false;
    if (!this.#parent) connection.close();
    this.#status = CLOSED_BY_USER(this.endpoint);
    return true;
  }

  #fail(err: unknown): void {
    this.#failure = err;
    const unavailable = err instanceof UnavailableError ? err : new UnavailableError('handshake-failed', (err as Error).message, { cause: err });
    if (!this.#parent) this.#connection?.close();
    this.#status = { state: 'unavailable', endpoint: this.endpoint, reason: unavailable.reason, message: unavailable.detail };
    this.#options.log?.({ event: 'unavailable', reason: unavailable.reason, message: unavailable.detail });
  }

  #onDisconnect(connection: ClientConnection, why: string): void {
    if (connection !== this.#connection) return;
    this.#options.log?.({ event: 'disconnected', why });
    const reconnect = this.#options.reconnect ?? this.#options.onDisconnect?.policy === 'keep';
    if (this.#closedByUser || !reconnect) {
      this.#status = { state: 'unavailable', endpoint: this.endpoint, reason: 'closed', message: why };
      for (const remote of this.#commands.values()) remote.lose(why);
      return;
    }
    this.#status = { state: 'connecting', endpoint: this.endpoint };
    this.#connecting = this.#reconnect(why).finally(() => (this.#connecting = undefined));
  }

  /** Reconnects with backoff, then resumes every followed command from its last offset. */
  async #reconnect(why: string): Promise<SessionStatus> {
    const log = this.#options.log;
    const deadline = Date.now() + (this.#options.reconnectTimeoutMs ?? this.#options.onDisconnect?.keepMs ?? DEFAULT_RECONNECT_TIMEOUT_MS);
    const remaining = () => deadline - Date.now();
    let delay = RECONNECT_FIRST_DELAY_MS;
    for (let attempt = 1; ; attempt++) {
      if (this.#closedByUser) return this.#status;
      try {
        // No attempt may outlast the bound: a daemon that accepts and never answers would
        // otherwise hold each one for the whole connect timeout.
        const budget = Math.max(MIN_RECONNECT_ATTEMPT_MS, Math.min(this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, remaining()));
        const connection = await this.#open(budget);
        if (this.#abandon(connection)) return this.#status;
        const previous = this.#instanceId;
        const signal = this.#attempt.signal;
        if (connection.welcome.instanceId !== previous) {
          // A new daemon instance knows nothing of our commands: report them lost, never exited.
          const lost = `the daemon restarted (instance ${previous} → ${connection.welcome.instanceId})`;
          for (const remote of this.#commands.values()) remote.lose(lost);
          const spawning = this.#spawnSession(connection);
          try {
            this.#session = await cancellable(spawning, signal);
          } catch (err) {
            // Not adopted: nothing else would ever close it.
            await this.#closeUnadopted(connection, spawning);
            throw err;
          }
        }
        this.#adopt(connection);
        for (const remote of [...this.#commands.values()]) await this.#resume(connection, remote);
        log?.({ event: 'reconnected', attempt, instanceId: connection.welcome.instanceId });
        return this.#status;
      } catch (err) {
        if (this.#closedByUser) return this.#status;
        log?.({ event: 'reconnect failed', attempt, error: (err as Error).message });
        if (remaining() <= 0) {
          this.#status = { state: 'unavailable', endpoint: this.endpoint, reason: 'closed', message: `${why}; reconnecting failed: ${(err as Error).message}` };
          for (const remote of this.#commands.values()) remote.lose(why);
          return this.#status;
        }
        // The last wait ends at the bound, for one more attempt there, rather than give up early.
        await pause(Math.min(delay, remaining()), this.#attempt.signal);
        delay = Math.min(delay * 2, RECONNECT_MAX_DELAY_MS);
      }
    }
  }

  async #resume(connection: ClientConnection, remote: RemoteCommand): Promise<void> {
    if (remote.finished || remote.detached) return;
    try {
      const reply = await connection.request(
        {
          type: 'Attach', command: remote.id, stdoutOffset: remote.expected[1], stderrOffset: remote.expected[2],
          ...definedOnly({ window: this.#options.windowBytes }),
        },
        'Attached',
        (attached) => remote.rebind(connection, attached),
      );
      if (reply.stdoutDropped > 0 || reply.stderrDropped > 0) {
        remote.lose(`${reply.stdoutDropped + reply.stderrDropped} bytes of output fell out of the daemon's ring while disconnected`);
      }
    } catch (err) {
      remote.lose(`cannot re-attach after reconnecting: ${(err as Error).message}`);
    }
  }

  /** Creates the daemon session; with `interactive`, its program too, followed from its first byte. */
  async #spawnSession(connection: ClientConnection, interactive?: TerminalOptions, given: { up: boolean } = { up: false }): Promise<string> {
    const o = this.#options;
    const reply = await connection.request(
      {
        type: 'SpawnSession',
        onDisconnect: o.onDisconnect ?? { policy: 'kill' },
        ...definedOnly({ cwd: o.cwd, env: o.env, clearEnv: o.clearEnv, shell: o.shell, uid: o.uid, gid: o.gid, interactive }),
      },
      'SessionSpawned',
      (spawned) => {
        // Here, as the reply is decoded: the program's output may be in the very next frame.
        // Not for an attempt given up meanwhile (a timeout): its session is being killed.
        if (!interactive || spawned.command === undefined || given.up) return;
        this.#terminal = this.#track(
          new RemoteCommand(connection, {
            id: spawned.command, pid: spawned.pid ?? 0, pty: true,
            stdinWindow: spawned.stdinWindow ?? connection.welcome.limits.maxQueuedStdinBytes, window: this.#window(connection),
          }),
        );
        this.#logCommand(this.#terminal.handle);
      },
    );
    if (interactive && reply.command === undefined) {
      // Not to be left on a connection that may live on (a fork's parent's).
      killLateSession(connection, reply.session);
      throw new ConchError(ErrorCodes.INVALID_MESSAGE, `the daemon at ${this.endpoint} created session ${reply.session} without its program (SessionSpawned has no command)`);
    }
    return reply.session;
  }
}

/** Rejects once `ms` have passed without `promise` settling; the timer never keeps the process alive. */
/** A session the daemon created for an attempt given up on: killed, where its connection is still open. */
function killLateSession(connection: ClientConnection, session: string): void {
  if (!connection.closed) connection.request({ type: 'KillSession', session }, 'Ok').catch(() => {});
}

/** Waits `ms`, or until `signal` aborts; either way its timer is gone after. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (signal.aborted) done();
    else signal.addEventListener('abort', done, { once: true });
  });
}

function withDeadline<T>(promise: Promise<T>, ms: number, timedOut: () => Error = () => new Error(`no answer within ${ms} ms`)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOut()), ms);
    timer.unref();
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Drops undefined fields: the wire validators reject explicit undefined/nil for optional fields.
 * A loop, not fromEntries(entries().filter()): it runs for every exec, and that built an array
 * per field.
 */
function definedOnly<T extends Record<string, unknown>>(fields: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(fields)) if (fields[name] !== undefined) out[name] = fields[name];
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}
