// node-vsock's own checks, run INSIDE the test VM (never on a host: the host's vsock belongs to
// its infrastructure). The e2e suite bundles this file into the image and runs it over conch;
// it prints one line per check and exits non-zero on the first failure.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, localCid, VMADDR_CID_LOCAL, VsockUnavailableError } from '@conch/node-vsock';

const PORT = 47000;
const sha = (b) => createHash('sha256').update(b).digest('hex');
const checks = [];
const check = (name, fn) => checks.push([name, fn]);

function listen(port, onConnection) {
  const server = createServer({ allowHalfOpen: true }, onConnection);
  server.listen(port);
  return server;
}

check('localCid reports this guest\'s CID (1 with only the loopback transport, > 2 with a host device)', async () => {
  const cid = localCid();
  assert.ok(Number.isInteger(cid) && (cid === 1 || cid > 2), `localCid ${cid}`);
});

check('listen, accept and connect over loopback, with both ends\' addresses', async () => {
  let accepted;
  const server = listen(PORT, (s) => (accepted = s));
  const client = await connect(VMADDR_CID_LOCAL, PORT);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(client.remoteCid, VMADDR_CID_LOCAL);
  assert.equal(client.remotePort, PORT);
  assert.equal(accepted.remoteCid, VMADDR_CID_LOCAL);
  assert.equal(accepted.remotePort, client.localPort);
  assert.deepEqual(server.address().port, PORT);
  client.destroy();
  accepted.destroy();
  server.close();
});

check('echoes 10 MB byte-exact (sha256)', async () => {
  const server = listen(PORT + 1, (s) => s.pipe(s));
  const client = await connect(VMADDR_CID_LOCAL, PORT + 1);
  const data = randomBytes(10 << 20);
  const chunks = [];
  client.on('data', (d) => chunks.push(d));
  client.end(data);
  await new Promise((r) => client.once('end', r));
  assert.equal(sha(Buffer.concat(chunks)), sha(data));
  client.destroy();
  server.close();
});

check('backpressure: write() returns false against a paused reader, and drain follows', async () => {
  let accepted;
  const server = listen(PORT + 2, (s) => {
    accepted = s;
    s.pause();
  });
  const client = await connect(VMADDR_CID_LOCAL, PORT + 2);
  let full = false;
  for (let i = 0; i < 1000 && !full; i++) full = !client.write(Buffer.alloc(64 * 1024));
  assert.ok(full, 'write() never returned false');
  const drained = new Promise((r) => client.once('drain', r));
  await new Promise((r) => setTimeout(r, 50));
  accepted.resume();
  await drained;
  client.destroy();
  accepted.destroy();
  server.close();
});

check('half-close: end() reaches the peer, which can still answer', async () => {
  const server = listen(PORT + 3, (s) => {
    s.resume();
    s.on('end', () => s.end('late answer'));
  });
  const client = await connect(VMADDR_CID_LOCAL, PORT + 3, { allowHalfOpen: true });
  let text = '';
  client.on('data', (d) => (text += d));
  client.end('question');
  await new Promise((r) => client.once('end', r));
  assert.equal(text, 'late answer');
  client.destroy();
  server.close();
});

check('connect to a port nobody listens on fails with ECONNREFUSED', async () => {
  await assert.rejects(connect(VMADDR_CID_LOCAL, PORT + 9), (err) => err.code === 'ECONNREFUSED');
});

check('an aborted connect rejects with ABORT_ERR and closes its socket, before it starts and while it connects', async () => {
  let accepted = 0;
  const server = listen(PORT + 6, (socket) => {
    accepted++;
    socket.destroy();
  });
  const early = new AbortController();
  early.abort();
  await assert.rejects(connect(VMADDR_CID_LOCAL, PORT + 6, { signal: early.signal }), (err) => err.code === 'ABORT_ERR');
  // Aborted before the loop could report the connect: the watcher must not resolve it later.
  const during = new AbortController();
  const pending = connect(VMADDR_CID_LOCAL, PORT + 6, { signal: during.signal });
  during.abort();
  await assert.rejects(pending, (err) => err.code === 'ABORT_ERR');
  // The connection still works afterwards, and an abort after it settled changes nothing.
  const late = new AbortController();
  const client = await connect(VMADDR_CID_LOCAL, PORT + 6, { signal: late.signal });
  late.abort();
  await new Promise((r) => client.once('close', r));
  assert.ok(accepted >= 1);
  server.close();
});

check('a second listener on a taken port fails with EADDRINUSE', async () => {
  const server = listen(PORT + 4, () => {});
  assert.throws(() => listen(PORT + 4, () => {}), (err) => err.code === 'EADDRINUSE');
  server.close();
});

check('a closed server refuses new connections', async () => {
  const server = listen(PORT + 5, () => {});
  await new Promise((r) => server.close(r));
  await assert.rejects(connect(VMADDR_CID_LOCAL, PORT + 5), (err) => err.code === 'ECONNREFUSED');
});

check('VsockUnavailableError is the typed error for a missing address family', async () => {
  const err = new VsockUnavailableError(Object.assign(new Error('socket EAFNOSUPPORT'), { code: 'EAFNOSUPPORT' }));
  assert.equal(err.code, 'VSOCK_UNAVAILABLE');
});

let failed = 0;
for (const [name, fn] of checks) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err?.stack ?? err}`);
  }
}
console.log(`${checks.length - failed}/${checks.length} passed`);
process.exit(failed === 0 ? 0 : 1);
