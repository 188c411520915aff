import { describe, expect, it } from 'vitest';
import { VsockShellSession } from '@conch/shell-client';
import { MiB, describeMemory, startMeasuredDaemon, type MeasuredDaemon } from './daemon-memory.js';

/**
 * What an exited command costs the daemon while it is retained: a compact record, not its
 * process objects; and how many are retained: at most --max-exited. Heap is compared after a
 * full GC in the daemon, so that only what is really referenced counts.
 */

const KiB = 1024;

async function execs(s: VsockShellSession, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await s.exec(['echo', String(i)]);
    if (r.stdout !== `${i}\n`) throw new Error(`exec ${i}: ${JSON.stringify(r)}`);
  }
}

async function heapPerExec(daemon: MeasuredDaemon, s: VsockShellSession, n: number): Promise<{ bytes: number; note: string }> {
  const before = await daemon.measure();
  await execs(s, n);
  const after = await daemon.measure();
  return { bytes: (after.heapUsed - before.heapUsed) / n, note: `${describeMemory(before)} → ${describeMemory(after)}` };
}

describe('exited commands in memory', () => {
  it('cost a compact record each while retained, not their process objects', async () => {
    // The defaults: 300 s of retention, so every command of this test is still held at the end.
    const daemon = await startMeasuredDaemon(['--log-level', 'error']);
    const s = new VsockShellSession(daemon.endpoint);
    await execs(s, 500); // JIT and pools warm
    const { bytes, note } = await heapPerExec(daemon, s, 2000);
    console.log(`heap per retained exited command: ${bytes.toFixed(0)} bytes (${note})`);
    // Measured: about 1.9 KiB each (id, status, rings holding echo's unacknowledged bytes, map
    // entries); about 8 KiB while each kept its Execution, ChildProcess and streams.
    expect(bytes).toBeLessThan(3 * KiB);
    await s.close();
    await daemon.stop();
  }, 120_000);

  it('are held at most --max-exited at a time, so a burst of commands does not grow the heap', async () => {
    const daemon = await startMeasuredDaemon(['--log-level', 'error', '--max-exited', '500']);
    const s = new VsockShellSession(daemon.endpoint);
    await execs(s, 1000); // the bound is reached, and JIT and pools are warm
    const before = await daemon.measure();
    await execs(s, 4000);
    const after = await daemon.measure();
    console.log(`4000 execs past --max-exited 500: ${describeMemory(before)} → ${describeMemory(after)}`);
    // Unbounded, these 4000 records would be about 5 MiB of heap.
    expect(after.heapUsed - before.heapUsed).toBeLessThan(1 * MiB);
    expect(after.fds).toBeLessThanOrEqual(before.fds);
    const listed = (await s.list()).flatMap((x) => x.commands);
    expect(listed).toHaveLength(500);
    await s.close();
    await daemon.stop();
  }, 120_000);
});
