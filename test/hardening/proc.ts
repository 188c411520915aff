import { readFileSync, readdirSync } from 'node:fs';

export interface ProcInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  /** R, S, D, T, Z, …: Z is a zombie (dead, waiting to be reaped). */
  readonly state: string;
}

/** Every process on the machine, from /proc/PID/stat. */
export function processes(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.push({ pid: Number(name), state: fields[0]!, ppid: Number(fields[1]), pgid: Number(fields[2]) });
  }
  return out;
}

/** Live (not zombie) processes that are children of `pid`, or members of one of `groups`. */
export function leftovers(parent: number, groups: ReadonlySet<number>): ProcInfo[] {
  return processes().filter((p) => p.state !== 'Z' && (p.ppid === parent || groups.has(p.pgid)));
}

/** Polls until `check()` returns an empty list, or the time runs out; returns the last list. */
export async function settleEmpty<T>(check: () => T[], timeoutMs: number): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = check();
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}
