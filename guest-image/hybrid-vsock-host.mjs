// Host side of the test VM's hybrid-vsock socket: speaks Firecracker's protocol to clients
// (`CONNECT <port>\n` → `OK <hostport>\n`, then the stream) and carries each connection to the
// guest's vsock-bridge over QEMU user networking (a TCP hostfwd), which connects to the guest's
// AF_VSOCK port on loopback. See vsock-bridge.mjs for the guest half.
import { createConnection, createServer } from 'node:net';

/** QEMU accepts the forwarded TCP connection before the guest listens, then closes it: retry. */
const FORWARD_ATTEMPTS = 20;
const FORWARD_RETRY_MS = 250;
const MAX_LINE = 64;

/**
 * @param {string} path the Unix socket to create (the "vm.vsock" of Firecracker)
 * @param {number} forwardPort host TCP port that QEMU forwards to the guest bridge
 * @returns {Promise<import('node:net').Server>}
 */
export function startHybridVsockHost(path, forwardPort) {
  let nextHostPort = 1 << 30;
  const server = createServer((client) => {
    client.on('error', () => {});
    let line = Buffer.alloc(0);
    const onData = async (chunk) => {
      line = Buffer.concat([line, chunk]);
      const newline = line.indexOf(0x0a);
      if (newline === -1) {
        if (line.length > MAX_LINE) client.destroy();
        return;
      }
      client.off('data', onData);
      client.pause();
      const match = /^CONNECT (\d+)$/.exec(line.subarray(0, newline).toString().trim());
      // Firecracker closes the connection on a bad request or a port with no listener.
      if (!match) return client.destroy();
      const guest = await reachGuest(forwardPort, match[1]);
      if (!guest) return client.destroy();
      client.write(`OK ${nextHostPort++}\n`);
      const rest = line.subarray(newline + 1);
      if (rest.length > 0) guest.write(rest);
      guest.on('error', () => client.destroy());
      client.on('close', () => guest.destroy());
      guest.on('close', () => client.destroy());
      client.pipe(guest).pipe(client);
      client.resume();
    };
    client.on('data', onData);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}

/** A TCP connection to the guest bridge that has connected to the vsock port, or undefined. */
async function reachGuest(forwardPort, port) {
  for (let attempt = 0; attempt < FORWARD_ATTEMPTS; attempt++) {
    const answer = await new Promise((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port: forwardPort });
      let reply = '';
      const fail = () => {
        socket.destroy();
        resolve(undefined);
      };
      socket.once('error', fail);
      socket.once('close', fail);
      socket.once('connect', () => socket.write(`${port}\n`));
      const onData = (chunk) => {
        reply += chunk.toString('latin1');
        const newline = reply.indexOf('\n');
        if (newline === -1) return;
        socket.off('data', onData);
        socket.off('close', fail);
        socket.off('error', fail);
        if (reply.slice(0, newline) !== 'OK') return fail();
        const rest = reply.slice(newline + 1);
        socket.pause();
        if (rest) socket.unshift(Buffer.from(rest, 'latin1'));
        resolve({ socket, refused: false });
      };
      socket.on('data', onData);
    });
    if (answer) return answer.socket;
    await new Promise((r) => setTimeout(r, FORWARD_RETRY_MS));
  }
  return undefined;
}
