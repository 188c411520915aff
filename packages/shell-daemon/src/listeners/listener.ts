import type { Duplex } from 'node:stream';

/** Whatever a transport knows about who connected, for logs and peer checks. */
export interface PeerInfo {
  readonly transport: string;
  readonly [key: string]: unknown;
}

/** Hands a connected byte stream to the daemon. */
export type AcceptStream = (stream: Duplex, peer: PeerInfo) => void;

/** An open endpoint. Closing it stops new connections; established ones are the daemon's to close. */
export interface Listener {
  readonly endpoint: string;
  close(): Promise<void>;
}
