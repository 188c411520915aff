/**
 * Signal names as they travel on the wire, with Linux numbers. Names, not numbers, are the
 * contract because numbers differ between platforms; the numbers here serve `128 + n` exit codes.
 */
export const SIGNALS = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8,
  SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
  SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22,
  SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29,
  SIGPWR: 30, SIGSYS: 31,
} as const;

export type SignalName = keyof typeof SIGNALS;

export function isSignalName(value: unknown): value is SignalName {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(SIGNALS, value);
}

/** Accepts `SIGTERM`, `TERM`, `term` or `15`; returns the canonical name or undefined. */
export function normalizeSignal(value: string | number): SignalName | undefined {
  if (typeof value === 'number' || /^\d+$/.test(value)) {
    const n = Number(value);
    return (Object.keys(SIGNALS) as SignalName[]).find((name) => SIGNALS[name] === n);
  }
  const upper = value.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return isSignalName(name) ? name : undefined;
}

export function signalNumber(name: SignalName): number {
  return SIGNALS[name];
}
