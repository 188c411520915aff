import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { signalNumber, type SignalName } from '@conch/protocol';

/** `off` keeps commands out of cgroups: kills then reach a command's process group only. */
export const CGROUPS_ENV = 'CONCH_CGROUPS';

/**
 * auto: cgroups where this machine gives them, else process groups alone. require: a command
 * that cannot have one does not start. off: none (as CONCH_CGROUPS=off).
 */
export type CgroupMode = 'auto' | 'require' | 'off';

/** Empty cgroups kept ready, so that the exec path pays for no mkdir. */
const SPARES = 4;
/**
 * Empty cgroups kept for reuse at most. A process born into a cgroup that was just made costs
 * about 0.5 ms more to start than one born into a cgroup used before (measured here: median
 * 0.42–0.91 ms against 0.17–0.20 ms from clone to exec), so used ones go back to the pool.
 */
const POOL = 32;

/**
 * One command's cgroup (v2, no controllers: only membership). The command joins it before it
 * execs, so everything it ever starts is in it, whatever it does to leave its process group
 * (setsid, a double fork): the cgroup is how a kill reaches all of it. A process can leave only
 * by writing to another cgroup's cgroup.procs, which takes root.
 */
export class CommandCgroup {
  readonly path: string;
  readonly #owner: CommandCgroups | undefined;
  #joinedLate = false;
  #killed = false;

  constructor(path: string, owner?: CommandCgroups) {
    this.path = path;
    this.#owner = owner;
  }

  /** The process was moved in after it started (adopt): what it forked before may be outside. */
  get joinedLate(): boolean {
    return this.#joinedLate;
  }

  /** What a spawner writes "0" to, from the child before its exec, to join. */
  get procs(): string {
    return join(this.path, 'cgroup.procs');
  }

  /** The pids in it now; none once it is removed (or when it cannot be read: nothing to signal then). */
  pids(): number[] {
    let text: string;
    try {
      text = readFileSync(this.procs, 'latin1');
    } catch {
      return [];
    }
    // 0 stands for a process our pid namespace cannot see: never a pid to signal (kill(0)
    // would be our own group), and neither are we.
    return text.split('\n').map(Number).filter((pid) => pid > 0 && pid !== process.pid);
  }

  /**
   * Whether any process is left (cgroup.events says so without listing them). Only a cgroup
   * that is gone is empty for sure; one that cannot be read now (EMFILE) counts as populated,
   * or it could go back to the pool, and to another command, with a process still in it.
   */
  populated(): boolean {
    try {
      return readFileSync(join(this.path, 'cgroup.events'), 'latin1').includes('populated 1');
    } catch (err) {
      return (err as NodeJS.ErrnoException).code !== 'ENOENT';
    }
  }

  /**
   * Not to be reused: it was killed through cgroup.kill, by us or by its own workload (a leader
   * killed by SIGKILL says so), and a process later born into it with CLONE_INTO_CGROUP was
   * SIGKILLed at once here (Linux 6.18 compares the parent's cgroup's kill count, not the
   * target's).
   */
  markKilled(): void {
    this.#killed = true;
  }

  /**
   * `signal` to each process in it whose process group is not `skipGroup`, nor the leader of
   * that group (the caller signals the group as a whole, and reaches a forkpty child that has
   * not yet run setsid by its pid: no process should get the signal twice). Returns how many.
   */
  signal(signal: SignalName, skipGroup?: number): number {
    let sent = 0;
    for (const pid of this.pids()) {
      if (skipGroup !== undefined) {
        if (pid === skipGroup) continue;
        const group = processGroupOf(pid);
        // In the group just signalled: not to be signalled twice. Or gone since the listing (the
        // group's signal may have ended it): nothing to signal. A stat that failed for another
        // reason (no fds left) must not spare a live process, hence the second look.
        if (group === undefined ? !existsSync(`/proc/${pid}`) : group === skipGroup) continue;
      }
      try {
        process.kill(pid, signalNumber(signal));
        sent++;
      } catch {
        // Gone since the listing.
      }
    }
    return sent;
  }

  /**
   * SIGKILL to everything in it at once: cgroup.kill (Linux 5.14) stops forks while it works,
   * so no child can be born unseen. Older kernels get each listed pid killed, until none is left.
   */
  kill(): void {
    this.markKilled();
    try {
      writeFileSync(join(this.path, 'cgroup.kill'), '1');
      return;
    } catch {
      // No cgroup.kill (ENOENT), or removed: a listing of a removed cgroup is empty.
    }
    for (let round = 0; round < 100 && this.signal('SIGKILL') > 0; round++) {}
  }

  /**
   * Done with, once empty: kept for another command (see POOL), or removed. False while a
   * process is left, and then it stays. `seenEmpty`: the caller has just read it empty.
   */
  release(seenEmpty = false): boolean {
    if (!seenEmpty && this.populated()) {
      // Still exiting (a child that failed to exec), or unreadable: never to the pool; removed
      // once it can be, or left for the sweep.
      setTimeout(() => this.remove(), 1000).unref();
      return false;
    }
    // Not one that was killed (see markKilled), nor one whose first process came in late.
    if (this.#owner && !this.#joinedLate && !this.#killed && this.#owner.keep(this.path)) return true;
    return this.remove();
  }

  /** Removes it once empty; false while a process is left (EBUSY). */
  remove(): boolean {
    try {
      rmdirSync(this.path);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT';
    }
  }

  /**
   * Best effort for spawners that cannot make the child join before its exec (child_process,
   * forkpty without conch-exec-as): whatever the program forks before this write stays outside.
   */
  adopt(pid: number): void {
    this.#joinedLate = true;
    try {
      writeFileSync(this.procs, String(pid));
    } catch {
      // Already gone, or not ours to move.
    }
  }
}

/**
 * This process's cgroups for commands: `conch-<pid>-<start>-<pidns>-<random>` under its own cgroup (random, so
 * that two processes with one pid, in two pid namespaces, or two worker threads, never share
 * one), one directory per command inside. No controller is enabled in either, so a cgroup that
 * holds processes (a systemd unit's, a container's) may have them as children (cgroup v2's
 * no-internal-processes rule binds only with controllers).
 */
export class CommandCgroups {
  readonly path: string;
  /** Empty cgroups: made ahead of use, or given back by finished commands. */
  readonly #ready: string[] = [];
  #next = 0;
  #refilling = false;

  constructor(path: string) {
    this.path = path;
  }

  /** An empty cgroup for one command, its alone until it releases it. Throws the mkdir's error when there is none. */
  take(): CommandCgroup {
    let path = this.#ready.pop();
    // A ready one can be gone: removed by hand, or by a sweep that misjudged us.
    if (path === undefined || !existsSync(path)) path = this.#make();
    if (this.#ready.length < SPARES && !this.#refilling) {
      this.#refilling = true;
      setImmediate(() => {
        this.#refilling = false;
        try {
          while (this.#ready.length < SPARES) this.#ready.push(this.#make());
        } catch {
          // The next take() makes its own, and reports why it cannot.
        }
      });
    }
    return new CommandCgroup(path, this);
  }

  /** Takes back an empty cgroup of ours for reuse; false when the pool is full. */
  keep(path: string): boolean {
    if (this.#ready.length >= POOL) return false;
    this.#ready.push(path);
    return true;
  }

  /** Kills whatever is left in every command cgroup and removes them: for a daemon's shutdown. */
  destroy(): void {
    killTree(this.path);
    this.#ready.length = 0;
    removeTree(this.path);
  }

  #make(): string {
    const path = join(this.path, String(++this.#next));
    try {
      mkdirSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Our own directory was removed under us: make it again.
      mkdirSync(this.path);
      mkdirSync(path);
    }
    return path;
  }
}

let found: CommandCgroups | Error | undefined;
let mode: CgroupMode = 'auto';

/** How commands get cgroups from now on; set before the first command starts (conchd --cgroups). */
export function setCgroupMode(next: CgroupMode): void {
  mode = next;
  found = undefined;
}

/** Whether a command that cannot have a cgroup must not start. */
export function cgroupsRequired(): boolean {
  return mode === 'require';
}

/**
 * This process's command cgroups, made on first use, or why there are none: cgroup2 not
 * mounted, our cgroup not writable (not root, not delegated), CONCH_CGROUPS=off, --cgroups off.
 */
export function commandCgroups(): CommandCgroups | Error {
  if (found === undefined) found = findCommandCgroups();
  return found;
}

function findCommandCgroups(): CommandCgroups | Error {
  if (mode === 'off') return new Error('cgroups are off (--cgroups off)');
  if (process.env[CGROUPS_ENV] === 'off') return new Error(`${CGROUPS_ENV}=off`);
  let own: string;
  try {
    own = ownCgroupDir();
  } catch (err) {
    return err as Error;
  }
  sweepStale(own);
  const path = join(own, `conch-${ownerName()}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(path);
  } catch (err) {
    return new Error(`cannot create a cgroup in ${own}: ${(err as Error).message}`);
  }
  // The empty ones; a command cgroup still holding processes stays, for a later sweep.
  process.once('exit', () => removeTree(path));
  return new CommandCgroups(path);
}

/** The directory of this process's cgroup in the cgroup2 hierarchy (`0::/path` in /proc/self/cgroup). */
function ownCgroupDir(): string {
  const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
  if (!line) throw new Error('no cgroup2 hierarchy (/proc/self/cgroup has no 0:: line)');
  const own = line.slice(3);
  // mountinfo: id parent major:minor root mountpoint options ... - fstype source superoptions
  for (const entry of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [fields, fs] = entry.split(' - ');
    if (!fs?.startsWith('cgroup2 ')) continue;
    const [, , , root, mountpoint] = fields!.split(' ');
    if (root === undefined || mountpoint === undefined) continue;
    const rel = root === '/' ? own : own.startsWith(`${root}/`) || own === root ? own.slice(root.length) : undefined;
    if (rel === undefined) continue;
    const dir = join(unescapeMount(mountpoint), rel);
    if (existsSync(join(dir, 'cgroup.procs'))) return dir;
  }
  throw new Error(`cgroup2 is not mounted where our cgroup (${own}) can be reached`);
}

/**
 * Ends what dead processes left. A directory `conch-<pid>-<start>-<pidns>-<random>` of our pid
 * namespace whose owner is gone (no process with that pid and start time, or only its zombie) has
 * its commands still running killed: a daemon that crashed or was SIGKILLed leaves them behind,
 * reported lost to their clients, and nobody else would ever end them. Then it is removed once
 * empty. A pid means something only in its own namespace, so other directories (another
 * namespace's, or ours when our namespace cannot be told) lose only their empty cgroups, once no
 * process of ours has that pid, as before directories were named this way.
 */
function sweepStale(own: string): void {
  const namespace = pidNamespace();
  for (const name of safeReaddir(own)) {
    const dir = join(own, name);
    const named = /^conch-(\d+)-(\d+)-(\d+)-[0-9a-f]+$/.exec(name);
    if (named && namespace !== undefined && named[3] === namespace) {
      const [pid, start] = [Number(named[1]), named[2]];
      if (pid === process.pid || processStart(pid) === start) continue;
      const killed = killTree(dir);
      removeTree(dir);
      // What was killed takes a moment to exit; until then its cgroup cannot be removed.
      if (killed) setTimeout(() => removeTree(dir), 1000).unref();
      continue;
    }
    const pid = /^conch-(\d+)-/.exec(name)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !pidAlive(Number(pid))) removeTree(dir);
  }
}

/**
 * This process's name part `<pid>-<start>-<pidns>`: what tells its directory from a dead
 * process's. Where either cannot be read, `<pid>-unknown`, which no sweep takes for dead.
 */
function ownerName(): string {
  const [start, namespace] = [processStart(process.pid), pidNamespace()];
  return start !== undefined && namespace !== undefined ? `${process.pid}-${start}-${namespace}` : `${process.pid}-unknown`;
}

/** This process's pid namespace (the inode of /proc/self/ns/pid), or undefined when it cannot be told. */
function pidNamespace(): string | undefined {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * When process `pid` started (field 22 of /proc/PID/stat, clock ticks since boot): with the pid,
 * which one it is. Undefined once it is gone, or a zombie (dead, not yet reaped).
 */
function processStart(pid: number): string | undefined {
  const fields = statFields(pid);
  return fields === undefined || fields[0] === 'Z' ? undefined : fields[19];
}

/** SIGKILL (cgroup.kill) to each command cgroup in `path` that holds a process; whether there was one. */
function killTree(path: string): boolean {
  let killed = false;
  for (const name of safeReaddir(path)) {
    const cgroup = new CommandCgroup(join(path, name));
    if (!cgroup.populated()) continue;
    cgroup.kill();
    killed = true;
  }
  return killed;
}

/** rmdir of each empty command cgroup, then of the directory; a populated one stays, and so does the directory. */
function removeTree(path: string): void {
  for (const name of safeReaddir(path)) new CommandCgroup(join(path, name)).remove();
  new CommandCgroup(path).remove();
}

function safeReaddir(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The process group of `pid` (field 5 of /proc/PID/stat), or undefined once it is gone. */
function processGroupOf(pid: number): number | undefined {
  const fields = statFields(pid);
  return fields && Number(fields[2]);
}

/**
 * The fields of /proc/PID/stat from the third (the state) on: after the parenthesised name,
 * which may hold spaces. Undefined once the process is gone.
 */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Mount points in mountinfo escape space, tab, newline and backslash as octal. */
function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
