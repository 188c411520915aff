import type { Socket } from 'node:net';
import { UnavailableError } from '../errors.js';
import { withConnectTimeout } from './connect-errors.js';
import type { TransportOptions } from './transport.js';
import { connectUnix } from './unix.js';

/** A reply line longer than this is not a hybrid-vsock muxer talking. */
const MAX_REPLY_BYTES = 64;

/**
 * The Firecracker / Cloud Hypervisor host side of vsock: a Unix socket where `CONNECT <port>\n`
 * is answered by `OK <hostport>\n`, after which the stream belongs to the guest listener.
 */
export async function connectHybridVsock(path: string, port: number, options: TransportOptions): Promise<Socket> {
  const started = Date.now();
  const socket = await connectUnix(path, options);
  const where = `hybrid-vsock:${path}:${port}`;
  const remaining = Math.max(1, options.timeoutMs - (Date.now() - started));
  const reply = new Promise<Socket>((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const fail = (why: string) => {
      cleanup();
      socket.destroy();
      reject(new UnavailableError('handshake-failed', `${where}: ${why}`));
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const newline = buffered.indexOf(0x0a);
      if (newline === -1) {
        if (buffered.length > MAX_REPLY_BYTES) fail('no CONNECT reply line');
        return;
      }
      const line = buffered.subarray(0, newline).toString('latin1').trim();
      if (!/^OK \d+$/.test(line)) {
        fail(`the muxer refused CONNECT ${port}: ${JSON.stringify(line.slice(0, MAX_REPLY_BYTES))}`);
        return;
      }
      cleanup();
      // Bytes after the reply line already belong to the daemon's stream.
      const rest = buffered.subarray(newline + 1);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    const onEnd = () => fail('the muxer closed the connection (no listener on that port?)');
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onEnd);
      socket.pause();
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onEnd);
    socket.write(`CONNECT ${port}\n`);
  });
  return withConnectTimeout(reply, remaining, where, () => socket.destroy(), options.signal);
}
