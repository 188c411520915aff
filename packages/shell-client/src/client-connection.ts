import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  ClientCapabilities, ConchError, DEFAULT_MAX_FRAME_BYTES, encodeFrame, ErrorCodes, FrameChannel, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN, RemoteError,
  validateDaemonMessage, type ClientMessage, type CommandExited, type DaemonMessage, type OutputFd, type Welcome,
} from '@conch/protocol';
import { UnavailableError } from './errors.js';
import { readHandshakeReply } from './handshake-reply.js';
import type { LogEvent } from './options.js';

/** Resend Hello this often until a Welcome arrives: a virtio-serial guest drops bytes sent before it opened the port. */
export const HELLO_RETRY_MS = 500;
/** Room for the msgpack map around an Input payload. */
const INPUT_FRAME_OVERHEAD = 512;

/** Where a command's frames go. */
export interface CommandRoute {
  output(fd: OutputFd, offset: number, data: Uint8Array): void;
  exited(message: CommandExited): void;
  stdinCredit(bytes: number): void;
  error(err: ConchError): void;
  lost(why: string): void;
}

type Request = Exclude<ClientMessage, { type: 'Hello' | 'Input' | 'EndInput' | 'Credit' }>;
type Reply = Extract<DaemonMessage, { id: number }>;
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface ClientConnectionOptions {
  readonly clientName: string;
  readonly token?: string;
  readonly connectTimeoutMs: number;
  /** Ping this often; a connection silent for 3 intervals is declared dead. 0 disables. */
  readonly keepaliveMs: number;
  readonly log?: (event: LogEvent) => void;
}

interface ClientConnectionEvents {
  close: [reason: string];
}

/**
 * One handshaken connection to conchd: request/reply by id, command routing, keepalive.
 * Knows nothing of sessions; VsockShellSession builds those on top.
 */
export class ClientConnection extends EventEmitter<ClientConnectionEvents> {
  readonly welcome: Welcome;
  readonly #channel: FrameChannel<DaemonMessage, ClientMessage>;
  readonly #pending = new Map<number, { resolve: (m: Reply) => void; reject: (e: Error) => void }>();
  readonly #routes = new Map<string, CommandRoute>();
  readonly #log: ((event: LogEvent) => void) | undefined;
  #nextId = 0;
  #closed = false;
  #heardAt = Date.now();
  #keepalive: NodeJS.Timeout | undefined;

  private constructor(channel: FrameChannel<DaemonMessage, ClientMessage>, welcome: Welcome, options: ClientConnectionOptions) {
    super();
    // Every session forked onto this connection listens for its close: many are normal.
    this.setMaxListeners(0);
    this.#channel = channel;
    this.welcome = welcome;
    this.#log = options.log;
    channel.on('message', (m) => this.#onMessage(m));
    channel.on('protocolError', (err, refs) => {
      this.#log?.({ event: 'protocol error from daemon', code: err.code, message: err.message, fatal: refs.fatal });
      // A frame this version cannot read (from a newer daemon, say) still answers its request or
      // ends its command: fail those with the error, rather than leave them waiting for ever.
      if (refs.requestId !== undefined && this.#settle(refs.requestId, err)) return;
      if (refs.command !== undefined) this.#routes.get(refs.command)?.error(err);
    });
    channel.on('close', () => this.#onClose('the connection to the daemon closed'));
    if (options.keepaliveMs > 0) {
      this.#keepalive = setInterval(() => {
        if (Date.now() - this.#heardAt > 3 * options.keepaliveMs) {
          this.#log?.({ event: 'keepalive timeout', silentMs: Date.now() - this.#heardAt });
          this.#onClose(`no reply from the daemon for ${Date.now() - this.#heardAt} ms (keepalive)`);
          channel.destroy();
          return;
        }
        this.request({ type: 'Ping' }).catch(() => {});
      }, options.keepaliveMs);
      this.#keepalive.unref();
    }
  }

  /** Handshakes over an open transport. Rejects with UnavailableError (the stream is destroyed). */
  static async handshake(stream: Duplex, options: ClientConnectionOptions, where: string): Promise<ClientConnection> {
    const nonce = Math.floor(Math.random() * 0xffffffff);
    const hello = encodeFrame({
      type: 'Hello', minVersion: PROTOCOL_VERSION_MIN, maxVersion: PROTOCOL_VERSION_MAX, nonce,
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, capabilities: [ClientCapabilities.RT_SIGNALS], client: options.clientName,
      ...(options.token !== undefined ? { token: options.token } : {}),
    });
    let welcome: Welcome;
    try {
      welcome = await readHandshakeReply(stream, {
        nonce, where, timeoutMs: options.connectTimeoutMs, retryMs: HELLO_RETRY_MS, maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
        sendHello: () => {
          if (!stream.destroyed && stream.writable) stream.write(hello);
        },
      });
    } catch (err) {
      stream.destroy();
      throw err;
    }
    const channel = new FrameChannel<DaemonMessage, ClientMessage>(stream, {
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      validate: validateDaemonMessage,
      // A request larger than this fails on its own (LIMIT_EXCEEDED) instead of ending the connection.
      peerMaxFrameBytes: welcome.limits.maxFrameBytes,
    });
    return new ClientConnection(channel, welcome, options);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Largest Input payload the daemon accepts per frame. */
  get maxInputChunk(): number {
    return this.welcome.limits.maxFrameBytes - INPUT_FRAME_OVERHEAD;
  }

  /**
   * Sends a request and resolves with its reply. `onReply` runs synchronously as the reply is
   * decoded: frames that follow it in the same read (a command's first output) are dispatched
   * before any promise continuation could run, so routes must be set up there.
   */
  request<T extends Reply['type']>(
    message: WithoutId<Request>,
    expect?: T,
    onReply?: (reply: Extract<Reply, { type: T }>) => void,
  ): Promise<Extract<Reply, { type: T }>> {
    if (this.#closed) return Promise.reject(new UnavailableError('closed', 'the connection to the daemon is closed'));
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, {
        resolve: (reply) => {
          if (expect !== undefined && reply.type !== expect) {
            reject(new ConchError(ErrorCodes.INVALID_MESSAGE, `expected ${expect} in reply to ${message.type}, got ${reply.type}`));
          } else {
            onReply?.(reply as Extract<Reply, { type: T }>);
            resolve(reply as Extract<Reply, { type: T }>);
          }
        },
        reject,
      });
      try {
        this.#channel.send({ ...message, id } as ClientMessage);
      } catch (err) {
        this.#pending.delete(id);
        reject(err);
      }
    });
  }

  /** Sends a message that has no reply (Input, EndInput, Credit). */
  post(message: Extract<ClientMessage, { type: 'Input' | 'EndInput' | 'Credit' }>): void {
    if (!this.#closed) this.#channel.send(message);
  }

  route(command: string, route: CommandRoute): void {
    this.#routes.set(command, route);
  }

  unroute(command: string): void {
    this.#routes.delete(command);
  }

  close(): void {
    this.#channel.close();
    this.#onClose('closed by the client');
  }

  #onMessage(message: DaemonMessage): void {
    this.#heardAt = Date.now();
    switch (message.type) {
      case 'StreamOutput':
        this.#routes.get(message.command)?.output(message.fd, message.offset, message.data);
        return;
      case 'CommandExited': {
        const route = this.#routes.get(message.command);
        this.#routes.delete(message.command);
        route?.exited(message);
        return;
      }
      case 'Credit':
        if (message.fd === 0) this.#routes.get(message.command)?.stdinCredit(message.bytes);
        return;
      case 'Welcome':
        return;
      case 'Error': {
        if (message.code === ErrorCodes.HANDSHAKE_REQUIRED) {
          // The daemon's end of this stream is a new connection that never saw our Hello: on a
          // virtio-serial port, which has no connection boundaries, it closed and reopened the
          // port while we stayed connected. Nothing we sent it will be answered. Its errors
          // would also keep the keepalive content, so end the connection here, not by timeout.
          this.#onClose(`the daemon no longer knows this connection (${message.message})`);
          this.#channel.destroy();
          return;
        }
        const err = new RemoteError(message.code, message.message, message.details ? { ...message.details } : undefined);
        if (message.id !== undefined && this.#settle(message.id, err)) return;
        if (message.command !== undefined) {
          this.#routes.get(message.command)?.error(err);
          return;
        }
        this.#log?.({ event: 'daemon error', code: message.code, message: message.message });
        return;
      }
      default:
        this.#settle(message.id, message);
    }
  }

  #settle(id: number, outcome: Reply | Error): boolean {
    const pending = this.#pending.get(id);
    if (!pending) return false;
    this.#pending.delete(id);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
    return true;
  }

  #onClose(why: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepalive);
    for (const pending of this.#pending.values()) pending.reject(new UnavailableError('closed', why));
    this.#pending.clear();
    for (const route of this.#routes.values()) route.lost(why);
    this.#routes.clear();
    this.emit('close', why);
  }
}
