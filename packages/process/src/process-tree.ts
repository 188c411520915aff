import type { SignalName } from '@conch/protocol';
import type { CommandCgroup } from './cgroup.js';
import { groupAlive, signalExistingGroup, signalGroup } from './process-group.js';

/** Grace between the polite signal and SIGKILL, when the caller names none. */
export const DEFAULT_KILL_GRACE_MS = 2000;

/** How often, after the leader's exit, to look for the last of the processes it left. */
const WATCH_MS = 1000;

/**
 * Everything a command started: the process group its leader leads and, where there are
 * cgroups, the cgroup it joined before it ran, which also holds what left the group (setsid, a
 * double fork). Signals and kills reach all of it, and nothing else: once the leader has exited
 * its group id may be given to a new process after the group empties, so from then on the
 * group is signalled only while it has members, and the cgroup only by the pids it lists.
 */
export class ProcessTree {
  readonly pgid: number;
  /** Where the command's processes are kept, when this machine gives us cgroups. */
  readonly cgroup: CommandCgroup | undefined;
  #leaderExited = false;
  #gone = false;

  constructor(pgid: number, cgroup?: CommandCgroup) {
    this.pgid = pgid;
    this.cgroup = cgroup;
  }

  /**
   * Called when the leader has exited and been reaped. Watches for the rest to go, then
   * removes the cgroup; until then, a kill still reaches what the leader left behind.
   */
  leaderExited(exit?: { readonly signal: string | null }): void {
    if (this.#leaderExited) return;
    this.#leaderExited = true;
    // Killed by SIGKILL: perhaps through cgroup.kill by its own workload, which we cannot see.
    if (exit?.signal === 'SIGKILL') this.cgroup?.markKilled();
    // Looked at after the exit has been dealt with: an exec's reply need not wait for a rmdir.
    setImmediate(() => {
      if (!this.alive()) return;
      const timer = setInterval(() => {
        if (!this.alive()) clearInterval(timer);
      }, WATCH_MS);
      timer.unref();
    });
  }

  /** One signal to every process, no escalation. False when none was left to get it. */
  signal(signal: SignalName): boolean {
    if (this.#gone) return false;
    // The group first, at once (a fork during the signal cannot slip past), then whatever
    // the cgroup holds outside it, each process once.
    const group = this.#signalGroup(signal);
    const rest = this.cgroup ? this.cgroup.signal(signal, this.#throughGroup ? this.pgid : undefined) > 0 : false;
    return group || rest;
  }

  /**
   * `signal` to every process, then SIGKILL to whatever is left after `graceMs`. The
   * escalation outlives the leader on purpose: processes that ignore SIGTERM still die.
   */
  terminate(signal: SignalName = 'SIGTERM', graceMs = DEFAULT_KILL_GRACE_MS): void {
    if (signal === 'SIGKILL') {
      this.#killAll();
      return;
    }
    if (!this.signal(signal)) return;
    const timer = setTimeout(() => {
      if (this.alive()) this.#killAll();
    }, graceMs);
    // The escalation must not keep a finished program (the CLI, a test) alive by itself.
    timer.unref();
  }

  /** Whether any process is left. Once none is after the leader's exit, none ever will be. */
  alive(): boolean {
    if (this.#gone) return false;
    const cgroup = this.cgroup;
    const alive = (cgroup?.populated() ?? false) || (this.#throughGroup && groupAlive(this.pgid));
    if (!alive && this.#leaderExited) {
      this.#gone = true;
      // Nothing can join a cgroup nobody is in but by a write of root's: it is free for another
      // command (or removed; that can fail only for such a write, and then it stays for a sweep).
      // (Just read empty, above.)
      cgroup?.release(true);
    }
    return alive;
  }

  #killAll(): void {
    if (this.#gone) return;
    this.cgroup?.kill();
    // Also the group: a forkpty child runs conch-exec-as, which joins the cgroup, only after
    // its fork, and signalGroup reaches it alone before its setsid.
    this.#signalGroup('SIGKILL');
  }

  /**
   * Whether the group is to be reached as a group: while the leader lives (its id is ours, and
   * a forkpty child may not have joined the cgroup yet), and after, where no cgroup holds all
   * of it (none, or one the leader was moved into after it started). Otherwise the cgroup's
   * list is what reaches everything, and the group's id may be anyone's by now.
   */
  get #throughGroup(): boolean {
    return !this.#leaderExited || !this.cgroup || this.cgroup.joinedLate;
  }

  /** `signal` to the group as such, where it is to be reached so (see #throughGroup). */
  #signalGroup(signal: SignalName): boolean {
    if (!this.#throughGroup) return false;
    // After the leader's exit only a group that still has members: never a lone process
    // that merely has the leader's old pid now.
    return this.#leaderExited ? signalExistingGroup(this.pgid, signal) : signalGroup(this.pgid, signal);
  }
}
