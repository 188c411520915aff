/**
 * SIGKILL to what a SIGKILLed daemon left running: process group `pgid`. Already gone is fine:
 * the next conchd to start in this cgroup (another test's, in another worker) kills a dead
 * daemon's leftovers itself.
 */
export function killLeftover(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
