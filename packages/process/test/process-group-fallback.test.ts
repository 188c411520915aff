import { spawn } from 'node:child_process';
import { describe, expect, it, vi } from 'vitest';

// Where the addon does not load, groupAlive answers through process.kill: force that branch
// here, on real processes, since on this machine the addon loads.
vi.mock('@conch/posix-spawn', async (importOriginal) => ({
  ...(await importOriginal<typeof import('@conch/posix-spawn')>()),
  posixSpawnAvailability: () => ({ available: false, reason: 'forced off by process-group-fallback.test.ts' }),
}));

const { groupAlive } = await import('../src/index.js');

describe('groupAlive without the addon', () => {
  it('is true while the group has a member, false once it is empty, and false for ids 0 and 1', async () => {
    const leader = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore', detached: true });
    await new Promise((r) => leader.once('spawn', r));
    expect(groupAlive(leader.pid!)).toBe(true);
    const exited = new Promise((r) => leader.once('exit', r));
    process.kill(-leader.pid!, 'SIGKILL');
    await exited;
    await expect.poll(() => groupAlive(leader.pid!), { timeout: 15_000 }).toBe(false);
    expect(groupAlive(0)).toBe(false);
    expect(groupAlive(1)).toBe(false);
  });
});
