import { readFileSync } from 'node:fs';

/** Resident set size of a process in MB (VmRSS from /proc), or undefined once it is gone. */
export function rssMB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}
