import type { Endpoint } from '@conch/protocol';
import type { Duplex } from 'node:stream';
import { UnavailableError } from '../errors.js';
import { connectHybridVsock } from './hybrid-vsock.js';
import type { TransportOptions } from './transport.js';
import { connectUnix } from './unix.js';
import { connectVsock } from './vsock.js';

export async function openTransport(endpoint: Endpoint, options: TransportOptions): Promise<Duplex> {
  switch (endpoint.kind) {
    case 'unix':
      return connectUnix(endpoint.path, options);
    case 'hybrid-vsock':
      return connectHybridVsock(endpoint.path, endpoint.port, options);
    case 'vsock':
      if (endpoint.cid === undefined) throw new UnavailableError('not-configured', 'a vsock endpoint needs a CID: vsock:CID:PORT');
      return connectVsock(endpoint.cid, endpoint.port, options);
    case 'virtio-serial':
    case 'stdio':
    case 'local':
      throw new UnavailableError('not-configured', `a VsockShellSession cannot connect to a ${endpoint.kind} endpoint`);
  }
}
