import type { Duplex } from 'node:stream';

export interface TransportOptions {
  /** Bound on the transport connect (and, for hybrid vsock, its CONNECT exchange). */
  readonly timeoutMs: number;
  /** Aborted by close(): the attempt is torn down at once and rejects with UnavailableError('closed'). */
  readonly signal?: AbortSignal;
}

/** Opens a byte stream to a daemon; rejects with UnavailableError carrying the reason. */
export type OpenTransport = (options: TransportOptions) => Promise<Duplex>;
