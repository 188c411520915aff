import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The kernel's boot id: it changes when the guest reboots, so a client can tell. */
export function readBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** A fresh id per daemon start: a client seeing it change knows its in-flight commands are gone. */
export function newInstanceId(): string {
  return randomBytes(9).toString('base64url');
}
