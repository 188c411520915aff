import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VsockShellSession, type SpawnOptions } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';

/**
 * A command must not inherit the daemon's file descriptors, above all not the terminal master
 * of another command's PTY: with it, a workload running as nobody could type into a root shell
 * on that terminal, or read its screen. Each test runs `ls -l /proc/self/fd` while a root PTY
 * command is running, and looks at every descriptor beyond stdin, stdout and stderr.
 *
 * Pipe commands start through posix_spawn, which closes every fd above 2 in the child (for
 * another user, through conch-exec-as, which switches after); node-pty's forkpty leaves every
 * terminal master open in its child, so PTY commands exec through conch-exec-as, which closes
 * them. Without that, each test below fails with the other command's `/dev/ptmx` listed.
 */
const NOBODY = { uid: 65534, gid: 65534 } as const;
const PTY = { pty: { cols: 80, rows: 24 } } as const;
const isRoot = process.getuid?.() === 0;

let daemon: DaemonProcess;
let session: VsockShellSession;
beforeAll(async () => {
  daemon = await startDaemon(['--log-level', 'error']);
  session = new VsockShellSession(daemon.endpoint);
});
afterAll(async () => {
  await session?.close();
  await daemon?.stop();
});

/** What a command started with `options` holds beyond fds 0-2, while a root PTY command runs. */
async function inherited(options: SpawnOptions): Promise<string[]> {
  const rootTerminal = await session.spawn(['sleep', '30'], PTY);
  try {
    const r = await session.exec(['ls', '-l', '/proc/self/fd'], options);
    expect(r.exitCode, r.stderr).toBe(0);
    const fds = [...r.stdout.matchAll(/ (\d+) -> (.*?)\r?$/gm)].map(([, fd, target]) => ({ fd: Number(fd), target: target! }));
    expect(fds.map((f) => f.fd)).toEqual(expect.arrayContaining([0, 1, 2]));
    // ls's own handle on the directory it lists is not inherited.
    return fds.filter((f) => f.fd > 2 && !/^\/proc\/\d+\/fd$/.test(f.target)).map((f) => `${f.fd} -> ${f.target}`);
  } finally {
    await rootTerminal.kill('SIGKILL');
  }
}

describe.skipIf(!isRoot)('file descriptors a command inherits from conchd', () => {
  it('a pipe command (posix_spawn) holds nothing beyond its stdio, not even a live terminal master', async () => {
    expect(await inherited({})).toEqual([]);
  });

  it('a pipe command as nobody holds nothing beyond its stdio', async () => {
    expect(await inherited(NOBODY)).toEqual([]);
  });

  it('a PTY command as nobody holds nothing beyond its terminal', async () => {
    expect(await inherited({ ...NOBODY, ...PTY })).toEqual([]);
  });

  it('a PTY command as the daemon\'s own user holds nothing beyond its terminal either', async () => {
    expect(await inherited(PTY)).toEqual([]);
  });
});
