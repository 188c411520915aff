import { JoinedDuplex } from './joined-duplex.js';
import type { AcceptStream, Listener } from './listener.js';

/**
 * Frames on stdin/stdout, for `ssh host conchd --listen stdio` or `docker exec -i`. There is
 * exactly one connection; when the peer closes stdin the daemon has nobody left to serve on it,
 * so `onEnd` lets the daemon decide whether to shut down.
 */
export function listenStdio(accept: AcceptStream, onEnd: () => void): Listener {
  const stream = new JoinedDuplex(process.stdin, process.stdout);
  stream.once('close', onEnd);
  accept(stream, { transport: 'stdio' });
  return {
    endpoint: 'stdio',
    close: async () => {
      stream.destroy();
    },
  };
}
