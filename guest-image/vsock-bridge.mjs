// Guest side of the test VM's hybrid-vsock bridge. The host has no vhost-vsock here, so the
// launcher emulates Firecracker's host socket: it accepts `CONNECT <port>\n`, reaches this
// bridge over QEMU user networking (TCP), and the bridge connects to the guest's own vsock
// port over loopback (CID 1), so the daemon's AF_VSOCK listener really serves the connection.
// Protocol on the TCP side: the host sends `<port>\n`; we answer `OK\n` and splice, or
// `ERR <code>\n` and close.
import { createServer } from 'node:net';
import { connect, VMADDR_CID_LOCAL } from '@conch/node-vsock';

const LISTEN_PORT = Number(process.env.CONCH_BRIDGE_PORT ?? 7000);
/** A request line longer than this is not the launcher talking. */
const MAX_LINE = 16;

createServer((tcp) => {
  let line = Buffer.alloc(0);
  tcp.on('error', () => {});
  const onData = async (chunk) => {
    line = Buffer.concat([line, chunk]);
    const newline = line.indexOf(0x0a);
    if (newline === -1) {
      if (line.length > MAX_LINE) tcp.destroy();
      return;
    }
    tcp.off('data', onData);
    tcp.pause();
    const port = Number(line.subarray(0, newline).toString());
    const rest = line.subarray(newline + 1);
    try {
      const vsock = await connect(VMADDR_CID_LOCAL, port, { timeoutMs: 5000 });
      vsock.on('error', () => tcp.destroy());
      tcp.on('close', () => vsock.destroy());
      vsock.on('close', () => tcp.destroy());
      tcp.write('OK\n');
      if (rest.length > 0) vsock.write(rest);
      tcp.pipe(vsock).pipe(tcp);
      tcp.resume();
    } catch (err) {
      tcp.end(`ERR ${err.code ?? 'EIO'}\n`);
    }
  };
  tcp.on('data', onData);
}).listen(LISTEN_PORT, '0.0.0.0', () => console.error(`vsock-bridge: listening on tcp ${LISTEN_PORT}`));
