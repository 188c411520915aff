import type { SpawnUser } from '@conch/posix-spawn';
import { ConchError, ErrorCodes } from '@conch/protocol';
import type { ProcessSpec } from './spawned-process.js';
import { PASSWD_FILE, memberGroups, passwdEntry } from './user-database.js';

/**
 * Who a spec runs as, or undefined for no switch.
 *
 * - A uid alone is that user as login would make it: the primary group of its /etc/passwd entry,
 *   and the supplementary groups /etc/group gives it. Keeping the daemon's gid instead (what
 *   child_process.spawn does) would run the workload in root's group. A uid with no entry is
 *   refused, since its group is unknown, unless it is the daemon's own (its gid stays).
 * - A gid alone keeps the daemon's uid. Given both, the ids are exactly those, and there are no
 *   supplementary groups.
 * - A daemon that is not root and is asked for its own ids switches nothing.
 */
export function requestedUser(spec: Pick<ProcessSpec, 'uid' | 'gid'>): SpawnUser | undefined {
  const user = resolveUser(spec);
  // Not root, asked to be what it is already: nothing to switch (and setgroups would be refused).
  if (user && process.getuid?.() !== 0 && user.uid === process.getuid?.() && user.gid === process.getgid?.()) return undefined;
  return user;
}

function resolveUser({ uid, gid }: Pick<ProcessSpec, 'uid' | 'gid'>): SpawnUser | undefined {
  if (uid === undefined && gid === undefined) return undefined;
  if (gid !== undefined) return { uid: uid ?? process.getuid?.() ?? 0, gid };
  const entry = passwdEntry(uid!);
  if (entry) return { uid: uid!, gid: entry.gid, groups: memberGroups(entry.name, entry.gid) };
  if (uid === process.getuid?.()) return { uid: uid!, gid: process.getgid?.() ?? 0 };
  throw new ConchError(
    ErrorCodes.SPAWN_FAILED,
    `uid ${uid} has no entry in ${PASSWD_FILE}, so its group is unknown: give a gid with it`,
    { uid },
  );
}

/** Whether a spec asks for a user at all (without reading the user database). */
export function asksForUser(spec: Pick<ProcessSpec, 'uid' | 'gid'>): boolean {
  return spec.uid !== undefined || spec.gid !== undefined;
}
