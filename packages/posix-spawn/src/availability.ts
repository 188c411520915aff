import { binding } from './binding.js';

export type Availability = { readonly available: true } | { readonly available: false; readonly reason: string };

let cached: Availability | undefined;

/**
 * Whether posixSpawn() works here: the addon loads and the kernel has pidfd_open (Linux 5.3+).
 * Callers fall back to child_process.spawn when it does not; `reason` says why, for their log.
 */
export function posixSpawnAvailability(): Availability {
  if (cached) return cached;
  try {
    const err = binding().probe();
    cached = err ? { available: false, reason: `the kernel cannot watch exits: ${err.message}` } : { available: true };
  } catch (err) {
    cached = { available: false, reason: `the addon did not load: ${(err as Error).message}` };
  }
  return cached;
}
