import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Capabilities } from '@conch/protocol';
import { ErrorCodes, VsockShellSession } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { settleEmpty } from './proc.js';

/**
 * Every way a command is ended reaches its whole process group, grandchildren included, and,
 * where the daemon keeps each command in a cgroup (cgroup-kill), what left the group with
 * setsid. The conformance suite checks this for kill(); faults.test.ts for a client that
 * vanishes; lifecycle.test.ts for daemon shutdown. Here: an abort, the daemon-side timeout,
 * killAll and closing the session, each against a real conchd and a command with two
 * background children and one that left with setsid.
 */

const alive = (pid: number): boolean => {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

let daemon: DaemonProcess;
beforeAll(async () => {
  daemon = await startDaemon(['--log-level', 'error']);
});
afterAll(async () => {
  await daemon?.stop();
});

const WAYS = {
  'an AbortSignal': async (_s: VsockShellSession, abort: AbortController, wait: Promise<unknown>) => {
    abort.abort();
    await expect(wait).rejects.toMatchObject({ code: ErrorCodes.ABORTED });
  },
  'the daemon-side timeout': async (_s: VsockShellSession, _abort: AbortController, wait: Promise<unknown>) => {
    expect(await wait).toMatchObject({ timedOut: true });
  },
  'killAll()': async (s: VsockShellSession, _abort: AbortController, wait: Promise<unknown>) => {
    await s.killAll('SIGTERM');
    expect(await wait).toMatchObject({ signal: 'SIGTERM' });
  },
  'closing the session': async (s: VsockShellSession) => {
    await s.close();
  },
} as const;

describe('every way of ending a command kills its whole process group', () => {
  it.each(Object.keys(WAYS) as (keyof typeof WAYS)[])('%s', async (way) => {
    const s = new VsockShellSession(daemon.endpoint);
    const abort = new AbortController();
    await s.connect();
    const contained = s.daemon!.capabilities.includes(Capabilities.CGROUP_KILL);
    if (!contained) console.log(`not checked: the setsid escapee, since this daemon does not announce ${Capabilities.CGROUP_KILL} (no writable cgroup2 here)`);
    // The escapee's line is tagged: the subshell's echo can come before or after it.
    const h = await s.spawn('sleep 300 & echo $!; (sleep 301 & echo $!; wait) & setsid sleep 302 & echo "escapee $!"; wait', {
      signal: abort.signal,
      ...(way === 'the daemon-side timeout' ? { timeoutMs: 1500 } : {}),
    });
    const wait = h.wait();
    wait.catch(() => {});
    const pids: number[] = [];
    let escapee = 0;
    for await (const { line } of h.lines()) {
      if (line.startsWith('escapee ')) escapee = Number(line.slice('escapee '.length));
      else pids.push(Number(line));
      if (pids.length === 2 && escapee) break;
    }
    pids.push(escapee);
    for (const pid of [h.pid, ...pids]) expect(alive(pid), `pid ${pid} before`).toBe(true);
    try {
      await WAYS[way](s, abort, wait);
      // SIGTERM first, SIGKILL after the default grace (2 s): everything is gone within a few seconds.
      const left = await settleEmpty(() => [h.pid, ...pids].filter((pid) => (contained || pid !== escapee) && alive(pid)), 10_000);
      expect(left, `still alive after ${way}`).toEqual([]);
    } finally {
      if (!contained && alive(escapee)) process.kill(escapee, 'SIGKILL');
      await s.close();
    }
  });
});
