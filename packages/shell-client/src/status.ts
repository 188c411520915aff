/**
 * Why the sidecar cannot be used. Stable strings: callers branch on them, the CLI prints them.
 * - `not-configured`: no endpoint was given (CONCH_ENDPOINT unset, no --connect).
 * - `connect-refused`: nothing listens there (ENOENT, ECONNREFUSED, the VM has no such port).
 * - `connect-timeout`: the transport or the handshake did not complete in time.
 * - `handshake-failed`: something answered, but not a conch daemon (or the hybrid-vsock CONNECT failed).
 * - `version-mismatch`: a conch daemon that speaks no protocol version we speak.
 * - `auth-failed`: the daemon wants a token and ours was missing or wrong.
 * - `closed`: the connection was working and went away (daemon exit, VM death, keepalive timeout).
 */
export type UnavailableReason =
  | 'not-configured'
  | 'connect-refused'
  | 'connect-timeout'
  | 'handshake-failed'
  | 'version-mismatch'
  | 'auth-failed'
  | 'closed';

export interface DaemonInfo {
  readonly protocolVersion: number;
  readonly daemonVersion: string;
  readonly bootId: string;
  readonly instanceId: string;
  readonly capabilities: readonly string[];
}

export type SessionStatus =
  | { readonly state: 'connecting'; readonly endpoint: string }
  | { readonly state: 'ready'; readonly endpoint: string; readonly daemon: DaemonInfo | undefined }
  | { readonly state: 'unavailable'; readonly endpoint: string; readonly reason: UnavailableReason; readonly message: string };
