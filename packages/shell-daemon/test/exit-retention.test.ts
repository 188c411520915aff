import { describe, expect, it } from 'vitest';
import { ExitRetention } from '../src/exit-retention.js';

// The retention here is far longer than any test, so only the count bound ever forgets; expiry
// by time is proven against a real daemon (test/hardening: --exit-retention 1 and 2).
const LONG = 3_600_000;

describe('ExitRetention', () => {
  it('forgets the oldest first once more than max are kept', () => {
    const forgotten: string[] = [];
    const retention = new ExitRetention<string>(LONG, 3, (item) => forgotten.push(item));
    for (const item of ['a', 'b', 'c', 'd', 'e']) retention.add(item);
    expect(forgotten).toEqual(['a', 'b']);
    expect(retention.size).toBe(3);
    retention.close();
  });

  it('does not call back for an item deleted by its owner, and does not count it', () => {
    const forgotten: string[] = [];
    const retention = new ExitRetention<string>(LONG, 2, (item) => forgotten.push(item));
    retention.add('a');
    retention.add('b');
    retention.delete('a');
    retention.add('c');
    expect(forgotten).toEqual([]);
    retention.add('d');
    expect(forgotten).toEqual(['b']);
    retention.close();
  });

  it('keeps nothing with a bound of 0', () => {
    const forgotten: string[] = [];
    const retention = new ExitRetention<string>(LONG, 0, (item) => forgotten.push(item));
    retention.add('a');
    expect(forgotten).toEqual(['a']);
    expect(retention.size).toBe(0);
    retention.close();
  });
});
