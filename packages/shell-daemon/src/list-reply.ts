import { encodeBody, type CommandInfo, type Message, type SessionInfo } from '@conch/protocol';

/** A listed argv keeps at most this many characters in all; the rest of it is cut. */
const LISTED_ARGV_CHARS = 1024;
const CUT = '…';
/** What the reply around the sessions' entries takes at most (type, id, array and map headers). */
const REPLY_OVERHEAD_BYTES = 64;

/**
 * An argv as a list shows it: at most LISTED_ARGV_CHARS characters in all, the element where
 * the cut falls ending in "…" and the elements after it left out. A shell command's argv holds
 * the whole script: thousands of them in full would be megabytes for one ListSessions.
 */
export function listedArgv(argv: readonly string[]): readonly string[] {
  let room = LISTED_ARGV_CHARS;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.length > room) return [...argv.slice(0, i), arg.slice(0, room) + CUT];
    room -= arg.length;
  }
  return argv;
}

/** One session as listed, before fitting. */
export interface ListedSession {
  readonly session: string;
  readonly cwd: string;
  /** In start order. */
  readonly commands: readonly CommandInfo[];
}

/**
 * The sessions as one SessionList body of at most `maxBytes` (the client's frame limit, less
 * room for the prefix): when they do not fit, exited commands are left out, oldest first, then
 * running ones, oldest first; each session says how many of its own were (`omittedCommands`).
 * A reply the client cannot take would end its connection, and a daemon keeps thousands of
 * exited commands for their retention.
 */
export function fitSessionList(sessions: readonly ListedSession[], maxBytes: number): SessionInfo[] {
  const size = (value: unknown) => encodeBody(value as Message).length;
  let total = REPLY_OVERHEAD_BYTES;
  // Per command: its session's index, its place in start order, its size.
  const entries: { session: number; at: number; exited: boolean; bytes: number }[] = [];
  sessions.forEach((s, session) => {
    // The session's own fields, with room for its omittedCommands.
    total += size({ session: s.session, cwd: s.cwd, commands: [], omittedCommands: 0xffffffff });
    s.commands.forEach((c, at) => {
      const bytes = size(c);
      total += bytes;
      entries.push({ session, at, exited: c.state === 'exited', bytes });
    });
  });
  const omitted = sessions.map(() => new Set<number>());
  if (total > maxBytes) {
    // Exited before running; within each, oldest first (start order across sessions is not
    // known, so a session's own order decides, sessions taken in turn).
    const order = entries.slice().sort((a, b) => Number(b.exited) - Number(a.exited) || a.at - b.at);
    for (const entry of order) {
      if (total <= maxBytes) break;
      omitted[entry.session]!.add(entry.at);
      total -= entry.bytes;
    }
  }
  return sessions.map((s, i) => {
    const left = omitted[i]!;
    if (left.size === 0) return { session: s.session, cwd: s.cwd, commands: [...s.commands] };
    return { session: s.session, cwd: s.cwd, commands: s.commands.filter((_, at) => !left.has(at)), omittedCommands: left.size };
  });
}
