import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  createFrameDecoder, decodeBody, encodeFrame, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN, type ClientMessage, type Message,
} from '@conch/protocol';

/**
 * A deliberately low-level client: raw bytes in, decoded frames out, no validation. For testing
 * how the daemon treats peers that break the rules.
 */
export class RawClient {
  readonly socket: Duplex;
  readonly frames: Record<string, unknown>[] = [];
  readonly #decoder;
  #waiters: (() => void)[] = [];
  closed = false;

  private constructor(socket: Duplex) {
    this.socket = socket;
    const decoder = createFrameDecoder(64 << 20);
    this.#decoder = decoder;
    socket.pipe(decoder);
    decoder.on('data', (body: Buffer) => {
      this.frames.push(decodeBody(body) as Record<string, unknown>);
      this.#notify();
    });
    decoder.on('error', () => {});
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#notify();
    });
  }

  /** Over a stream that is already connected (a daemon's stdin and stdout, joined). */
  static over(stream: Duplex): RawClient {
    return new RawClient(stream);
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  async hello(extra: Partial<Extract<ClientMessage, { type: 'Hello' }>> = {}): Promise<Record<string, unknown>> {
    this.send({
      type: 'Hello', minVersion: PROTOCOL_VERSION_MIN, maxVersion: PROTOCOL_VERSION_MAX, nonce: 7, maxFrameBytes: 1 << 20,
      capabilities: [], client: 'raw-test', ...extra,
    } as Message);
    return this.next((f) => f.type === 'Welcome' || f.type === 'Error');
  }

  send(message: unknown): void {
    this.socket.write(encodeFrame(message as Message));
  }

  writeRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The first frame (received so far or later) that matches; consumed from the list. */
  async next(match: (frame: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex(match);
      if (index !== -1) return this.frames.splice(index, 1)[0]!;
      if (this.closed) throw new Error(`connection closed; frames seen: ${JSON.stringify(this.frames)}`);
      if (Date.now() > deadline) throw new Error(`no matching frame within ${timeoutMs} ms; frames seen: ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  /** Resolves when the daemon closes the connection. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('the daemon did not close the connection');
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  /** Stops reading the socket, so what the daemon writes backs up in its own buffers. */
  pauseReading(): void {
    this.socket.unpipe(this.#decoder);
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.pipe(this.#decoder);
  }

  close(): void {
    this.socket.destroy();
  }

  #notify(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
