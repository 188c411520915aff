import { execAsHelper, posixSpawnAvailability } from '@conch/posix-spawn';
import { checkCwd } from './check-cwd.js';
import { asksForUser } from './requested-user.js';
import { spawnPipesNode } from './spawn-pipes-node.js';
import { spawnPipesPosix } from './spawn-pipes-posix.js';
import type { ProcessSpec, SpawnedProcess } from './spawned-process.js';

/** Forces child_process.spawn (`node`) instead of posix_spawn, e.g. to compare the two. */
export const SPAWN_IMPL_ENV = 'CONCH_SPAWN';

export type SpawnImplementation = 'posix' | 'node';

/**
 * Which way spawnPipes starts a process like `spec`: posix_spawn where the addon works (for
 * another uid/gid only with conch-exec-as beside it, which does the switch), else
 * child_process.spawn.
 */
export function spawnImplementation(spec?: Pick<ProcessSpec, 'uid' | 'gid'>): SpawnImplementation {
  const { implementation } = describeSpawn();
  if (implementation === 'posix' && spec && asksForUser(spec) && execAsHelper() instanceof Error) return 'node';
  return implementation;
}

/** How pipe commands are spawned on this machine, and why not through posix_spawn when not: for the daemon's log. */
export function describeSpawn(): { readonly implementation: SpawnImplementation; readonly reason?: string } {
  if (process.env[SPAWN_IMPL_ENV] === 'node') return { implementation: 'node', reason: `${SPAWN_IMPL_ENV}=node` };
  const availability = posixSpawnAvailability();
  return availability.available ? { implementation: 'posix' } : { implementation: 'node', reason: availability.reason };
}

/**
 * Starts a process with pipes, as the leader of a new session and process group, so that
 * kills reach the whole tree. Resolves once the process is running; rejects with a typed
 * error if it could not start.
 */
export async function spawnPipes(spec: ProcessSpec): Promise<SpawnedProcess> {
  if (spec.argv.length === 0) throw new TypeError('argv must not be empty');
  if (spawnImplementation(spec) === 'posix') return spawnPipesPosix(spec);
  checkCwd(spec.cwd);
  return spawnPipesNode(spec);
}
