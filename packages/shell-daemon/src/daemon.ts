import type { Duplex } from 'node:stream';
import PQueue from 'p-queue';
import {
  Capabilities, ConchError, ErrorCodes, parseEndpoint, type Attach, type CommandStarted, type DaemonLimits,
  type DaemonMessage, type Detach, type ExecCommand, type SessionInfo, type SignalName, type SpawnSession, type Welcome,
} from '@conch/protocol';
import { CommandSession, cgroupsRequired, commandCgroups, describeSpawn, ptyAvailable } from '@conch/process';
import { Command } from './command.js';
import {
  DEFAULT_DETACH_KEEP_MS, DEFAULT_EXIT_RETENTION_MS, DEFAULT_LIMITS, DEFAULT_MAX_EXITED, DEFAULT_MAX_EXITED_BYTES, type DaemonConfig,
} from './config.js';
import { Connection } from './connection.js';
import { ExitRetention } from './exit-retention.js';
import { fitSessionList } from './list-reply.js';
import { newInstanceId, readBootId } from './identity.js';
import type { Listener, PeerInfo } from './listeners/listener.js';
import { openListener } from './listeners/open-listener.js';
import { createLogger, type Logger } from './logger.js';
import { Session } from './session.js';
import { DAEMON_VERSION } from './version.js';

/**
 * The daemon: listeners, connections, and the registry of sessions and commands that outlive
 * any one connection.
 */
export class Daemon {
  readonly config: DaemonConfig;
  readonly limits: DaemonLimits;
  readonly instanceId = newInstanceId();
  readonly bootId = readBootId();
  readonly log: Logger;
  readonly #sessions = new Map<string, Session>();
  readonly #commands = new Map<string, Command>();
  readonly #connections = new Set<Connection>();
  /** Which commands each connection is subscribed to, and which sessions it holds. */
  readonly #subscriptions = new Map<Connection, Set<Command>>();
  readonly #holdings = new Map<Connection, Set<Session>>();
  readonly #exited: ExitRetention<Command>;
  readonly #listeners: Listener[] = [];
  /** Admission for spawns: a burst of ExecCommands forks a few at a time instead of all at once. */
  readonly #spawnQueue: PQueue;
  #resolveStopped: () => void = () => {};
  /** Settles when stop() has finished: lets the CLI exit once shutdown is complete. */
  readonly stopped: Promise<void> = new Promise((resolve) => (this.#resolveStopped = resolve));
  #running = 0;
  #nextId = 0;
  #stopping = false;

  constructor(config: DaemonConfig, log: Logger = createLogger(config.logLevel)) {
    this.config = config;
    this.limits = { ...DEFAULT_LIMITS, ...config.limits };
    this.log = log;
    this.#spawnQueue = new PQueue({ concurrency: config.spawnConcurrency ?? 8 });
    this.#exited = new ExitRetention<Command>({
      retentionMs: config.exitRetentionMs ?? DEFAULT_EXIT_RETENTION_MS,
      max: config.maxExited ?? DEFAULT_MAX_EXITED,
      maxBytes: config.maxExitedBytes ?? DEFAULT_MAX_EXITED_BYTES,
      weigh: (c) => c.heldBytes,
      // Forgotten now, a command still streaming its tail to a client would leave that client
      // waiting for an exit that never comes.
      busy: (c) => c.streaming,
      forget: (c) => this.#forgetCommand(c),
      owner: (c) => c.session,
    });
  }

  get token(): string | undefined {
    return this.config.token;
  }

  get capabilities(): string[] {
    return [
      Capabilities.ATTACH, Capabilities.KILL_KEEPS_SESSION, Capabilities.USER_GROUPS,
      ...(ptyAvailable() ? [Capabilities.PTY] : []),
      ...(process.getuid?.() === 0 ? [Capabilities.SET_UID] : []),
      ...(commandCgroups() instanceof Error ? [] : [Capabilities.CGROUP_KILL]),
    ];
  }

  /** Opens every configured listener. Rejects (having closed the ones opened) if any fails. */
  async start(): Promise<void> {
    if (process.pid === 1) {
      this.log.warn('conchd is running as PID 1: Node cannot reap orphaned processes, so zombies will accumulate. Run it under tini or systemd.');
    }
    const spawn = describeSpawn();
    // Without posix_spawn every exec forks the whole daemon: slower, and more so as its heap grows.
    if (spawn.implementation === 'posix') this.log.info('spawning pipe commands with posix_spawn');
    else this.log.warn('spawning pipe commands with child_process.spawn (fork)', { reason: spawn.reason });
    const cgroups = commandCgroups();
    if (!(cgroups instanceof Error)) this.log.info('each command runs in a cgroup of its own', { cgroup: cgroups.path });
    else if (cgroupsRequired()) throw new ConchError(ErrorCodes.INTERNAL, `no cgroups for commands: ${cgroups.message}`, { reason: cgroups.message });
    else this.log.warn('no cgroups for commands: a kill reaches only the process group, not what left it (setsid)', { reason: cgroups.message });
    try {
      for (const text of this.config.listen) {
        const listener = await openListener(parseEndpoint(text), (stream, peer) => void this.accept(stream, peer), {
          onStdioEnd: () => this.#stdioEnded(),
          onError: (endpoint, err) => this.log.warn('listener error; retrying', { endpoint, error: err.message }),
          allowCids: this.config.allowCids ?? [],
          onRejected: (peer, reason) => this.log.warn('peer rejected', { ...peer, reason }),
        });
        this.#listeners.push(listener);
        this.log.info('listening', { endpoint: listener.endpoint });
      }
    } catch (err) {
      await Promise.all(this.#listeners.map((l) => l.close()));
      throw err;
    }
  }

  get endpoints(): string[] {
    return this.#listeners.map((l) => l.endpoint);
  }

  /** Takes a connected byte stream from any listener. */
  accept(stream: Duplex, peer: PeerInfo): Connection | undefined {
    if (this.#stopping) {
      stream.destroy();
      return undefined;
    }
    const connection = new Connection(++this.#nextId, stream, this, this.log.child({ conn: this.#nextId, ...peer }));
    this.#connections.add(connection);
    this.log.debug('connection opened', { conn: connection.id, ...peer });
    return connection;
  }

  welcome(nonce: number, version: number): Welcome {
    return {
      type: 'Welcome', nonce, version, daemonVersion: DAEMON_VERSION, bootId: this.bootId, instanceId: this.instanceId,
      capabilities: this.capabilities, limits: this.limits,
    };
  }

  /** Creates a session and replies with SessionSpawned (after CommandStarted-like setup, for an interactive one). */
  async spawnSession(request: SpawnSession, connection: Connection): Promise<void> {
    this.#refuseWhenStopping();
    if (this.#sessions.size >= this.limits.maxSessions) {
      throw new ConchError(ErrorCodes.LIMIT_EXCEEDED, `session limit of ${this.limits.maxSessions} reached`, { limit: 'maxSessions' });
    }
    const core = new CommandSession({
      ...(request.cwd !== undefined ? { cwd: request.cwd } : {}),
      ...(request.env !== undefined ? { env: request.env } : {}),
      ...(request.clearEnv !== undefined ? { clearEnv: request.clearEnv } : {}),
      ...(request.shell !== undefined ? { shell: request.shell } : {}),
      ...(request.uid !== undefined ? { uid: request.uid } : {}),
      ...(request.gid !== undefined ? { gid: request.gid } : {}),
    });
    const policy = request.onDisconnect ?? { policy: 'keep', keepMs: this.config.detachKeepMs ?? DEFAULT_DETACH_KEEP_MS };
    const session = new Session(`s${++this.#nextId}-${this.instanceId.slice(0, 4)}`, core, policy, (s) => this.#expireSession(s));
    this.#sessions.set(session.id, session);
    this.#hold(connection, session);
    if (!request.interactive) {
      connection.send({ type: 'SessionSpawned', id: request.id, session: session.id });
      return;
    }
    await this.exec(
      { type: 'ExecCommand', id: request.id, session: session.id, argv: request.interactive.argv ?? [core.shell, '-l'], pty: request.interactive.pty, stdin: true },
      connection,
      (started) => ({ type: 'SessionSpawned', id: request.id, session: session.id, command: started.command, pid: started.pid, stdinWindow: started.stdinWindow }),
    ).catch((err: unknown) => {
      this.#removeSession(session);
      throw err;
    });
  }

  /**
   * Starts a command and replies with `announce(started)`. The reply goes out before the
   * subscription starts, so the client knows the command id before its first StreamOutput.
   */
  async exec(
    request: ExecCommand,
    connection: Connection,
    announce: (started: CommandStarted) => DaemonMessage = (started) => started,
  ): Promise<void> {
    this.#refuseWhenStopping();
    const session = this.#session(request.session);
    if (this.#running >= this.limits.maxProcesses) {
      throw new ConchError(ErrorCodes.LIMIT_EXCEEDED, `process limit of ${this.limits.maxProcesses} reached`, { limit: 'maxProcesses' });
    }
    const command = new Command({
      id: `c${++this.#nextId}-${this.instanceId.slice(0, 4)}`,
      session: session.id,
      argv: request.argv ?? [session.core.shell, '-c', request.command ?? ''],
      ringBytes: this.limits.ringBytes,
      maxQueuedStdinBytes: this.limits.maxQueuedStdinBytes,
      stdin: request.stdin ?? Boolean(request.pty),
    });
    this.#running++;
    let execution;
    try {
      execution = await this.#spawnQueue.add(() => session.core.start(request, command.sink));
    } catch (err) {
      this.#running--;
      throw err;
    }
    command.started(execution);
    session.commands.set(command.id, command);
    this.#commands.set(command.id, command);
    this.#hold(connection, session);
    connection.send(announce({ type: 'CommandStarted', id: request.id, command: command.id, pid: execution.pid, stdinWindow: command.stdinWindow }));
    this.#subscribe(connection, command, { 1: 0, 2: 0 }, request.window ?? this.limits.defaultWindowBytes);
    command.pump();
    this.log.debug('command started', { command: command.id, session: session.id, pid: execution.pid });
    void execution.done.then((result) => {
      this.#running--;
      this.log.debug('command exited', { command: command.id, exitCode: result.exitCode, signal: result.signal });
      this.#exited.add(command);
    });
  }

  command(id: string): Command {
    const command = this.#commands.get(id);
    if (!command) throw new ConchError(ErrorCodes.UNKNOWN_COMMAND, `no command ${JSON.stringify(id)}`, { command: id });
    return command;
  }

  signal(id: string, signal: string): void {
    this.command(id).signal(signal as SignalName);
  }

  killCommand(id: string, signal?: string, graceMs?: number): void {
    this.command(id).kill(signal as SignalName | undefined, graceMs);
  }

  killSession(id: string, signal?: string, graceMs?: number, keepSession = false): void {
    const session = this.#session(id);
    session.killAll(signal as SignalName | undefined, graceMs);
    if (!keepSession) this.#removeSession(session);
  }

  /** Subscribes the connection to a command and replies Attached before any of its output. */
  attach(request: Attach, connection: Connection): void {
    const command = this.command(request.command);
    const session = this.#sessions.get(command.session);
    if (session) this.#hold(connection, session);
    const dropped = this.#subscribe(
      connection, command, { 1: request.stdoutOffset, 2: request.stderrOffset }, request.window ?? this.limits.defaultWindowBytes,
    );
    connection.send({
      type: 'Attached', id: request.id, command: command.id, session: command.session, stdoutDropped: dropped[1], stderrDropped: dropped[2],
      pid: command.pid, pty: command.pty, stdinWindow: command.stdinWindow, stdin: command.stdinOpen, stdinReceived: command.stdinReceived,
    });
    command.pump();
  }

  detach(request: Detach, connection: Connection): void {
    const subs = this.#subscriptions.get(connection);
    if (request.command !== undefined) {
      const command = this.command(request.command);
      command.detach(connection);
      subs?.delete(command);
    }
    if (request.session !== undefined) {
      const session = this.#session(request.session);
      for (const command of session.commands.values()) {
        command.detach(connection);
        subs?.delete(command);
      }
      this.#holdings.get(connection)?.delete(session);
      session.release(connection);
    }
  }

  /** Every session and its commands, in a reply body of at most `maxBytes` (see fitSessionList). */
  listSessions(maxBytes: number): SessionInfo[] {
    return fitSessionList(
      [...this.#sessions.values()].map((s) => ({ session: s.id, cwd: s.core.state.cwd, commands: [...s.commands.values()].map((c) => c.info()) })),
      maxBytes,
    );
  }

  connectionReset(connection: Connection): void {
    for (const command of this.#subscriptions.get(connection) ?? []) command.detach(connection);
    this.#subscriptions.delete(connection);
    for (const session of this.#holdings.get(connection) ?? []) session.release(connection);
    this.#holdings.delete(connection);
  }

  connectionClosed(connection: Connection): void {
    if (!this.#connections.delete(connection)) return;
    this.connectionReset(connection);
    this.log.debug('connection closed', { conn: connection.id });
  }

  /** Stops listening, kills every command (SIGTERM, then SIGKILL), and closes connections. */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#exited.close();
    this.log.info('shutting down', { sessions: this.#sessions.size, running: this.#running });
    await Promise.all(this.#listeners.map((l) => l.close()));
    const grace = this.config.shutdownGraceMs ?? 2000;
    const pending = [...this.#commands.values()].filter((c) => !c.result);
    for (const command of pending) command.kill('SIGTERM', grace);
    // What exited commands left running (a server started with setsid, say) goes with them;
    // a kill that finds nothing left does nothing.
    for (const command of this.#commands.values()) if (command.result && command.pid > 0) command.kill('SIGKILL');
    const allDone = Promise.all([...this.#sessions.values()].flatMap((s) => [...s.commands.values()]).map((c) => waitForExit(c)));
    // The escalation is SIGKILL after `grace`; anything still unreported after twice that is stuck in D state.
    await Promise.race([allDone, new Promise((r) => setTimeout(r, grace * 2).unref())]);
    for (const connection of this.#connections) connection.close();
    for (const session of this.#sessions.values()) session.dispose();
    this.#sessions.clear();
    this.#resolveStopped();
  }

  /** With stdio as its only door, a daemon whose peer hung up has no one left to serve. */
  #stdioEnded(): void {
    if (this.config.listen.length === 1) {
      this.log.info('stdio peer closed; shutting down');
      void this.stop();
    }
  }

  #refuseWhenStopping(): void {
    if (this.#stopping) throw new ConchError(ErrorCodes.SHUTTING_DOWN, 'the daemon is shutting down');
  }

  #session(id: string): Session {
    const session = this.#sessions.get(id);
    if (!session) throw new ConchError(ErrorCodes.UNKNOWN_SESSION, `no session ${JSON.stringify(id)}`, { session: id });
    return session;
  }

  #hold(connection: Connection, session: Session): void {
    let held = this.#holdings.get(connection);
    if (!held) this.#holdings.set(connection, (held = new Set()));
    held.add(session);
    session.hold(connection);
  }

  #subscribe(connection: Connection, command: Command, offsets: Record<1 | 2, number>, window: number): Record<1 | 2, number> {
    const previous = command.subscriber;
    if (previous && previous !== connection) this.#subscriptions.get(previous as Connection)?.delete(command);
    let subs = this.#subscriptions.get(connection);
    if (!subs) this.#subscriptions.set(connection, (subs = new Set()));
    subs.add(command);
    return command.attach(connection, offsets, window);
  }

  #expireSession(session: Session): void {
    this.log.info('session expired', { session: session.id, policy: session.policy.policy });
    session.killAll();
    this.#removeSession(session);
  }

  #removeSession(session: Session): void {
    if (!this.#sessions.delete(session.id)) return;
    // Commands stay addressable until they exit and their retention passes; the state dir goes now.
    const running = [...session.commands.values()].filter((c) => !c.result).map((c) => waitForExit(c));
    void Promise.all(running).then(() => session.dispose());
  }

  #forgetCommand(command: Command): void {
    this.#exited.delete(command);
    this.#commands.delete(command.id);
    this.#sessions.get(command.session)?.commands.delete(command.id);
    const subscriber = command.subscriber as Connection | undefined;
    if (subscriber) this.#subscriptions.get(subscriber)?.delete(command);
  }
}

function waitForExit(command: Command): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (command.result ? resolve() : setTimeout(check, 20).unref());
    check();
  });
}
