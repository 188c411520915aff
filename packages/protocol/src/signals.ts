const STANDARD = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8,
  SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
  SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22,
  SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29,
  SIGPWR: 30, SIGSYS: 31,
} as const;

/** glibc's SIGRTMIN and SIGRTMAX (32 and 33 are its own, for threads). */
const RTMIN = 34;
const RTMAX = 64;

type RealTimeName =
  | 'SIGRTMIN' | 'SIGRTMIN+1' | 'SIGRTMIN+2' | 'SIGRTMIN+3' | 'SIGRTMIN+4' | 'SIGRTMIN+5' | 'SIGRTMIN+6' | 'SIGRTMIN+7' | 'SIGRTMIN+8' | 'SIGRTMIN+9' | 'SIGRTMIN+10' | 'SIGRTMIN+11' | 'SIGRTMIN+12' | 'SIGRTMIN+13' | 'SIGRTMIN+14' | 'SIGRTMIN+15'
  | 'SIGRTMAX-14' | 'SIGRTMAX-13' | 'SIGRTMAX-12' | 'SIGRTMAX-11' | 'SIGRTMAX-10' | 'SIGRTMAX-9' | 'SIGRTMAX-8' | 'SIGRTMAX-7' | 'SIGRTMAX-6' | 'SIGRTMAX-5' | 'SIGRTMAX-4' | 'SIGRTMAX-3' | 'SIGRTMAX-2' | 'SIGRTMAX-1' | 'SIGRTMAX';

/**
 * The real-time signals as `kill -l` names them: SIGRTMIN, SIGRTMIN+1 … SIGRTMIN+15, then
 * SIGRTMAX-14 … SIGRTMAX-1, SIGRTMAX.
 */
const REAL_TIME = Object.fromEntries(
  Array.from({ length: RTMAX - RTMIN + 1 }, (_, i) => {
    const n = RTMIN + i;
    const name = n === RTMIN ? 'SIGRTMIN' : n === RTMAX ? 'SIGRTMAX' : n - RTMIN <= 15 ? `SIGRTMIN+${n - RTMIN}` : `SIGRTMAX-${RTMAX - n}`;
    return [name, n];
  }),
) as Record<RealTimeName, number>;

/**
 * Signal names as they travel on the wire, with Linux numbers. Names, not numbers, are the
 * contract because numbers differ between platforms; the numbers here serve `128 + n` exit codes.
 */
export const SIGNALS: Readonly<Record<SignalName, number>> = { ...STANDARD, ...REAL_TIME };

export type SignalName = keyof typeof STANDARD | RealTimeName;

const BY_NUMBER = new Map(Object.entries(SIGNALS).map(([name, n]) => [n, name as SignalName]));

export function isSignalName(value: unknown): value is SignalName {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(SIGNALS, value);
}

/**
 * Accepts `SIGTERM`, `TERM`, `term` or `15`, and Node's aliases (`SIGIOT`, `SIGPOLL`); a real-time
 * signal also as `RTMIN+n` or `RTMAX-n` from either end. Returns the canonical name or undefined.
 */
export function normalizeSignal(value: string | number): SignalName | undefined {
  if (typeof value === 'number' || /^\d+$/.test(value)) return BY_NUMBER.get(Number(value));
  const upper = value.toUpperCase();
  const prefixed = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const name = ALIASES[prefixed] ?? prefixed;
  if (isSignalName(name)) return name;
  const rt = /^SIGRT(MIN|MAX)([+-])(\d{1,2})$/.exec(name);
  if (!rt || (rt[1] === 'MIN') !== (rt[2] === '+')) return undefined;
  return BY_NUMBER.get(rt[1] === 'MIN' ? RTMIN + Number(rt[3]) : RTMAX - Number(rt[3]));
}

/** Other names for the same signals (Node's os.constants.signals lists these too). */
const ALIASES: Readonly<Record<string, SignalName>> = { SIGIOT: 'SIGABRT', SIGPOLL: 'SIGIO', SIGCLD: 'SIGCHLD', SIGUNUSED: 'SIGSYS' };

/** A real-time signal's name (SIGRTMIN … SIGRTMAX): what a client from before them does not take. */
export function isRealTimeSignal(name: string): boolean {
  return name.startsWith('SIGRT');
}

export function signalNumber(name: SignalName): number {
  return SIGNALS[name]!;
}
