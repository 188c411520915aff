import type { SignalName } from '@conch/protocol';
import { groupAlive, signalGroup } from './process-group.js';

/** Grace between the polite signal and SIGKILL, when the caller names none. */
export const DEFAULT_KILL_GRACE_MS = 2000;

/**
 * Sends `signal` to the whole group, then SIGKILL to whatever is left after `graceMs`.
 * The escalation outlives the leader on purpose: grandchildren that ignore SIGTERM still die.
 */
export function terminateGroup(pgid: number, signal: SignalName = 'SIGTERM', graceMs = DEFAULT_KILL_GRACE_MS): void {
  if (!signalGroup(pgid, signal) || signal === 'SIGKILL') return;
  const timer = setTimeout(() => {
    if (groupAlive(pgid)) signalGroup(pgid, 'SIGKILL');
  }, graceMs);
  // The escalation must not keep a finished program (the CLI, a test) alive by itself.
  timer.unref();
}
