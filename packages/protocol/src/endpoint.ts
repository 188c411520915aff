import { ErrorCodes } from './codes.js';
import { ConchError } from './errors.js';

/**
 * Endpoints are URIs, spelled the same in the SDK, both CLIs and the docs:
 * `unix:/path`, `vsock:CID:PORT` (or `vsock:PORT` for a daemon listening on any CID),
 * `hybrid-vsock:/path/to/vm.vsock:PORT`, `virtio-serial:NAME`, `stdio` and `local`.
 */
export type Endpoint =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'vsock'; readonly cid: number | undefined; readonly port: number }
  | { readonly kind: 'hybrid-vsock'; readonly path: string; readonly port: number }
  | { readonly kind: 'virtio-serial'; readonly name: string }
  | { readonly kind: 'stdio' }
  | { readonly kind: 'local' };

/** VMADDR_CID_ANY: a vsock listener on every CID. */
export const VSOCK_CID_ANY = 0xffffffff;

function u32(text: string | undefined, what: string, endpoint: string): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) > 0xffffffff) {
    throw new ConchError(ErrorCodes.INVALID_ARGUMENT, `invalid ${what} in endpoint ${JSON.stringify(endpoint)}`);
  }
  return Number(text);
}

export function parseEndpoint(text: string): Endpoint {
  const colon = text.indexOf(':');
  const scheme = colon === -1 ? text : text.slice(0, colon);
  const rest = colon === -1 ? '' : text.slice(colon + 1);
  switch (scheme) {
    case 'stdio':
    case 'local':
      if (rest !== '') break;
      return { kind: scheme };
    case 'unix':
      if (rest === '') break;
      return { kind: 'unix', path: rest };
    case 'virtio-serial':
      if (rest === '' || rest.includes('/')) break;
      return { kind: 'virtio-serial', name: rest };
    case 'vsock': {
      const parts = rest.split(':');
      if (parts.length === 1) return { kind: 'vsock', cid: undefined, port: u32(parts[0], 'port', text) };
      if (parts.length === 2) return { kind: 'vsock', cid: u32(parts[0], 'CID', text), port: u32(parts[1], 'port', text) };
      break;
    }
    case 'hybrid-vsock': {
      const last = rest.lastIndexOf(':');
      if (last <= 0) break;
      return { kind: 'hybrid-vsock', path: rest.slice(0, last), port: u32(rest.slice(last + 1), 'port', text) };
    }
  }
  throw new ConchError(
    ErrorCodes.INVALID_ARGUMENT,
    `invalid endpoint ${JSON.stringify(text)}: expected unix:PATH, vsock:CID:PORT, hybrid-vsock:PATH:PORT, virtio-serial:NAME, stdio or local`,
  );
}

export function formatEndpoint(endpoint: Endpoint): string {
  switch (endpoint.kind) {
    case 'unix':
      return `unix:${endpoint.path}`;
    case 'vsock':
      return endpoint.cid === undefined ? `vsock:${endpoint.port}` : `vsock:${endpoint.cid}:${endpoint.port}`;
    case 'hybrid-vsock':
      return `hybrid-vsock:${endpoint.path}:${endpoint.port}`;
    case 'virtio-serial':
      return `virtio-serial:${endpoint.name}`;
    case 'stdio':
    case 'local':
      return endpoint.kind;
  }
}
