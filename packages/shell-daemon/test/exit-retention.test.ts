import { describe, expect, it } from 'vitest';
import { ExitRetention, type ExitRetentionOptions } from '../src/exit-retention.js';

// The retention here is far longer than any test, so only the bounds ever forget; expiry by
// time is proven against a real daemon (test/hardening: --exit-retention 1 and 2).
const LONG = 3_600_000;

interface Item {
  readonly name: string;
  bytes: number;
  busy: boolean;
}

function retention(options: Partial<ExitRetentionOptions<Item>> = {}) {
  const forgotten: string[] = [];
  const r = new ExitRetention<Item>({
    retentionMs: LONG, max: Infinity, maxBytes: Infinity, weigh: (i) => i.bytes, busy: (i) => i.busy,
    forget: (i) => forgotten.push(i.name), ...options,
  });
  return { r, forgotten };
}

const items = (...names: string[]): Item[] => names.map((name) => ({ name, bytes: 0, busy: false }));

describe('ExitRetention', () => {
  it('forgets the oldest first once more than max are kept', () => {
    const { r, forgotten } = retention({ max: 3 });
    for (const item of items('a', 'b', 'c', 'd', 'e')) r.add(item);
    expect(forgotten).toEqual(['a', 'b']);
    expect(r.size).toBe(3);
    r.close();
  });

  it('does not call back for an item deleted by its owner, and does not count it', () => {
    const { r, forgotten } = retention({ max: 2 });
    const [a, b, c, d] = items('a', 'b', 'c', 'd');
    r.add(a!);
    r.add(b!);
    r.delete(a!);
    r.add(c!);
    expect(forgotten).toEqual([]);
    r.add(d!);
    expect(forgotten).toEqual(['b']);
    r.close();
  });

  it('keeps nothing with a bound of 0', () => {
    const { r, forgotten } = retention({ max: 0 });
    r.add(items('a')[0]!);
    expect(forgotten).toEqual(['a']);
    expect(r.size).toBe(0);
    r.close();
  });

  it('forgets the oldest first once their bytes pass maxBytes, counting what they hold now', () => {
    const { r, forgotten } = retention({ maxBytes: 100 });
    const [a, b, c, d] = items('a', 'b', 'c', 'd');
    a!.bytes = 60;
    b!.bytes = 30;
    r.add(a!);
    r.add(b!);
    // b's client acknowledged most of its tail since: 60 + 5 + 30 fits.
    b!.bytes = 5;
    c!.bytes = 30;
    r.add(c!);
    expect(forgotten).toEqual([]);
    d!.bytes = 50;
    r.add(d!);
    expect(forgotten).toEqual(['a']);
    r.close();
  });

  it('never forgets early what is still busy, and forgets the oldest idle ones instead', () => {
    const { r, forgotten } = retention({ max: 2 });
    const [a, b, c, d] = items('a', 'b', 'c', 'd');
    a!.busy = true;
    for (const item of [a!, b!, c!]) r.add(item);
    expect(forgotten).toEqual(['b']);
    c!.busy = true;
    // Only the newest is idle: it goes, and the busy ones stay over the bound.
    r.add(d!);
    expect(forgotten).toEqual(['b', 'd']);
    r.close();
  });

  it('makes room from the owner that holds the most: one owner\'s flood forgets its own entries, not another\'s', () => {
    const owners = new Map<string, string>();
    const { r, forgotten } = retention({ max: 4, owner: (i) => owners.get(i.name) });
    const add = (owner: string, ...names: string[]) => {
      for (const item of items(...names)) {
        owners.set(item.name, owner);
        r.add(item);
      }
    };
    add('quiet', 'q1');
    add('flood', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6');
    expect(forgotten).toEqual(['f1', 'f2', 'f3']);
    // Once the quiet owner holds the most, its oldest goes first: the two end with a half each.
    add('quiet', 'q2', 'q3', 'q4');
    expect(forgotten).toEqual(['f1', 'f2', 'f3', 'f4', 'q1', 'q2']);
    expect(r.size).toBe(4);
    r.close();
  });

  it('over maxBytes, makes room from the owner that holds the most bytes, not the most entries', () => {
    const owners = new Map<string, string>();
    const { r, forgotten } = retention({ maxBytes: 100, owner: (i) => owners.get(i.name) });
    const small = items('s1', 's2', 's3', 's4', 's5');
    const [big] = items('big');
    big!.bytes = 95;
    for (const item of small) {
      item.bytes = 2;
      owners.set(item.name, 'many-small');
      r.add(item);
    }
    owners.set('big', 'one-large');
    r.add(big!);
    expect(forgotten).toEqual(['big']);
    r.close();
  });

  it('passes over an owner whose entries are all busy for the next largest', () => {
    const owners = new Map<string, string>();
    const { r, forgotten } = retention({ max: 3, owner: (i) => owners.get(i.name) });
    const [a1, a2, b1, b2] = items('a1', 'a2', 'b1', 'b2');
    a1!.busy = a2!.busy = true;
    for (const [item, owner] of [[a1!, 'a'], [a2!, 'a'], [b1!, 'b'], [b2!, 'b']] as const) {
      owners.set(item.name, owner);
      r.add(item);
    }
    expect(forgotten).toEqual(['b1']);
    r.close();
  });
});
