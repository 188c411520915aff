import { accessSync, constants } from 'node:fs';

let cached: string | undefined;

/** bash when the image has it (for `export -f`, arrays, …), else POSIX sh. */
export function defaultShell(): string {
  if (cached) return cached;
  try {
    accessSync('/bin/bash', constants.X_OK);
    cached = '/bin/bash';
  } catch {
    cached = '/bin/sh';
  }
  return cached;
}
