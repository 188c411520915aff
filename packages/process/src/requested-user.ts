import type { ProcessSpec } from './spawned-process.js';

/**
 * The uid and gid a spec switches to, or undefined for no switch. Asking for one id keeps the
 * current value of the other, as child_process.spawn does; spawners that switch both at once
 * (conch-exec-as) need both.
 */
export function requestedUser(spec: Pick<ProcessSpec, 'uid' | 'gid'>): { uid: number; gid: number } | undefined {
  if (spec.uid === undefined && spec.gid === undefined) return undefined;
  return { uid: spec.uid ?? process.getuid?.() ?? 0, gid: spec.gid ?? process.getgid?.() ?? 0 };
}
