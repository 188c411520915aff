import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// The addon's own switch for this path; the package exports no way to it.
import { binding } from '../../posix-spawn/src/binding.js';
import { CommandSession, commandCgroups } from '../src/index.js';

/**
 * Kernels before 5.7, and architectures without the clone3 trampoline, put a child in its
 * cgroup by its own write to cgroup.procs before its exec. That path, here, where children
 * would otherwise be born in their cgroup. (Its own file: the switch is for the whole process.)
 */
const cgroups = commandCgroups();

describe('commands that join their cgroup by writing to cgroup.procs', () => {
  it('are in it before they run, and a kill reaches what left their group', async (ctx) => {
    if (cgroups instanceof Error) {
      console.log(`skipped: no cgroups for commands here: ${cgroups.message}`);
      ctx.skip();
    }
    binding().joinByWrite();
    const before = binding().cgroupSpawns();
    const session = new CommandSession({ cwd: '/' });
    let out = '';
    const execution = await session.start({ command: "cat /proc/self/cgroup; setsid sh -c 'echo $$; exec sleep 306' & sleep 300", killGraceMs: 200 }, (_fd, data) => (out += data.toString()));
    for (let i = 0; i < 200 && !/^\d+$/m.test(out); i++) await new Promise((r) => setTimeout(r, 25));
    const cgroup = execution.tree.cgroup!;
    // This command went the write's way, and not clone3's.
    const after = binding().cgroupSpawns();
    expect(after.joinedByWrite).toBe(before.joinedByWrite + 1);
    expect(after.bornIn).toBe(before.bornIn);
    expect(out).toContain(`0::${readFileSync(`/proc/${execution.pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'))!.slice(3)}\n`);
    expect(cgroup.pids().length).toBeGreaterThanOrEqual(2);
    const escapee = Number(/^(\d+)$/m.exec(out)![1]);
    expect(cgroup.pids()).toContain(escapee);
    execution.kill('SIGTERM');
    await execution.done;
    for (let i = 0; i < 200 && cgroup.populated(); i++) await new Promise((r) => setTimeout(r, 25));
    expect(cgroup.populated()).toBe(false);
    session.close();
  });
});
