import type { DaemonMessage, OutputFd } from '@conch/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Command } from '../src/command.js';
import type { Subscriber } from '../src/subscriber.js';

interface Frame {
  readonly fd: OutputFd;
  readonly offset: number;
  readonly data: Buffer;
}

/** A Subscriber that records StreamOutput frames as the peer would decode them. */
function recorder(maxChunkBytes: number): Subscriber & { frames: Frame[]; congested: boolean; awaitingDrain: Set<{ pump(): void }> } {
  const frames: Frame[] = [];
  const awaitingDrain = new Set<{ pump(): void }>();
  return {
    frames,
    congested: false,
    maxChunkBytes,
    awaitingDrain,
    send: (_message: DaemonMessage) => true,
    sendOutput(_command, fd, offset, data) {
      frames.push({ fd, offset, data: Buffer.concat(data) });
      return true;
    },
    pumpOnDrain: (command) => void awaitingDrain.add(command),
  };
}

/** Command's own bound, as the tests see it: output waits no longer than this. */
const FLUSH_DELAY_MS = 4;

function command(): Command {
  return new Command({ id: 'c1', session: 's1', argv: ['x'], ringBytes: 1 << 20, maxQueuedStdinBytes: 0, stdin: false });
}

/** The bytes of one stream as frames carried them, checking that offsets are contiguous from 0. */
function stream(frames: readonly Frame[], fd: OutputFd): Buffer {
  let next = 0;
  const parts: Buffer[] = [];
  for (const f of frames.filter((f) => f.fd === fd)) {
    expect(f.offset).toBe(next);
    next += f.data.length;
    parts.push(f.data);
  }
  return Buffer.concat(parts);
}

/**
 * How Command turns reads into StreamOutput frames: small reads are gathered into frames of up
 * to a chunk, offsets stay contiguous and exact, and stdout and stderr keep their read order.
 * The flush delay is driven by fake timers, so nothing here depends on how fast the machine is.
 */
describe('Command output framing', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] }));
  afterEach(() => vi.useRealTimers());

  it('sends output after a quiet spell at once, and gathers what follows it into one frame, sent within the flush delay', () => {
    const c = command();
    const to = recorder(64 * 1024);
    c.attach(to, { 1: 0, 2: 0 }, 1 << 20);
    const reads = Array.from({ length: 50 }, (_, i) => Buffer.alloc(100 + i, i));
    for (const r of reads) c.sink(1, r);
    expect(to.frames.map((f) => f.data.length)).toEqual([100]);
    vi.advanceTimersByTime(FLUSH_DELAY_MS);
    expect(to.frames.length).toBe(2);
    expect(stream(to.frames, 1).equals(Buffer.concat(reads))).toBe(true);
    // Quiet for longer than the delay: the next output goes at once again.
    vi.advanceTimersByTime(FLUSH_DELAY_MS);
    c.sink(1, Buffer.from('prompt$ '));
    expect(to.frames.at(-1)!.data.toString()).toBe('prompt$ ');
  });

  it('sends as soon as a full chunk is unsent, in frames of at most a chunk, with exact offsets', () => {
    const c = command();
    const to = recorder(1000);
    c.attach(to, { 1: 0, 2: 0 }, 1 << 20);
    const reads = Array.from({ length: 37 }, (_, i) => Buffer.alloc(1 + ((i * 37) % 120), i));
    for (const r of reads) c.sink(1, r);
    const before = to.frames.length;
    expect(before).toBeGreaterThan(1);
    // After the first read (sent at once), only full chunks go before the delay is up.
    for (const f of to.frames.slice(1)) expect(f.data.length).toBe(1000);
    vi.advanceTimersByTime(FLUSH_DELAY_MS);
    expect(to.frames.length).toBe(before + 1);
    expect(stream(to.frames, 1).equals(Buffer.concat(reads))).toBe(true);
  });

  it('keeps stdout and stderr in the order they were read', () => {
    const c = command();
    const to = recorder(64 * 1024);
    c.attach(to, { 1: 0, 2: 0 }, 1 << 20);
    c.sink(1, Buffer.from('out 1\n'));
    c.sink(1, Buffer.from('out 2\n'));
    c.sink(1, Buffer.from('out 3\n'));
    c.sink(2, Buffer.from('err 1\n'));
    c.sink(1, Buffer.from('out 4\n'));
    vi.advanceTimersByTime(FLUSH_DELAY_MS);
    expect(to.frames.map((f) => `${f.fd}:${f.data.toString()}`)).toEqual(['1:out 1\n', '1:out 2\nout 3\n', '2:err 1\n', '1:out 4\n']);
  });

  it('never sends past the credit, and sends the rest as credit comes', () => {
    const c = command();
    const to = recorder(64 * 1024);
    c.attach(to, { 1: 0, 2: 0 }, 300);
    const reads = Array.from({ length: 20 }, (_, i) => Buffer.alloc(50, i));
    for (const r of reads) c.sink(1, r);
    vi.advanceTimersByTime(FLUSH_DELAY_MS);
    expect(stream(to.frames, 1).length).toBe(300);
    c.credit(to, 1, 300);
    expect(stream(to.frames, 1).length).toBe(600);
    c.credit(to, 1, 1000);
    expect(stream(to.frames, 1).equals(Buffer.concat(reads))).toBe(true);
  });

  it('stops on a congested transport and asks to be pumped at its drain, and only then sends the rest', () => {
    const c = command();
    const to = recorder(100);
    c.attach(to, { 1: 0, 2: 0 }, 1 << 20);
    const reads = Array.from({ length: 10 }, (_, i) => Buffer.alloc(100, i));
    to.congested = true;
    for (const r of reads) c.sink(1, r);
    vi.advanceTimersByTime(FLUSH_DELAY_MS);
    expect(to.frames.length).toBe(0);
    expect([...to.awaitingDrain]).toEqual([c]);
    // Congested again after three frames: it asks again, and the rest waits for that drain.
    let sent = 0;
    const send = to.sendOutput.bind(to);
    to.sendOutput = (...args) => {
      to.congested = ++sent >= 3;
      return send(...args);
    };
    to.congested = false;
    to.awaitingDrain.clear();
    c.pump();
    expect(to.frames.length).toBe(3);
    expect([...to.awaitingDrain]).toEqual([c]);
    to.congested = false;
    sent = -100;
    to.awaitingDrain.clear();
    c.pump();
    expect(to.awaitingDrain.size).toBe(0);
    expect(stream(to.frames, 1).equals(Buffer.concat(reads))).toBe(true);
  });

  it('resumes from an attach offset inside a gathered run of reads', () => {
    const c = command();
    const reads = Array.from({ length: 10 }, (_, i) => Buffer.alloc(10, i));
    for (const r of reads) c.sink(1, r);
    const to = recorder(64 * 1024);
    c.attach(to, { 1: 25, 2: 0 }, 1 << 20);
    c.pump();
    expect(to.frames.length).toBe(1);
    expect(to.frames[0]!.offset).toBe(25);
    expect(to.frames[0]!.data.equals(Buffer.concat(reads).subarray(25))).toBe(true);
  });
});
