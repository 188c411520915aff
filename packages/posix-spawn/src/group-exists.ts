import { binding } from './binding.js';

/**
 * Whether any process is left in process group `pgid`: kill(-pgid, 0) succeeding or failing
 * with EPERM (members that may not be signalled). Unlike process.kill it builds no exception
 * for ESRCH, the usual answer once a command has exited. Throws when the addon does not load
 * (see posixSpawnAvailability) or `pgid` is not above 1.
 */
export function groupExists(pgid: number): boolean {
  return binding().groupExists(pgid);
}
