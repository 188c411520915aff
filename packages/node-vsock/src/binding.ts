import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The addon's functions (src/vsock.c). Errors it throws carry `code`, `errno` and `syscall`. */
export interface VsockBinding {
  listen(cid: number, port: number, backlog: number): { fd: number; cid: number; port: number };
  connect(cid: number, port: number, timeoutMs: number): number;
  sockName(fd: number): { cid: number; port: number };
  peerName(fd: number): { cid: number; port: number };
  localCid(): number;
  /** AF_UNIX pair, for host tests of the fd wrapping (never touches vsock). */
  socketpair(): [number, number];
  close(fd: number): void;
  watchAccept(fd: number, callback: (err: Error | null, fd?: number, peerCid?: number, peerPort?: number) => void): object;
  watchConnect(fd: number, callback: (err: Error | null, peerCid?: number, peerPort?: number) => void): object;
  unwatch(watcher: object): void;
  setWatching(watcher: object, on: boolean): void;
  setRef(watcher: object, ref: boolean): void;
}

/** Where a bundled daemon keeps vsock.node (the single-file conchd has no package directory). */
export const VSOCK_ADDON_ENV = 'CONCH_VSOCK_ADDON';

let cached: VsockBinding | undefined;

/** Loads the addon on first use, so merely importing this package never fails. */
export function binding(): VsockBinding {
  if (cached) return cached;
  const require = localRequire();
  const override = process.env[VSOCK_ADDON_ENV];
  const file = override && existsSync(override) ? override : join(dirname(require.resolve('@conch/node-vsock/package.json')), 'build/Release/vsock.node');
  cached = require(file) as VsockBinding;
  return cached;
}

/** A require for this module: the ESM build has import.meta.url; the CJS build its own require. */
function localRequire(): NodeRequire {
  const url = import.meta.url as string | undefined;
  return url ? createRequire(url) : require;
}
