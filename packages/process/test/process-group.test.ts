import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { groupAlive, signalExistingGroup, signalGroup } from '../src/index.js';

/** A process that is not a group leader: no group has its pid as id. */
async function nonLeader() {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  await new Promise((r) => child.once('spawn', r));
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, signal) => r(signal)));
  return { pid: child.pid!, exited, kill: () => child.kill('SIGKILL') };
}

describe('process groups', () => {
  it('signalExistingGroup never signals a lone process that merely has the group\'s id as its pid', async () => {
    const p = await nonLeader();
    try {
      expect(groupAlive(p.pid)).toBe(false);
      expect(signalExistingGroup(p.pid, 'SIGTERM')).toBe(false);
      // Still alive: signal 0 reaches it.
      expect(() => process.kill(p.pid, 0)).not.toThrow();
    } finally {
      p.kill();
    }
  });

  it('signalGroup falls back to the process itself (a forkpty child before its setsid), which is why exited commands must not use it', async () => {
    const p = await nonLeader();
    expect(signalGroup(p.pid, 'SIGTERM')).toBe(true);
    expect(await p.exited).toBe('SIGTERM');
  });

  it('signalExistingGroup reaches every member of a live group', async () => {
    const leader = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore', detached: true });
    await new Promise((r) => leader.once('spawn', r));
    const exited = new Promise((r) => leader.once('exit', (_c, s) => r(s)));
    expect(signalExistingGroup(leader.pid!, 'SIGKILL')).toBe(true);
    expect(await exited).toBe('SIGKILL');
    // The orphaned sleep is a member until init reaps it, which a loaded machine can take a while to do.
    await expect.poll(() => groupAlive(leader.pid!), { timeout: 15_000 }).toBe(false);
  });
});
