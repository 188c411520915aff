import { describe, expect, it } from 'vitest';
import { VsockShellSession } from '@conch/shell-client';
import { describeMemory, MiB, startMeasuredDaemon, type DaemonMemory } from './daemon-memory.js';

/**
 * Load: 10k sequential execs on one session, and 1,000 concurrent sessions (each its own
 * VsockShellSession and connection), repeated, with the daemon's fds and memory flat: samples
 * from the first quarter are compared with samples from the last, after a full GC each time.
 */

const SEQUENTIAL = Number(process.env.CONCH_LOAD_EXECS ?? 10_000);
const CONCURRENT = Number(process.env.CONCH_LOAD_SESSIONS ?? 1000);
const ROUNDS = 4;

function quarterStats(samples: DaemonMemory[]): { first: DaemonMemory; last: DaemonMemory } {
  const q = Math.max(1, Math.floor(samples.length / 4));
  const max = (xs: DaemonMemory[], k: keyof DaemonMemory) => Math.max(...xs.map((x) => x[k]));
  const pick = (xs: DaemonMemory[]): DaemonMemory => ({ fds: max(xs, 'fds'), rss: max(xs, 'rss'), heapUsed: max(xs, 'heapUsed'), arrayBuffers: max(xs, 'arrayBuffers') });
  return { first: pick(samples.slice(0, q)), last: pick(samples.slice(-q)) };
}

describe('load', () => {
  it(`runs ${SEQUENTIAL} sequential execs on one session with fds and memory flat`, async () => {
    // The defaults: exited commands stay listable for 300 s, so none is forgotten for its age in
    // this run; what keeps memory flat is that each is a compact record and that at most
    // --max-exited (4096) are kept (exited-memory.test.ts measures both).
    const daemon = await startMeasuredDaemon(['--log-level', 'error']);
    const s = new VsockShellSession(daemon.endpoint);
    for (let i = 0; i < 50; i++) await s.exec(['true']); // warm up
    const samples: DaemonMemory[] = [];
    const started = performance.now();
    for (let i = 1; i <= SEQUENTIAL; i++) {
      const r = await s.exec(['echo', String(i)]);
      if (r.stdout !== `${i}\n` || r.exitCode !== 0) throw new Error(`exec ${i}: ${JSON.stringify(r)}`);
      if (i % Math.floor(SEQUENTIAL / 20) === 0) samples.push(await daemon.measure());
    }
    const ms = performance.now() - started;
    const { first, last } = quarterStats(samples);
    console.log(
      `${SEQUENTIAL} sequential execs in ${(ms / 1000).toFixed(1)} s (${(ms / SEQUENTIAL).toFixed(2)} ms each); ` +
        `first quarter: ${describeMemory(first)}; last quarter: ${describeMemory(last)}`,
    );
    expect(last.fds).toBeLessThanOrEqual(first.fds);
    expect(last.heapUsed - first.heapUsed).toBeLessThan(16 * MiB);
    expect(last.arrayBuffers - first.arrayBuffers).toBeLessThan(4 * MiB);
    expect(last.rss - first.rss).toBeLessThan(48 * MiB);
    await s.close();
    await daemon.stop();
  }, 300_000);

  it(`serves ${CONCURRENT} concurrent sessions, each on its own connection, ${ROUNDS} times over, with fds and memory flat`, async () => {
    const daemon = await startMeasuredDaemon(['--log-level', 'error', '--exit-retention', '1']);
    const baseline = await daemon.measure();
    const samples: DaemonMemory[] = [];
    let peakFds = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const sessions = Array.from({ length: CONCURRENT }, () => new VsockShellSession(daemon.endpoint));
      // Connect in batches of 100 so that the accept backlog is never the thing measured.
      for (let i = 0; i < sessions.length; i += 100) {
        const statuses = await Promise.all(sessions.slice(i, i + 100).map((s) => s.connect()));
        for (const st of statuses) expect(st.state).toBe('ready');
      }
      const results = await Promise.all(sessions.map((s, i) => s.exec(['echo', `session ${i}`])));
      results.forEach((r, i) => expect(r.stdout).toBe(`session ${i}\n`));
      peakFds = Math.max(peakFds, (await daemon.measure()).fds);
      await Promise.all(sessions.map((s) => s.close()));
      await new Promise((r) => setTimeout(r, 1500)); // connections torn down, exits forgotten
      samples.push(await daemon.measure());
    }
    console.log(`${ROUNDS} × ${CONCURRENT} sessions; baseline ${describeMemory(baseline)}; peak fds ${peakFds}; after each round: ${samples.map(describeMemory).join(' | ')}`);
    expect(peakFds).toBeGreaterThanOrEqual(baseline.fds + CONCURRENT);
    for (const sample of samples) expect(sample.fds).toBeLessThanOrEqual(baseline.fds);
    const first = samples[0]!;
    const last = samples.at(-1)!;
    expect(last.heapUsed - first.heapUsed).toBeLessThan(8 * MiB);
    expect(last.arrayBuffers - first.arrayBuffers).toBeLessThan(4 * MiB);
    expect(last.rss - first.rss).toBeLessThan(48 * MiB);
    await daemon.stop();
  }, 300_000);
});
