import { createHash } from 'node:crypto';
import { createConnection, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFrameDecoder, decodeBody, encodeFrame, isErrorCode, validateDaemonMessage, type DaemonMessage } from '@conch/protocol';
import { VsockShellSession } from '@conch/shell-client';
import { RawClient } from '../helpers/raw-client.js';
import { fdCount, rssBytes } from '../helpers/rss.js';
import { describeMemory, MiB, startMeasuredDaemon, type DaemonMemory, type MeasuredDaemon } from './daemon-memory.js';
import { FrameFuzzer } from './fuzz-frames.js';

/**
 * conchd against ≥100k random and mutated frames over many connections (2M with
 * CONCH_FUZZ_LONG=1), while well-behaved sessions beside the fuzzing stream a few MB in a loop
 * and check every byte by sha256. The daemon must stay up and keep answering handshakes, answer
 * every well-formed frame with exactly one valid reply (typed errors for the bad ones), and
 * come back to its baseline fd count and near its baseline memory once the fuzzing stops.
 * Memory is compared after a full GC in the daemon (test/fixtures/gc-on-signal.mjs). Exited
 * commands are forgotten after 2 s here (--exit-retention): the bystanders' exited commands
 * would otherwise hold their unacknowledged output tails for the default 300 s.
 * Replay a failure with CONCH_FUZZ_SEED=<the seed printed below>.
 */

const LONG = process.env.CONCH_FUZZ_LONG === '1';
const TOTAL_FRAMES = LONG ? 2_000_000 : 100_000;
const SEED = Number(process.env.CONCH_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Per wave: connections that stay in sync for many frames, and connections that end hostile. */
const SYNCED_PER_WAVE = 5;
const FRAMES_PER_SYNCED = 2000;
const HOSTILE_PER_WAVE = 10;
const BYSTANDER_STREAM_BYTES = 3_000_000;
/** A request id the fuzzer never generates: its Pong marks the end of a connection's frames. */
const FINAL_PING_ID = 4_000_000_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Random bytes on stdout, their sha256 on stderr first. */
const HASHED_STREAM = (bytes: number) =>
  `f=$(mktemp) && head -c ${bytes} /dev/urandom > "$f" && sha256sum "$f" | cut -d" " -f1 >&2 && cat "$f"; rm -f "$f"`;

interface Stats {
  frames: number;
  inSync: number;
  hostile: number;
  connections: number;
  replies: number;
  errorCodes: Map<string, number>;
  closedByDaemon: number;
}

/** A raw connection whose every reply is decoded and validated as a DaemonMessage. */
class FuzzSocket {
  readonly socket: Socket;
  readonly replies: DaemonMessage[] = [];
  readonly invalidReplies: string[] = [];
  closed = false;
  #wake: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    const decoder = createFrameDecoder(64 * MiB);
    socket.pipe(decoder);
    decoder.on('data', (body: Buffer) => {
      try {
        this.replies.push(validateDaemonMessage(decodeBody(body)));
      } catch (err) {
        this.invalidReplies.push(String(err));
      }
      this.#wake?.();
    });
    decoder.on('error', (err) => this.invalidReplies.push(`undecodable reply stream: ${String(err)}`));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
  }

  static connect(path: string): Promise<FuzzSocket> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path, () => resolve(new FuzzSocket(socket)));
      socket.once('error', reject);
    });
  }

  async write(chunks: Buffer[]): Promise<void> {
    for (const chunk of chunks) {
      if (this.closed) return;
      if (!this.socket.write(chunk)) {
        await new Promise<void>((resolve) => {
          const t = setInterval(() => console.log(`fuzz: a write has waited 10 s for drain: queued ${this.socket.writableLength}, replies ${this.replies.length}, closed ${this.closed}, last ${JSON.stringify(this.replies.at(-1))?.slice(0, 200)}`), 10_000);
          // Both listeners go once either fires: a connection waits for drain many times.
          const done = () => {
            clearInterval(t);
            this.socket.off('drain', done);
            this.socket.off('close', done);
            resolve();
          };
          this.socket.on('drain', done);
          this.socket.on('close', done);
        });
      }
    }
  }

  async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let next = Date.now() + 10_000;
    while (!done()) {
      if (Date.now() > next) { next += 10_000; console.log(`fuzz: still waiting for replies: replies ${this.replies.length}, closed ${this.closed}`); }
      if (this.closed || Date.now() > deadline) return done();
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    return true;
  }
}

function record(stats: Stats, c: FuzzSocket): void {
  stats.connections++;
  stats.replies += c.replies.length;
  for (const reply of c.replies) {
    if (reply.type === 'Error') {
      expect(isErrorCode(reply.code)).toBe(true);
      stats.errorCodes.set(reply.code, (stats.errorCodes.get(reply.code) ?? 0) + 1);
    }
  }
  expect(c.invalidReplies, 'every reply the daemon sends is a valid DaemonMessage').toEqual([]);
}

/** Hello, many well-formed frames, a final Ping: the daemon must answer each exactly once. */
async function syncedConnection(path: string, fuzzer: FrameFuzzer, stats: Stats, frames: number): Promise<void> {
  const c = await FuzzSocket.connect(path);
  const wire = [fuzzer.hello()];
  for (let i = 0; i < frames; i++) wire.push(fuzzer.wellFormed());
  wire.push(encodeFrame({ type: 'Ping', id: FINAL_PING_ID }));
  await c.write(fuzzer.chunks(Buffer.concat(wire)));
  const expected = frames + 2;
  const complete = await c.until(() => c.replies.length >= expected, 60_000);
  expect(complete, `seed ${SEED}: ${c.replies.length} of ${expected} replies; closed=${c.closed}; last ${JSON.stringify(c.replies.at(-1))}`).toBe(true);
  expect(c.replies.length).toBe(expected);
  expect(c.replies.some((r) => r.type === 'Pong' && r.id === FINAL_PING_ID)).toBe(true);
  stats.frames += frames + 1;
  stats.inSync += frames + 1;
  record(stats, c);
  c.socket.destroy();
}

/** Some well-formed frames, then bytes that break the stream; then vanish, idle or wait for the close. */
async function hostileConnection(path: string, fuzzer: FrameFuzzer, stats: Stats): Promise<void> {
  const c = await FuzzSocket.connect(path);
  const wire: Buffer[] = [];
  if (fuzzer.int(5) > 0) wire.push(fuzzer.hello());
  const before = fuzzer.int(300);
  for (let i = 0; i < before; i++) wire.push(fuzzer.wellFormed());
  const tail = fuzzer.hostile();
  wire.push(tail);
  await c.write(fuzzer.chunks(Buffer.concat(wire)));
  stats.frames += wire.length;
  stats.hostile += wire.length;
  switch (fuzzer.int(3)) {
    case 0:
      break; // vanish at once, possibly mid-frame
    case 1:
      await sleep(fuzzer.int(200)); // hold a half-sent frame open for a while
      break;
    default:
      await c.until(() => false, 1500); // let the daemon answer and, when it must, close
  }
  if (c.closed) stats.closedByDaemon++;
  record(stats, c);
  c.socket.destroy();
}

async function bystander(session: VsockShellSession, running: () => boolean): Promise<number> {
  let rounds = 0;
  while (running() || rounds === 0) {
    // A bound, so that a stalled stream fails with WAIT_TIMEOUT and a message instead of hanging the run.
    const r = await session.exec(HASHED_STREAM(BYSTANDER_STREAM_BYTES), { encoding: 'buffer', waitTimeoutMs: 60_000 });
    expect(r, `bystander round ${rounds}: ${Buffer.from(r.stderr).toString().slice(0, 200)}`).toMatchObject({ exitCode: 0, signal: null });
    expect(r.stdout.length).toBe(BYSTANDER_STREAM_BYTES);
    expect(createHash('sha256').update(r.stdout).digest('hex')).toBe(Buffer.from(r.stderr).toString().trim());
    rounds++;
    // Leave the two cores mostly to the fuzzing and the daemon.
    await sleep(200);
  }
  return rounds;
}

/** Measures until the daemon is back within the bounds, or the time runs out; returns the last sample. */
async function settle(daemon: MeasuredDaemon, baseline: DaemonMemory, timeoutMs: number): Promise<DaemonMemory> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await daemon.measure();
    const back = m.fds <= baseline.fds && m.heapUsed - baseline.heapUsed < HEAP_SLACK && m.arrayBuffers - baseline.arrayBuffers < BUFFER_SLACK;
    if (back || Date.now() > deadline) return m;
    await sleep(500);
  }
}

/** Slack after a full GC: live JS heap, live Buffers, and RSS (which keeps some of what the heap grew to). */
const HEAP_SLACK = 8 * MiB;
const BUFFER_SLACK = 8 * MiB;
const RSS_SLACK = 96 * MiB;

describe(`conchd under fuzzing (${TOTAL_FRAMES} frames, seed ${SEED})`, () => {
  let daemon: MeasuredDaemon;

  beforeAll(async () => {
    daemon = await startMeasuredDaemon(['--log-level', 'error', '--exit-retention', '2']);
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it('stays up, answers every well-formed frame with a valid reply, keeps bystanders byte-exact, and returns to baseline', async () => {
    console.log(`fuzz seed ${SEED} (replay with CONCH_FUZZ_SEED=${SEED})`);
    const pid = daemon.child.pid!;
    const fuzzer = new FrameFuzzer(SEED);
    const stats: Stats = { frames: 0, inSync: 0, hostile: 0, connections: 0, replies: 0, errorCodes: new Map(), closedByDaemon: 0 };
    const bystanders = [new VsockShellSession(daemon.endpoint), new VsockShellSession(daemon.endpoint)];
    for (const s of bystanders) expect((await s.connect()).state).toBe('ready');

    // Warm up every code path once, so that the baseline is a daemon that has already done this work.
    const warm: Promise<void>[] = [syncedConnection(daemon.socket, fuzzer, stats, 500)];
    for (let i = 0; i < HOSTILE_PER_WAVE; i++) warm.push(hostileConnection(daemon.socket, fuzzer, stats));
    await Promise.all(warm);
    for (const s of bystanders) await bystander(s, () => false);
    await sleep(3000);
    const baseline = await daemon.measure();

    const started = Date.now();
    let fuzzing = true;
    // Settled, never rejected: a failing bystander is reported below, after the daemon is checked.
    const streams = bystanders.map((s) => bystander(s, () => fuzzing).catch((err: unknown) => err as Error));
    let waves = 0;
    const peak = { fds: 0, rss: 0 };
    try {
      while (stats.frames < TOTAL_FRAMES) {
        if (process.env.CONCH_FUZZ_DEBUG) console.log(`wave ${waves}: ${stats.frames} frames, ${Date.now() - started} ms`);
        const wave: Promise<void>[] = [];
        for (let i = 0; i < SYNCED_PER_WAVE; i++) wave.push(syncedConnection(daemon.socket, fuzzer, stats, FRAMES_PER_SYNCED));
        for (let i = 0; i < HOSTILE_PER_WAVE; i++) wave.push(hostileConnection(daemon.socket, fuzzer, stats));
        await Promise.all(wave);
        waves++;
        expect(daemon.child.exitCode, `seed ${SEED}: conchd died: ${daemon.stderr()}`).toBeNull();
        peak.fds = Math.max(peak.fds, fdCount(pid));
        peak.rss = Math.max(peak.rss, rssBytes(pid));
      }
    } finally {
      fuzzing = false;
      await Promise.all(streams);
    }
    const outcomes = await Promise.all(streams);
    for (const outcome of outcomes) if (outcome instanceof Error) throw outcome;
    const rounds = outcomes as number[];
    const elapsed = Date.now() - started;

    // Still up, still answering handshakes, still running commands.
    expect(daemon.child.exitCode).toBeNull();
    const fresh = await RawClient.connect(daemon.socket);
    expect((await fresh.hello()).type).toBe('Welcome');
    fresh.close();
    const late = new VsockShellSession(daemon.endpoint);
    expect((await late.exec(['echo', 'alive'], { waitTimeoutMs: 30_000 })).stdout).toBe('alive\n');
    await late.close();

    // Back to baseline: every fuzz connection's fd is gone; memory is near where it started.
    const after = await settle(daemon, baseline, 15_000);
    console.log(
      `fuzz: ${stats.frames} frames (${stats.inSync} in sync, ${stats.hostile} on hostile connections) over ${stats.connections} connections ` +
        `in ${waves} waves, ${elapsed} ms; ${stats.replies} replies; ${stats.closedByDaemon} hostile connections closed by the daemon; ` +
        `errors ${JSON.stringify(Object.fromEntries(stats.errorCodes))}; bystander rounds ${rounds.join('+')}; ` +
        `peak fds ${peak.fds}, peak RSS ${(peak.rss / MiB).toFixed(0)} MiB; before: ${describeMemory(baseline)}; after: ${describeMemory(after)}`,
    );
    expect(stats.frames).toBeGreaterThanOrEqual(TOTAL_FRAMES);
    expect(rounds.every((n) => n >= 1)).toBe(true);
    expect(after.fds, 'daemon fds back to baseline').toBeLessThanOrEqual(baseline.fds);
    expect(after.heapUsed - baseline.heapUsed, 'live heap near baseline').toBeLessThan(HEAP_SLACK);
    expect(after.arrayBuffers - baseline.arrayBuffers, 'live Buffers near baseline').toBeLessThan(BUFFER_SLACK);
    expect(after.rss - baseline.rss, 'RSS near baseline').toBeLessThan(RSS_SLACK);
    for (const s of bystanders) await s.close();
  }, LONG ? 3_600_000 : 600_000);
});
