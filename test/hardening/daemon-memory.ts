import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { fdCount, rssBytes } from '../helpers/rss.js';

const GC_HOOK = resolve(import.meta.dirname, '../fixtures/gc-on-signal.mjs');

export interface DaemonMemory {
  readonly fds: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly arrayBuffers: number;
}

export interface MeasuredDaemon extends DaemonProcess {
  /** Full GC in the daemon, then its fd count, RSS, live heap and live ArrayBuffer bytes. */
  measure(): Promise<DaemonMemory>;
}

/**
 * A real conchd with test/fixtures/gc-on-signal.mjs preloaded, so that memory is compared after
 * a full collection: RSS alone keeps whatever the heap once grew to, which hides or fakes leaks.
 */
export async function startMeasuredDaemon(args: string[] = []): Promise<MeasuredDaemon> {
  const report = join(mkdtempSync(join(tmpdir(), 'conch-gc-')), 'memory.json');
  const saved = { options: process.env.NODE_OPTIONS, report: process.env.CONCH_GC_REPORT };
  process.env.NODE_OPTIONS = `${saved.options ?? ''} --import ${GC_HOOK}`.trim();
  process.env.CONCH_GC_REPORT = report;
  let daemon: DaemonProcess;
  try {
    daemon = await startDaemon(args);
  } finally {
    restore('NODE_OPTIONS', saved.options);
    restore('CONCH_GC_REPORT', saved.report);
  }
  const pid = daemon.child.pid!;
  return {
    ...daemon,
    measure: async () => {
      const asked = Date.now();
      process.kill(pid, 'SIGUSR2');
      for (let i = 0; ; i++) {
        const m = readReport(report);
        if (m && m.at >= asked) return { fds: fdCount(pid), rss: rssBytes(pid), heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
        if (i > 200) throw new Error('conchd did not report its memory within 10 s');
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

function readReport(path: string): { at: number; heapUsed: number; arrayBuffers: number } | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { at: number; heapUsed: number; arrayBuffers: number };
  } catch {
    return undefined; // caught mid-write; the next poll reads it whole
  }
}

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

export const MiB = 1 << 20;

export function describeMemory(m: DaemonMemory): string {
  return `fds ${m.fds}, RSS ${(m.rss / MiB).toFixed(1)} MiB, heap ${(m.heapUsed / MiB).toFixed(1)} MiB, buffers ${(m.arrayBuffers / MiB).toFixed(1)} MiB`;
}
