import { Duplex, PassThrough } from 'node:stream';
import { FrameChannel, validateClientMessage, type ClientMessage, type DaemonMessage, type ProtocolError } from '../src/index.js';

export interface ChannelOutcome {
  readonly messages: ClientMessage[];
  readonly errors: { error: ProtocolError; fatal: boolean }[];
  /** Whether the channel closed (it must, once the peer ends or after a fatal error). */
  readonly closed: boolean;
}

/**
 * Feeds `chunks` to a real FrameChannel (the daemon's side: client messages in) over a duplex
 * made of two PassThroughs, ends the input, and collects what the channel emitted. Anything the
 * channel throws fails the caller, since it happens inside a stream callback vitest watches.
 */
export async function feedChannel(chunks: readonly Uint8Array[], maxFrameBytes = 1 << 20): Promise<ChannelOutcome> {
  const input = new PassThrough();
  const output = new PassThrough();
  output.resume();
  const stream = Duplex.from({ readable: input, writable: output });
  const channel = new FrameChannel<ClientMessage, DaemonMessage>(stream, { maxFrameBytes, validate: validateClientMessage });
  const messages: ClientMessage[] = [];
  const errors: ChannelOutcome['errors'] = [];
  channel.on('message', (m) => messages.push(m));
  channel.on('protocolError', (error, refs) => errors.push({ error, fatal: refs.fatal }));
  const closed = new Promise<boolean>((resolve) => {
    channel.once('close', () => resolve(true));
    setTimeout(() => resolve(false), 5000).unref();
  });
  for (const chunk of chunks) input.write(chunk);
  input.end();
  const didClose = await closed;
  channel.destroy();
  return { messages, errors, closed: didClose };
}

/** Cuts `bytes` into pieces at the given (unsorted, possibly repeated) positions. */
export function cutAt(bytes: Uint8Array, positions: readonly number[]): Uint8Array[] {
  const points = [...new Set(positions.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const p of points) {
    if (p > from) pieces.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  if (from < bytes.length) pieces.push(bytes.subarray(from));
  return pieces;
}

/** Copies every Uint8Array (a Buffer view, say) into a plain Uint8Array, so values compare by content. */
export function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}
