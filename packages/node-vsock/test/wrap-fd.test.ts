import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { binding } from '../src/binding.js';
import { withAddresses } from '../src/vsock-socket.js';
import { wrapFd } from '../src/wrap-fd.js';

// vsock itself is only ever exercised inside the test VM (test/e2e). These host tests cover the
// fd-to-net.Socket wrapping on an AF_UNIX pair from the same addon, which needs no vsock.
describe('wrapFd', () => {
  const pair = () => binding().socketpair().map((fd) => wrapFd(fd, true));

  it('carries 10 MB both ways byte-exact, with backpressure', async () => {
    const [a, b] = pair();
    const data = randomBytes(10 << 20);
    const received: Buffer[] = [];
    b!.pause();
    const wrote = a!.write(data);
    // The kernel buffer cannot take 10 MB: write() must say so, and 'drain' must come once read.
    expect(wrote).toBe(false);
    const drained = new Promise((r) => a!.once('drain', r));
    b!.on('data', (d: Buffer) => received.push(d));
    b!.resume();
    await drained;
    a!.end();
    await new Promise((r) => b!.once('end', r));
    expect(createHash('sha256').update(Buffer.concat(received)).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    a!.destroy();
    b!.destroy();
  });

  it('carries vsock addresses on the socket, shadowing net.Socket accessors', () => {
    const [a, b] = pair();
    const s = withAddresses(a!, { cid: 3, port: 1024 }, { cid: 2, port: 5000 });
    expect([s.localCid, s.localPort, s.remoteCid, s.remotePort]).toEqual([3, 1024, 2, 5000]);
    a!.destroy();
    b!.destroy();
  });

  it('half-closes: the peer sees end and can still answer', async () => {
    const [a, b] = pair();
    const reply = new Promise<string>((resolve) => {
      let text = '';
      a!.on('data', (d: Buffer) => (text += d.toString()));
      a!.on('end', () => resolve(text));
    });
    b!.on('end', () => b!.end('answer after your end'));
    b!.resume();
    a!.end('question');
    expect(await reply).toBe('answer after your end');
  });
});
