import type { Duplex } from 'node:stream';
import { decodeBody, ErrorCodes, validateDaemonMessage, varintLength, type DaemonMessage, type Welcome } from '@conch/protocol';
import { UnavailableError } from './errors.js';

/**
 * Finding the daemon's reply to our Hello in a byte stream that may not start on a frame.
 *
 * On a virtio-serial port the first bytes a new host connection receives can be what the daemon
 * wrote for the previous one: QEMU keeps output it had already taken from the guest but not yet
 * written to a host that then went away, and hands it to the next host that connects. Seen in
 * the e2e VM: another client's StreamOutput frames, and frames cut in the middle, before the
 * Welcome. A frame cut in the middle puts a length decoder out of step for good (its "length"
 * can swallow every Welcome after it), so the handshake does not trust lengths until it has
 * found its reply: it tries every byte offset for a complete frame that is a valid daemon
 * message, and takes the first that is our Welcome (by nonce) or a handshake error. Everything
 * before it is skipped. Whatever leftovers there are precede the reply, because the daemon's new
 * connection writes nothing before its Welcome; the bytes after the reply are in step.
 */

/** Leftovers skipped at most before giving up: far more than QEMU ever holds for a port. */
export const MAX_SKIPPED_BYTES = 4 << 20;

export type ScanResult =
  | { readonly found: DaemonMessage; readonly end: number }
  | { readonly found?: undefined };

/** A length prefix at `at` whose frame, body from `bodyAt`, would end at `end`. */
interface Candidate {
  readonly at: number;
  readonly bodyAt: number;
  readonly end: number;
}

/**
 * Looks for the first complete frame whose message `wanted` accepts, in a buffer that grows
 * as bytes arrive: each byte offset is examined once, and a candidate frame that is not all in
 * yet is decoded once its last byte is. (Rescanning from the earliest incomplete candidate on
 * every read was quadratic: random leftovers nearly always hold a "frame" claiming hundreds of
 * KiB near their start, so 100 KB of them arriving in small reads on a loaded machine took
 * longer than the connect timeout to scan.)
 */
export class ReplyScanner {
  readonly #maxFrameBytes: number;
  readonly #wanted: (m: DaemonMessage) => boolean;
  /** First offset not examined yet. */
  #next = 0;
  /** Candidate frames whose declared end is past the data so far, in offset order. */
  #waiting: Candidate[] = [];

  constructor(maxFrameBytes: number, wanted: (m: DaemonMessage) => boolean) {
    this.#maxFrameBytes = maxFrameBytes;
    this.#wanted = wanted;
  }

  /** Scans what `buffer` (the same bytes as before, and more) adds; `end` is the offset just past the reply. */
  scan(buffer: Uint8Array): ScanResult {
    // Candidates that have completed, first: they come before every offset not examined yet.
    let skipTo = 0;
    const still: Candidate[] = [];
    for (const candidate of this.#waiting) {
      if (candidate.end > buffer.length) {
        still.push(candidate);
        continue;
      }
      if (candidate.at < skipTo) continue;
      const message = this.#decode(buffer, candidate.bodyAt, candidate.end);
      if (message === undefined) continue;
      if (this.#wanted(message)) return { found: message, end: candidate.end };
      // A whole frame that is not the reply (a leftover in step): nothing inside it counts.
      skipTo = candidate.end;
    }
    this.#waiting = still.filter((c) => c.at >= skipTo);
    let at = Math.max(this.#next, skipTo);
    for (; at < buffer.length; at++) {
      const prefix = readLengthPrefix(buffer, at, this.#maxFrameBytes);
      // Only the last few offsets can hold a prefix not all in yet: examine them again next time.
      if (prefix === 'incomplete') break;
      if (prefix === undefined) continue;
      const bodyAt = at + prefix.bytes;
      // Every message is a msgpack map: a fixmap, map16 or map32 header. Cheap, and rules out
      // nearly every offset inside text or other frames before anything is decoded.
      if (bodyAt < buffer.length && !isMapHeader(buffer[bodyAt]!)) continue;
      const end = bodyAt + prefix.length;
      if (end > buffer.length) {
        this.#waiting.push({ at, bodyAt, end });
        continue;
      }
      const message = this.#decode(buffer, bodyAt, end);
      if (message === undefined) continue;
      if (this.#wanted(message)) return { found: message, end };
      // A whole frame that is not the reply (a leftover in step): skip past it, not into it.
      at = end - 1;
    }
    this.#next = at;
    return {};
  }

  #decode(buffer: Uint8Array, bodyAt: number, end: number): DaemonMessage | undefined {
    try {
      return validateDaemonMessage(decodeBody(buffer.subarray(bodyAt, end)));
    } catch {
      return undefined;
    }
  }
}

/** ReplyScanner over one buffer, for callers that have all the bytes at once. */
export function scanForReply(buffer: Uint8Array, maxFrameBytes: number, wanted: (m: DaemonMessage) => boolean): ScanResult {
  return new ReplyScanner(maxFrameBytes, wanted).scan(buffer);
}

/** The LEB128 length at `at`: its value and size, 'incomplete' at the end of the data, or undefined if none fits. */
function readLengthPrefix(buffer: Uint8Array, at: number, maxFrameBytes: number): { length: number; bytes: number } | 'incomplete' | undefined {
  const maxBytes = varintLength(maxFrameBytes);
  let value = 0;
  let scale = 1;
  for (let i = 0; at + i < buffer.length; i++) {
    if (i === maxBytes) return undefined;
    const byte = buffer[at + i]!;
    value += (byte & 0x7f) * scale;
    if (value > maxFrameBytes) return undefined;
    if ((byte & 0x80) === 0) return value === 0 ? undefined : { length: value, bytes: i + 1 };
    scale *= 0x80;
  }
  return 'incomplete';
}

function isMapHeader(byte: number): boolean {
  return (byte & 0xf0) === 0x80 || byte === 0xde || byte === 0xdf;
}

export interface HandshakeReplyOptions {
  /** Writes our Hello; called at once and then every `retryMs` until the reply is found. */
  readonly sendHello: () => void;
  readonly retryMs: number;
  readonly nonce: number;
  readonly timeoutMs: number;
  readonly maxFrameBytes: number;
  /** The endpoint, for messages. */
  readonly where: string;
}

const HANDSHAKE_ERRORS: ReadonlyMap<string, 'version-mismatch' | 'auth-failed' | 'connect-refused'> = new Map([
  [ErrorCodes.VERSION_MISMATCH, 'version-mismatch'],
  [ErrorCodes.AUTH_FAILED, 'auth-failed'],
  [ErrorCodes.PEER_REJECTED, 'connect-refused'],
]);

/**
 * Sends Hello (repeatedly: a virtio-serial guest drops bytes sent before it opened the port)
 * and reads `stream` until our Welcome, skipping whatever precedes it (see above). Resolves with
 * the Welcome, the stream paused and the bytes after the Welcome put back at its front, ready
 * for a FrameChannel. Rejects with UnavailableError; the caller destroys the stream.
 */
export function readHandshakeReply(stream: Duplex, options: HandshakeReplyOptions): Promise<Welcome> {
  const { nonce, where } = options;
  const wanted = (m: DaemonMessage) => (m.type === 'Welcome' && m.nonce === nonce) || (m.type === 'Error' && HANDSHAKE_ERRORS.has(m.code));
  return new Promise<Welcome>((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    const scanner = new ReplyScanner(options.maxFrameBytes, wanted);
    const finish = (outcome: () => void) => {
      clearInterval(retry);
      clearTimeout(deadline);
      stream.off('data', onData);
      stream.off('end', onClosed);
      stream.off('close', onClosed);
      stream.off('error', onClosed);
      outcome();
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const scan = scanner.scan(buffered);
      if (scan.found === undefined) {
        if (buffered.length > MAX_SKIPPED_BYTES + options.maxFrameBytes) {
          finish(() => reject(new UnavailableError('handshake-failed', `${where} sent ${buffered.length} bytes and no conch handshake reply`)));
        }
        return;
      }
      const reply = scan.found;
      const rest = buffered.subarray(scan.end);
      finish(() => {
        if (reply.type === 'Error') {
          reject(new UnavailableError(HANDSHAKE_ERRORS.get(reply.code)!, reply.message));
          return;
        }
        // Hold the stream still with what followed the Welcome back in front, for the channel.
        stream.pause();
        if (rest.length > 0) stream.unshift(rest);
        resolve(reply as Welcome);
      });
    };
    const onClosed = () => finish(() => reject(new UnavailableError('handshake-failed', `${where} closed the connection during the handshake`)));
    stream.on('data', onData);
    stream.once('end', onClosed);
    stream.once('close', onClosed);
    stream.once('error', onClosed);
    const deadline = setTimeout(
      () =>
        finish(() =>
          reject(
            buffered.length > 0
              ? new UnavailableError('handshake-failed', `${where} does not speak the conch protocol: ${buffered.length} bytes and no handshake reply within ${options.timeoutMs} ms`)
              : new UnavailableError('connect-timeout', `no handshake reply from ${where} within ${options.timeoutMs} ms`),
          ),
        ),
      options.timeoutMs,
    );
    const retry = setInterval(options.sendHello, options.retryMs);
    options.sendHello();
    stream.resume();
  });
}
