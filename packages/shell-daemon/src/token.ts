import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares tokens in constant time. Hashing first gives equal-length inputs, so neither the
 * content nor the length of the expected token leaks through timing.
 */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(expected), digest(given ?? '')) && given !== undefined;
}
