import { groupExists, posixSpawnAvailability } from '@conch/posix-spawn';
import { signalNumber, type SignalName } from '@conch/protocol';

/**
 * Every command leads its own process group (spawned with setsid), so a signal to `-pgid`
 * reaches its children and grandchildren too. Returns false when the group is already gone.
 */
export function signalGroup(pgid: number, signal: SignalName): boolean {
  if (signalExistingGroup(pgid, signal)) return true;
  // forkpty returns the pid before the child has run setsid(), so a kill that comes right after
  // spawning finds no group yet. Until then the child is alone (setsid is the first thing it
  // does, before it can fork), so signalling it directly reaches everything there is.
  try {
    process.kill(pgid, signalNumber(signal));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * Signals the group only, never a lone process by that pid: for a group whose leader has
 * exited, whose pid may since belong to some other process. Returns false when the group is gone.
 */
export function signalExistingGroup(pgid: number, signal: SignalName): boolean {
  try {
    process.kill(-pgid, signalNumber(signal));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Whether any process is left in the group (signal 0 only checks). */
export function groupAlive(pgid: number): boolean {
  // No command's group has id 0 or 1, and kill() would take -0 for our own group and -1 for
  // every process: neither may ever be reported alive, and so signalled.
  if (!Number.isSafeInteger(pgid) || pgid < 2) return false;
  // Asked at every command's exit, when the answer is usually "gone", which process.kill says
  // with an exception: the addon says it with a boolean.
  if (posixSpawnAvailability().available) return groupExists(pgid);
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    // EPERM means members exist that we may not signal (they changed uid): still alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
