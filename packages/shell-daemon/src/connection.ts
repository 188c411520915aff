import type { Duplex } from 'node:stream';
import {
  ClientCapabilities, ConchError, ErrorCodes, FrameChannel, isRealTimeSignal, MIN_MAX_FRAME_BYTES, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN, negotiateVersion,
  validateClientMessage, type ClientMessage, type DaemonMessage, type ErrorCode, type Hello, type OutputFd, type ProtocolError, type StreamOutput,
} from '@conch/protocol';
import type { Daemon } from './daemon.js';
import type { Logger } from './logger.js';
import { BLOCK_BYTES } from './output-blocks.js';
import type { Subscriber } from './subscriber.js';
import { tokenMatches } from './token.js';

/** Room for the msgpack map around a StreamOutput payload (type, ids, offset, bin header). */
const STREAM_FRAME_OVERHEAD = 512;

/**
 * The largest payload per StreamOutput frame, whatever the peer accepts: keeps frames
 * interleaving. One output block, so that a frame is at most two pieces of block memory.
 */
const MAX_CHUNK_BYTES = BLOCK_BYTES;

/** Of a message too large for the client, an error keeps this much of its text (see #sendInstead). */
const MAX_QUOTED_CHARS = 1024;

/**
 * Replies and output queued for a peer that is not reading, past which we stop reading its
 * requests. Output alone stays under this (commands pause while the socket is congested).
 */
const MAX_UNREAD_BYTES = 4 * MAX_CHUNK_BYTES;

/**
 * One client connection on any transport. It owns the handshake, dispatches validated
 * requests to the daemon, and is the Subscriber its commands stream to.
 */
export class Connection implements Subscriber {
  readonly id: number;
  readonly #daemon: Daemon;
  readonly #channel: FrameChannel<ClientMessage, DaemonMessage>;
  readonly #log: Logger;
  #ready = false;
  #peerMaxFrame = MIN_MAX_FRAME_BYTES;
  /** The client takes real-time signal names (its Hello says `rt-signals`). */
  #rtSignals = false;
  /** Commands to pump at the next drain (see #onDrain). */
  readonly #awaitingDrain = new Set<{ pump(): void }>();

  constructor(id: number, stream: Duplex, daemon: Daemon, log: Logger) {
    this.id = id;
    this.#daemon = daemon;
    this.#log = log;
    this.#channel = new FrameChannel(stream, {
      maxFrameBytes: daemon.limits.maxFrameBytes, validate: validateClientMessage, maxUnreadBytes: MAX_UNREAD_BYTES,
    });
    this.#channel.on('message', (message) => this.#onMessage(message));
    this.#channel.on('protocolError', (err, refs) => this.#onProtocolError(err, refs));
    this.#channel.on('drain', () => this.#onDrain());
    this.#channel.on('close', () => this.#daemon.connectionClosed(this));
  }

  get congested(): boolean {
    return this.#channel.writableNeedDrain;
  }

  pumpOnDrain(command: { pump(): void }): void {
    this.#awaitingDrain.add(command);
  }

  /**
   * Pumps the commands that stopped on congestion, in the order they stopped, until the
   * transport is congested again. Only those: every command the connection streams stays
   * subscribed after its exit (for credit, up to --max-exited of them), and pumping them all
   * at each drain made a GiB stream on a connection that had run 10k execs 2.5× slower
   * (181–243 MB/s against 537–561 MB/s with this, measured 2026-12-02).
   */
  #onDrain(): void {
    for (const command of this.#awaitingDrain) {
      if (this.congested) return;
      this.#awaitingDrain.delete(command);
      command.pump();
    }
  }

  get maxChunkBytes(): number {
    return Math.min(MAX_CHUNK_BYTES, this.#peerMaxFrame - STREAM_FRAME_OVERHEAD);
  }

  get closed(): boolean {
    return this.#channel.closed;
  }

  send(message: DaemonMessage): boolean {
    if (!this.#rtSignals) message = withoutRealTimeSignals(message);
    try {
      return this.#channel.send(message);
    } catch (err) {
      if (!(err instanceof ConchError) || err.code !== ErrorCodes.LIMIT_EXCEEDED) throw err;
      return this.#sendInstead(message, err);
    }
  }

  /**
   * What goes out for a message larger than the client's frame limit (an error quoting a huge
   * argv, say): a reply becomes the LIMIT_EXCEEDED error for its request, and an error is cut
   * to its code and the start of its message. Nothing this daemon sends unasked gets that large.
   */
  #sendInstead(message: DaemonMessage, err: ConchError): boolean {
    this.#log.warn('reply too large for the client', { type: message.type, error: err.message });
    const id = 'id' in message && typeof message.id === 'number' ? { id: message.id } : {};
    if (message.type === 'Error') {
      const command = message.command !== undefined ? { command: message.command.slice(0, MAX_QUOTED_CHARS) } : {};
      return this.#channel.send({ type: 'Error', code: message.code, message: `${message.message.slice(0, MAX_QUOTED_CHARS)}…`, ...id, ...command });
    }
    if (!('id' in id)) return true;
    return this.#channel.send({ type: 'Error', code: ErrorCodes.LIMIT_EXCEEDED, message: err.message, ...id, details: { ...err.details } });
  }

  sendOutput(command: string, fd: OutputFd, offset: number, data: readonly Uint8Array[], written?: () => void): boolean {
    return this.#channel.sendParts<StreamOutput>({ type: 'StreamOutput', command, fd, offset }, data, written);
  }

  close(): void {
    this.#channel.close();
  }

  #sendError(code: ErrorCode | (string & {}), message: string, refs: { id?: number; command?: string; details?: Record<string, unknown> } = {}): void {
    this.send({ type: 'Error', code, message, ...refs });
  }

  #onProtocolError(err: ProtocolError, refs: { fatal: boolean; requestId?: number; command?: string }): void {
    this.#log.warn('protocol error from peer', { code: err.code, error: err.message, fatal: refs.fatal });
    this.#sendError(err.code, err.message, {
      ...(refs.requestId !== undefined ? { id: refs.requestId } : {}),
      ...(refs.command !== undefined ? { command: refs.command } : {}),
    });
  }

  #onMessage(message: ClientMessage): void {
    if (message.type === 'Hello') {
      this.#onHello(message);
      return;
    }
    if (!this.#ready) {
      this.#sendError(ErrorCodes.HANDSHAKE_REQUIRED, `${message.type} before Hello`);
      this.close();
      return;
    }
    try {
      // Requests that complete asynchronously report their own errors with their id.
      const pending = this.#dispatch(message);
      if (pending) pending.catch((err: unknown) => this.#reportFailure(message, err));
    } catch (err) {
      this.#reportFailure(message, err);
    }
  }

  #reportFailure(message: ClientMessage, err: unknown): void {
    const id = 'id' in message ? message.id : undefined;
    const command = 'command' in message && typeof message.command === 'string' ? message.command : undefined;
    if (err instanceof ConchError) {
      this.#sendError(err.code, err.message, {
        ...(id !== undefined ? { id } : {}),
        ...(id === undefined && command !== undefined ? { command } : {}),
        ...(err.details ? { details: { ...err.details } } : {}),
      });
      return;
    }
    this.#log.error('request failed unexpectedly', { type: message.type, error: String((err as Error)?.stack ?? err) });
    this.#sendError(ErrorCodes.INTERNAL, `internal error handling ${message.type}: ${(err as Error)?.message ?? String(err)}`, {
      ...(id !== undefined ? { id } : {}),
    });
  }

  #onHello(hello: Hello): void {
    const version = negotiateVersion(hello, { minVersion: PROTOCOL_VERSION_MIN, maxVersion: PROTOCOL_VERSION_MAX });
    if (version === undefined) {
      this.#log.warn('version mismatch', { client: hello.client, minVersion: hello.minVersion, maxVersion: hello.maxVersion });
      this.#sendError(
        ErrorCodes.VERSION_MISMATCH,
        `client speaks protocol ${hello.minVersion}..${hello.maxVersion}, daemon speaks ${PROTOCOL_VERSION_MIN}..${PROTOCOL_VERSION_MAX}`,
        { details: { daemonMin: PROTOCOL_VERSION_MIN, daemonMax: PROTOCOL_VERSION_MAX } },
      );
      this.close();
      return;
    }
    const token = this.#daemon.token;
    if (token !== undefined && !tokenMatches(token, hello.token)) {
      this.#log.warn('authentication failed', { client: hello.client, reason: hello.token === undefined ? 'no token' : 'wrong token' });
      this.#sendError(ErrorCodes.AUTH_FAILED, 'authentication failed');
      this.close();
      return;
    }
    if (this.#ready) {
      // A transport without connection boundaries (virtio-serial) sees a new client only as a new
      // Hello: forget what the previous one was subscribed to.
      this.#daemon.connectionReset(this);
      this.#awaitingDrain.clear();
    }
    this.#ready = true;
    this.#rtSignals = hello.capabilities.includes(ClientCapabilities.RT_SIGNALS);
    this.#peerMaxFrame = Math.max(MIN_MAX_FRAME_BYTES, hello.maxFrameBytes);
    this.#channel.setPeerMaxFrameBytes(this.#peerMaxFrame);
    this.#log.info('client connected', { client: hello.client, version });
    this.send(this.#daemon.welcome(hello.nonce, version));
  }

  #dispatch(message: Exclude<ClientMessage, Hello>): Promise<void> | void {
    const d = this.#daemon;
    switch (message.type) {
      case 'Ping':
        this.send({ type: 'Pong', id: message.id });
        return;
      case 'SpawnSession':
        return d.spawnSession(message, this);
      case 'ExecCommand':
        return d.exec(message, this);
      case 'Input':
        d.command(message.command).input(message.data);
        return;
      case 'EndInput':
        d.command(message.command).endInput();
        return;
      case 'Credit':
        d.command(message.command).credit(this, message.fd as 1 | 2, message.bytes);
        return;
      case 'Resize':
        d.command(message.command).resize(message.cols, message.rows);
        this.send({ type: 'Ok', id: message.id });
        return;
      case 'Signal':
        d.signal(message.command, message.signal);
        this.send({ type: 'Ok', id: message.id });
        return;
      case 'KillCommand':
        d.killCommand(message.command, message.signal, message.graceMs);
        this.send({ type: 'Ok', id: message.id });
        return;
      case 'KillSession':
        d.killSession(message.session, message.signal, message.graceMs, message.keepSession);
        this.send({ type: 'Ok', id: message.id });
        return;
      case 'Attach':
        d.attach(message, this);
        return;
      case 'Detach':
        d.detach(message, this);
        this.send({ type: 'Ok', id: message.id });
        return;
      case 'ListSessions':
        this.send({ type: 'SessionList', id: message.id, sessions: d.listSessions(this.#peerMaxFrame) });
        return;
      default: {
        const unreachable: never = message;
        throw new ConchError(ErrorCodes.UNKNOWN_MESSAGE, `unhandled message ${(unreachable as { type: string }).type}`);
      }
    }
  }
}

/**
 * A message for a client that does not take the real-time signal names (no `rt-signals` in its
 * Hello): it would refuse a CommandExited or SessionList naming one and wait for ever, so such a
 * death is SIGKILL to it, as it was from daemons before those names.
 */
function withoutRealTimeSignals(message: DaemonMessage): DaemonMessage {
  const realTime = (signal: string | null) => signal !== null && isRealTimeSignal(signal);
  if (message.type === 'CommandExited') return realTime(message.signal) ? { ...message, signal: 'SIGKILL' } : message;
  if (message.type !== 'SessionList') return message;
  if (!message.sessions.some((s) => s.commands.some((c) => realTime(c.signal)))) return message;
  return {
    ...message,
    sessions: message.sessions.map((s) => ({ ...s, commands: s.commands.map((c) => (realTime(c.signal) ? { ...c, signal: 'SIGKILL' as const } : c)) })),
  };
}
