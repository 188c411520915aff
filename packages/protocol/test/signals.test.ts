import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { SIGNALS, isSignalName, normalizeSignal, signalNumber } from '../src/index.js';

describe('signal names', () => {
  it('name every Linux signal a process can die of, the real-time ones as kill -l does', () => {
    const numbers = Object.values(SIGNALS).sort((a, b) => a - b);
    // 1–31, then 34–64: glibc keeps 32 and 33 for itself.
    expect(numbers).toEqual([...Array.from({ length: 31 }, (_, i) => i + 1), ...Array.from({ length: 31 }, (_, i) => i + 34)]);
    expect([34, 35, 49, 50, 63, 64].map((n) => normalizeSignal(n))).toEqual(['SIGRTMIN', 'SIGRTMIN+1', 'SIGRTMIN+15', 'SIGRTMAX-14', 'SIGRTMAX-1', 'SIGRTMAX']);
    for (const name of Object.keys(SIGNALS)) expect(isSignalName(name) && normalizeSignal(signalNumber(name as never))).toBe(name);
  });

  it("agree with this machine's numbers, and take Node's aliases for the canonical names", () => {
    for (const [name, n] of Object.entries(constants.signals)) {
      const canonical = normalizeSignal(name);
      expect({ name, number: canonical && signalNumber(canonical) }).toEqual({ name, number: n });
    }
    expect([normalizeSignal('SIGIOT'), normalizeSignal('poll'), normalizeSignal(6), normalizeSignal(29)]).toEqual(['SIGABRT', 'SIGIO', 'SIGABRT', 'SIGIO']);
  });

  it('take a real-time signal from either end, and nothing out of range', () => {
    expect([normalizeSignal('rtmin+20'), normalizeSignal('SIGRTMAX-10'), normalizeSignal('RTMAX'), normalizeSignal('SIGRTMIN+0')]).toEqual(['SIGRTMAX-10', 'SIGRTMAX-10', 'SIGRTMAX', 'SIGRTMIN']);
    for (const bad of ['SIGRTMIN+31', 'SIGRTMAX+1', 'SIGRTMIN-1', 'SIGRTMAX-31', 'SIGRTMIN+', 32, 33, 65, 0, 'SIGNOPE']) expect(normalizeSignal(bad)).toBeUndefined();
    // On the wire only the canonical spelling is a signal name.
    expect([isSignalName('SIGRTMIN+20'), isSignalName('SIGRTMAX-10')]).toEqual([false, true]);
  });
});
