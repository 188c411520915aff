import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import { basename, join, posix } from 'node:path';
import { execAsHelper, posixSpawn } from '@conch/posix-spawn';
import { signalNumber } from '@conch/protocol';
import { describe, expect, it, vi } from 'vitest';
// The addon's own counters; the package exports no way to them.
import { binding } from '../../posix-spawn/src/binding.js';
import { CommandSession, commandCgroups, setCgroupMode, type CommandRequest, type Execution } from '../src/index.js';

/**
 * Commands in cgroups of their own: what leaves the process group (setsid, a double fork) is
 * still reached by kills and signals. Needs cgroup2 mounted and our cgroup writable (root, or
 * a delegated cgroup); elsewhere each test says why it cannot run.
 */
const cgroups = commandCgroups();
const why = cgroups instanceof Error ? `no cgroups for commands here: ${cgroups.message}` : undefined;

const alive = (pid: number): boolean => {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

const cgroupOf = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'))!.slice(3);

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** Starts `request` and collects the pids it prints, one per line, until it has printed `count`. */
async function startPrinting(session: CommandSession, request: CommandRequest, count: number) {
  let text = '';
  const execution = await session.start(request, (_fd, data) => (text += data.toString()));
  await until(() => text.split(/\r?\n/).filter(Boolean).length >= count, `${count} pids were printed (got ${JSON.stringify(text)})`);
  const pids = text.split(/\r?\n/).filter(Boolean).slice(0, count).map(Number);
  return { execution, pids, output: () => text };
}

/** Two ways out of the group: setsid, and a double fork under setsid (how daemons detach). */
const ESCAPES = "setsid sleep 301 & echo $!; setsid sh -c 'sleep 302 & echo $!'; sleep 300";

function skipWithout(ctx: { skip: () => void }): void {
  if (why) {
    console.log(`skipped: ${why}`);
    ctx.skip();
  }
}

describe('commands in cgroups of their own', () => {
  it('joins the cgroup before the program runs: the addon spawn, and conch-exec-as for another spawner', async (ctx) => {
    skipWithout(ctx);
    if (cgroups instanceof Error) return;
    const cgroup = cgroups.take();
    const expected = `0::${posix.join(cgroupOf(process.pid), basename(cgroups.path), basename(cgroup.path))}`;
    const spawns = binding().cgroupSpawns();
    const child = posixSpawn({ file: '/bin/cat', argv: ['cat', '/proc/self/cgroup'], env: {}, cwd: '/', stdin: false, cgroup: cgroup.path });
    // Born in it (clone3's CLONE_INTO_CGROUP) on x86-64; elsewhere by its own write.
    const way = process.arch === 'x64' ? 'bornIn' : 'joinedByWrite';
    expect(binding().cgroupSpawns()[way]).toBe(spawns[way] + 1);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((r) => child.stdout.once('end', () => r()));
    expect(out.split('\n')).toContain(expected);
    const helper = execAsHelper();
    if (helper instanceof Error) throw helper;
    const viaHelper = spawnSync(helper, ['--cgroup', cgroup.procs, '/bin/cat', 'cat', '/proc/self/cgroup'], { encoding: 'utf8' });
    expect(viaHelper.stdout.split('\n')).toContain(expected);
    await child.exited;
    await until(() => cgroup.remove(), 'the cgroup is empty');
  });

  it('a spawn into a cgroup that is gone fails with the reason, and starts nothing', () => {
    expect(() =>
      posixSpawn({ file: '/bin/true', argv: ['true'], env: {}, cwd: '/', stdin: false, cgroup: '/sys/fs/cgroup/no-such-conch-cgroup' }),
    ).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'cgroup' }));
  });

  for (const mode of ['pipes', 'a PTY'] as const) {
    const pty = mode === 'a PTY' ? { cols: 80, rows: 24 } : undefined;

    it(`kill() reaches what left the group, on ${mode}, and the cgroup is given back when they have gone`, async (ctx) => {
      skipWithout(ctx);
      const session = new CommandSession({ cwd: '/' });
      const { execution, pids } = await startPrinting(session, { command: ESCAPES, ...(pty ? { pty } : {}), killGraceMs: 300 }, 2);
      for (const pid of pids) expect(alive(pid), `escapee ${pid} before the kill`).toBe(true);
      const dir = cgroupDir(execution);
      // Out of the group and session, in the command's cgroup.
      for (const pid of pids) {
        expect(readFileSync(`/proc/${pid}/stat`, 'utf8')).not.toContain(` ${execution.pid} ${execution.pid} `);
        expect(cgroupOf(pid)).toBe(cgroupOf(execution.pid));
      }
      expect(dir.endsWith(cgroupOf(pid0(pids)))).toBe(true);
      execution.kill('SIGTERM');
      const result = await execution.done;
      expect(result.signal).not.toBeNull();
      await until(() => pids.every((pid) => !alive(pid)), 'every escapee is gone');
      await until(() => released(dir), `${dir} is empty and given back`);
      session.close();
    });
  }

  it('the timeout reaches what left the group, past a SIGTERM it ignores', async (ctx) => {
    skipWithout(ctx);
    const session = new CommandSession({ cwd: '/' });
    const command = "setsid sh -c 'trap \"\" TERM; echo $$; while :; do sleep 0.05; done' & sleep 300";
    const { execution, pids } = await startPrinting(session, { command, timeoutMs: 300, killGraceMs: 300 }, 1);
    expect((await execution.done).timedOut).toBe(true);
    await until(() => !alive(pids[0]!), 'the escapee that ignores SIGTERM is killed');
    session.close();
  });

  it('after the leader has exited, a kill still reaches what it left behind', async (ctx) => {
    skipWithout(ctx);
    const session = new CommandSession({ cwd: '/' });
    const { execution, pids } = await startPrinting(session, { command: 'setsid sleep 303 > /dev/null & echo $!' }, 1);
    expect((await execution.done).exitCode).toBe(0);
    expect(alive(pids[0]!)).toBe(true);
    const dir = cgroupDir(execution);
    expect(existsSync(dir)).toBe(true);
    execution.tree.terminate('SIGTERM', 300);
    await until(() => !alive(pids[0]!), 'the leftover is killed');
    // The tree's watch notices within a second or so and gives the cgroup back.
    await until(() => released(dir), `${dir} is empty and given back`);
    session.close();
  });

  it('a signal goes to each process once: the group as a whole, the escapee by its pid, no member twice', async (ctx) => {
    skipWithout(ctx);
    const session = new CommandSession({ cwd: '/' });
    // A group member in the background too, which must get the signal through the group only.
    const { execution, pids } = await startPrinting(session, { command: 'sleep 304 & echo $!; setsid sleep 305 & echo "$!"; wait', killGraceMs: 200 }, 2);
    const [member, escapee] = pids as [number, number];
    // The shell prints $! right after its fork, before setsid in the child has run: until then
    // the escapee is still a member, and rightly signalled through the group alone.
    const pgid = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[2]);
    await until(() => pgid(escapee) !== execution.pid, 'the escapee has left the process group');
    const kill = vi.spyOn(process, 'kill');
    try {
      execution.signal('SIGUSR2');
      const sent = kill.mock.calls.map(([pid, signal]) => `${pid}:${signal}`);
      const usr2 = signalNumber('SIGUSR2');
      expect(sent).toContain(`${-execution.pid}:${usr2}`);
      expect(sent).toContain(`${escapee}:${usr2}`);
      expect(sent).not.toContain(`${member}:${usr2}`);
      expect(sent).not.toContain(`${execution.pid}:${usr2}`);
      expect(sent).toHaveLength(2);
    } finally {
      kill.mockRestore();
    }
    expect((await execution.done).signal).toBe('SIGUSR2');
    await until(() => !alive(member) && !alive(escapee), 'both sleeps died of SIGUSR2');
    session.close();
  });

  it('a finished command gives its cgroup back for the next, but not one that was killed through cgroup.kill', async (ctx) => {
    skipWithout(ctx);
    const session = new CommandSession({ cwd: '/' });
    const where = async (request: CommandRequest = { command: 'cat /proc/self/cgroup' }) => {
      let out = '';
      const execution = await session.start(request, (_fd, data) => (out += data.toString()));
      const result = await execution.done;
      // The tree gives it back on the turn after the exit.
      await new Promise((r) => setImmediate(r));
      return { result, cgroup: out.split('\n').find((l) => l.startsWith('0::')) };
    };
    const first = await where();
    const second = await where();
    expect(first.result.exitCode).toBe(0);
    expect(second.cgroup).toBe(first.cgroup);
    // Killed: SIGKILL goes through cgroup.kill, and a child later born into that cgroup would
    // be SIGKILLed too (see CommandCgroup.release), so the next command must get another one.
    let killedOut = '';
    const killed = await session.start({ command: 'cat /proc/self/cgroup; sleep 30' }, (_fd, data) => (killedOut += data.toString()));
    await until(() => killedOut.includes('0::'), 'the doomed command said where it runs');
    killed.kill('SIGKILL');
    expect((await killed.done).signal).toBe('SIGKILL');
    await new Promise((r) => setImmediate(r));
    const after = await where({ command: 'echo alive; cat /proc/self/cgroup' });
    expect(after.result).toMatchObject({ exitCode: 0, signal: null });
    expect(after.cgroup).not.toBe(killedOut.split('\n').find((l) => l.startsWith('0::')));
    // A leader that died of SIGKILL may have been killed through cgroup.kill by its own
    // workload, which we cannot see: its cgroup is not reused either.
    const selfKilled = await where({ command: 'cat /proc/self/cgroup; kill -KILL $$' });
    expect(selfKilled.result.signal).toBe('SIGKILL');
    const next = await where();
    expect(next.result.exitCode).toBe(0);
    expect(next.cgroup).not.toBe(selfKilled.cgroup);
    session.close();
  });

  it('a command that cannot start leaves no cgroup behind', async (ctx) => {
    skipWithout(ctx);
    if (cgroups instanceof Error) return;
    const session = new CommandSession({ cwd: '/' });
    const before = new Set(subdirectories(cgroups.path));
    for (let i = 0; i < 10; i++) {
      await expect(session.start({ argv: ['/no/such/program'] }, () => {})).rejects.toMatchObject({ code: 'SPAWN_FAILED' });
      await new Promise((r) => setImmediate(r));
    }
    // Each start took a cgroup made before it, or made one; what is new now can only be the
    // few made ahead of use (4), not one per failed start.
    const made = subdirectories(cgroups.path).filter((name) => !before.has(name));
    expect(made.length).toBeLessThanOrEqual(4);
    session.close();
  });
});

describe("the sweep of dead processes' command cgroups", () => {
  it("kills what a dead owner left running and removes its directory, but not a live owner's, nor another pid namespace's", async (ctx) => {
    skipWithout(ctx);
    if (cgroups instanceof Error) return;
    const own = posix.dirname(cgroups.path);
    const ns = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))![1]!;
    const startOf = (pid: number) => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
    };
    expect(basename(cgroups.path)).toMatch(new RegExp(`^conch-${process.pid}-${startOf(process.pid)}-${ns}-[0-9a-f]+$`));
    // A pid that is gone: a process that has exited and been reaped.
    const gone = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim();
    const made: string[] = [];
    const children: ChildProcess[] = [];
    const sleeper = (dir: string) => {
      mkdirSync(dir, { recursive: true });
      made.push(dir);
      const child = spawn('sleep', ['300'], { stdio: 'ignore' });
      children.push(child);
      writeFileSync(join(dir, 'cgroup.procs'), String(child.pid));
      return child;
    };
    try {
      // A live owner: a process with the pid and start time its directory names.
      const owner = sleeper(join(own, `conch-sweep-test-${process.pid}`));
      const ownerStart = startOf(owner.pid!);
      const dirs = {
        deadOwner: `conch-${gone}-12345-${ns}-0badc0de`,
        // The owner's pid, another start time: the pid was reused after its owner died.
        reusedPid: `conch-${owner.pid}-${Number(ownerStart) + 1}-${ns}-0badc0de`,
        liveOwner: `conch-${owner.pid}-${ownerStart}-${ns}-0badc0de`,
        // Another namespace's pid says nothing here, dead-looking as it may be.
        otherNamespace: `conch-${gone}-12345-1-0badc0de`,
      };
      const commands = Object.fromEntries(Object.entries(dirs).map(([k, d]) => [k, sleeper(join(own, d, '1'))]));
      setCgroupMode('auto');
      expect(commandCgroups()).not.toBeInstanceOf(Error);
      await until(() => !alive(commands.deadOwner!.pid!) && !alive(commands.reusedPid!.pid!), "the dead owners' commands were killed");
      expect([alive(commands.liveOwner!.pid!), alive(commands.otherNamespace!.pid!), alive(owner.pid!)]).toEqual([true, true, true]);
      await until(() => !existsSync(join(own, dirs.deadOwner)) && !existsSync(join(own, dirs.reusedPid)), 'their directories were removed', 5000);
      expect([existsSync(join(own, dirs.liveOwner, '1')), existsSync(join(own, dirs.otherNamespace, '1'))]).toEqual([true, true]);
    } finally {
      for (const child of children) child.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 200));
      for (const dir of made.reverse()) {
        try {
          rmdirSync(dir);
          if (posix.basename(dir) === '1') rmdirSync(posix.dirname(dir));
        } catch {}
      }
    }
  }, 30_000);
});

const pid0 = (pids: number[]) => pids[0]!;

/** Removed, or empty and kept for the next command (the pool takes back cgroups that were never cgroup.kill'ed). */
function released(dir: string): boolean {
  if (!existsSync(dir)) return true;
  if (cgroups instanceof Error) return false;
  return readFileSync(`${dir}/cgroup.events`, 'latin1').includes('populated 0');
}

function cgroupDir(execution: Execution): string {
  const cgroup = execution.tree.cgroup;
  if (!cgroup) throw new Error('the command has no cgroup');
  return cgroup.path;
}

function subdirectories(path: string): string[] {
  return readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
}
