import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VsockShellSession } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

// A full collection on demand, in this test's process only.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const MiB = 1 << 20;

function liveHeap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

let daemon: DaemonProcess;
beforeAll(async () => {
  daemon = await startDaemon(['--log-level', 'error']);
});
afterAll(async () => {
  await daemon?.stop();
});

describe('fork()ed sessions on one connection', () => {
  it('leave nothing behind on the shared connection once closed: 3,000 of them keep the heap flat', async () => {
    const root = new VsockShellSession(daemon.endpoint);
    expect((await root.connect()).state).toBe('ready');
    const cycle = async () => {
      const f = root.fork();
      expect((await f.connect()).state).toBe('ready');
      await f.close();
    };
    for (let i = 0; i < 200; i++) await cycle();
    const before = liveHeap();
    for (let i = 0; i < 3000; i++) await cycle();
    const grown = liveHeap() - before;
    console.log(`live heap after 3,000 forks opened and closed: ${(grown / MiB).toFixed(2)} MiB more than before`);
    // A fork kept by a listener on the connection holds its session state: 3,000 of them
    // measured several MiB; what is left without them is noise.
    expect(grown).toBeLessThan(2 * MiB);
    // The shared connection still serves.
    expect((await root.exec(['echo', 'ok'])).stdout).toBe('ok\n');
    await root.close();
  }, 120_000);
});
