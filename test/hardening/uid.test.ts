import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalProcessShellSession, VsockShellSession, type ShellSession } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { withoutCapability } from '../helpers/without-capability.js';

/**
 * Commands can run as another user. Run as nobody (65534:65534), a command cannot read a
 * root-only file that root reads fine, and says so; root's supplementary groups are dropped,
 * so a root-group file is closed to it as well, and a uid alone takes that user's own groups.
 * Against conchd and LocalProcessShellSession.
 */
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

/** A uid that /etc/passwd does not list. */
function unusedUid(): number {
  const taken = new Set(readFileSync('/etc/passwd', 'utf8').split('\n').map((line) => Number(line.split(':')[2])));
  let uid = 424242;
  while (taken.has(uid)) uid++;
  return uid;
}

let dir: string;
let secret: string;
let groupSecret: string;

beforeAll(() => {
  if (!isRoot) return;
  // mkdtemp makes 0700 directories; nobody must be able to traverse to the file to be refused by it.
  dir = mkdtempSync(join(tmpdir(), 'conch-uid-'));
  chmodSync(dir, 0o755);
  secret = join(dir, 'secret');
  writeFileSync(secret, 'root only\n', { mode: 0o600 });
  chmodSync(secret, 0o600);
  groupSecret = join(dir, 'group-secret');
  writeFileSync(groupSecret, 'root group only\n');
  chmodSync(groupSecret, 0o640); // root:root: readable through group 0, if a child kept it
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const backends: { name: string; open: (options?: { uid?: number; gid?: number }) => Promise<{ session: ShellSession; done: () => Promise<void> }> }[] = [];
let daemon: DaemonProcess | undefined;

backends.push({
  name: 'conchd',
  open: async (options = {}) => {
    daemon ??= await startDaemon();
    const session = new VsockShellSession(daemon.endpoint, { cwd: dir, ...options });
    return { session, done: () => session.close() };
  },
});
backends.push({
  name: 'LocalProcessShellSession',
  open: async (options = {}) => {
    const session = new LocalProcessShellSession({ cwd: dir, ...options });
    return { session, done: () => session.close() };
  },
});

afterAll(async () => {
  await daemon?.stop();
});

describe.each(backends)('commands as another uid/gid: $name', ({ open }) => {
  it.skipIf(!isRoot)('nobody cannot read a 0600 root file that root reads, and the output says so', async () => {
    const { session, done } = await open();
    const asRoot = await session.exec(['cat', secret]);
    expect(asRoot).toMatchObject({ exitCode: 0, stdout: 'root only\n' });

    const asNobody = await session.exec(['cat', secret], { uid: NOBODY, gid: NOBODY });
    expect(asNobody.exitCode).not.toBe(0);
    expect(asNobody.stdout).toBe('');
    expect(asNobody.stderr).toContain(`${secret}: Permission denied`);

    // The same through the shell (a string command), which also needs the session's state dir.
    const viaShell = await session.exec(`cat ${secret}`, { uid: NOBODY, gid: NOBODY });
    expect(viaShell.exitCode).not.toBe(0);
    expect(viaShell.stdout).toBe('');
    // cat's own refusal, naming the file: a bare 'Permission denied' would also match the
    // wrapper failing to write the session's state file, which a command as another user can.
    expect(viaShell.stderr).toContain(`${secret}: Permission denied`);
    await done();
  });

  it.skipIf(!isRoot)('a shell command as another user than its session\'s runs clean, and its cd/export stay its own', async () => {
    const { session, done } = await open();
    const r = await session.exec('cd /tmp && export AS_NOBODY=1; id -u; exit 3', { uid: NOBODY, gid: NOBODY });
    // Nothing but the command's own output: no wrapper complaining about the session's state file.
    expect(r).toMatchObject({ exitCode: 3, stdout: `${NOBODY}\n`, stderr: '' });
    const after = await session.exec('pwd; echo "${AS_NOBODY:-unset}"');
    expect(after.stdout).toBe(`${(await session.exec('pwd')).stdout.trim()}\nunset\n`);
    await done();
  });

  it.skipIf(!isRoot)('the switch is real: ids are 65534, and root\'s supplementary groups are dropped', async () => {
    const { session, done } = await open();
    const ids = await session.exec(['sh', '-c', 'id -u; id -g; id -G'], { uid: NOBODY, gid: NOBODY });
    expect(ids).toMatchObject({ exitCode: 0, stdout: `${NOBODY}\n${NOBODY}\n${NOBODY}\n` });
    const group = await session.exec(['cat', groupSecret], { uid: NOBODY, gid: NOBODY });
    expect(group.exitCode).not.toBe(0);
    expect(group.stderr).toContain(`${groupSecret}: Permission denied`);
    expect((await session.exec(['cat', groupSecret])).stdout).toBe('root group only\n');
    await done();
  });

  it.skipIf(!isRoot)("a uid alone is that user with its own groups, as id(1) lists them, not root's group", async () => {
    const { session, done } = await open();
    // What this machine's user database says nobody is (Debian: 65534, group nogroup 65534); the
    // groups as a set, since id(1) lists a user's in getgrouplist's order, a process's sorted.
    const ids = (text: string) => {
      const [uid, gid, groups] = text.replaceAll('\r\n', '\n').trim().split('\n');
      return { uid, gid, groups: groups?.split(' ').sort() };
    };
    const id = (flag: string) => execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' });
    const expected = ids(`${NOBODY}\n${id('-g')}${id('-G')}`);
    for (const pty of [undefined, { cols: 80, rows: 24 }]) {
      const r = await session.exec(['sh', '-c', 'id -u; id -g; id -G'], { uid: NOBODY, ...(pty ? { pty } : {}) });
      expect({ pty, exitCode: r.exitCode, ids: ids(r.stdout) }).toEqual({ pty, exitCode: 0, ids: expected });
      const group = await session.exec(['cat', groupSecret], { uid: NOBODY, ...(pty ? { pty } : {}) });
      expect(group.exitCode).not.toBe(0);
      expect(group.stdout + group.stderr).toContain(`${groupSecret}: Permission denied`);
    }
    // A string command and a whole session given a uid alone take the same groups.
    expect(ids((await session.exec('id -u; id -g; id -G', { uid: NOBODY })).stdout)).toEqual(expected);
    const asNobody = await open({ uid: NOBODY });
    expect(ids((await asNobody.session.exec('id -u; id -g; id -G')).stdout)).toEqual(expected);
    await asNobody.done();
    await done();
  });

  it.skipIf(!isRoot)("as another user, HOME, USER and LOGNAME are that user's, as login sets them, unless set on purpose", async () => {
    const { session, done } = await open();
    const home = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[2] === String(NOBODY))![5]!;
    const vars = 'echo "$HOME|$USER|$LOGNAME"';
    const asRoot = (await session.exec(vars)).stdout;
    expect(asRoot).not.toBe(`${home}|nobody|nobody\n`);
    for (const pty of [undefined, { cols: 80, rows: 24 }]) {
      const r = await session.exec(['sh', '-c', vars], { uid: NOBODY, cwd: '/tmp', ...(pty ? { pty } : {}) });
      expect(r.stdout.replace('\r\n', '\n')).toBe(`${home}|nobody|nobody\n`);
    }
    // Given both ids too; and a value the request sets stays.
    expect((await session.exec(vars, { uid: NOBODY, gid: NOBODY, cwd: '/tmp' })).stdout).toBe(`${home}|nobody|nobody\n`);
    expect((await session.exec(vars, { uid: NOBODY, cwd: '/tmp', env: { HOME: '/tmp' } })).stdout).toBe('/tmp|nobody|nobody\n');
    // Root's own commands keep the daemon's.
    expect((await session.exec(vars)).stdout).toBe(asRoot);
    // A whole session as nobody: its export of HOME persists over the default.
    const asNobody = await open({ uid: NOBODY });
    expect((await asNobody.session.exec(vars)).stdout).toBe(`${home}|nobody|nobody\n`);
    await asNobody.session.exec('cd /tmp && export HOME=/tmp');
    expect((await asNobody.session.exec(vars)).stdout).toBe('/tmp|nobody|nobody\n');
    await asNobody.done();
    await done();
  });

  it.skipIf(!isRoot)('a uid with no passwd entry and no gid is refused, saying why; with a gid it runs', async () => {
    const { session, done } = await open();
    const uid = unusedUid();
    for (const pty of [undefined, { cols: 80, rows: 24 }]) {
      await expect(session.exec(['id', '-u'], { uid, ...(pty ? { pty } : {}) })).rejects.toMatchObject({
        code: 'SPAWN_FAILED',
        message: expect.stringContaining(`uid ${uid} has no entry in /etc/passwd, so its group is unknown`),
      });
    }
    const r = await session.exec(['sh', '-c', 'id -u; id -g; id -G'], { uid, gid: NOBODY });
    expect(r).toMatchObject({ exitCode: 0, stdout: `${uid}\n${NOBODY}\n${NOBODY}\n` });
    await done();
  });

  it.skipIf(!isRoot)('a whole session as nobody: refused the file, and its cd/export still persist', async () => {
    const { session, done } = await open({ uid: NOBODY, gid: NOBODY });
    expect((await session.exec('id -u')).stdout).toBe(`${NOBODY}\n`);
    const r = await session.exec(`cat ${secret}`);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(`${secret}: Permission denied`);
    // The session's private state dir was handed to nobody, so its shell can record cd and export.
    await session.exec('cd /tmp && export CONCH_AS=nobody');
    expect((await session.exec('pwd; echo $CONCH_AS')).stdout).toBe('/tmp\nnobody\n');
    await done();
  });

  it.skipIf(!isRoot)('a PTY command as nobody is refused the 0600 file too', async () => {
    const { session, done } = await open();
    const r = await session.exec(['sh', '-c', `id -u; cat ${secret}`], { uid: NOBODY, gid: NOBODY, pty: { cols: 80, rows: 24 } });
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toContain(`${NOBODY}\r\n`);
    expect(r.stdout).toContain(`${secret}: Permission denied`);
    expect(r.stdout).not.toContain('root only');
    await done();
  });

  it.skipIf(!isRoot)('a PTY command as nobody has no supplementary groups either: root-group files stay closed', async () => {
    const { session, done } = await open();
    const pty = { cols: 80, rows: 24 };
    const ids = await session.exec(['sh', '-c', 'id -u; id -g; id -G'], { uid: NOBODY, gid: NOBODY, pty });
    expect(ids).toMatchObject({ exitCode: 0, stdout: `${NOBODY}\r\n${NOBODY}\r\n${NOBODY}\r\n` });
    const group = await session.exec(['cat', groupSecret], { uid: NOBODY, gid: NOBODY, pty });
    expect(group.exitCode).not.toBe(0);
    expect(group.stdout).toContain(`${groupSecret}: Permission denied`);
    expect(group.stdout).not.toContain('root group only');
    // argv[0] and the arguments arrive as given, through the switch.
    expect((await session.exec(['sh', '-c', 'echo "$0" "$@"', 'zero', 'one two'], { uid: NOBODY, gid: NOBODY, pty })).stdout).toBe('zero one two\r\n');
    await done();
  });
});

describe('a uid without a gid against a daemon without user-groups (one that would keep its own gid)', () => {
  it('is refused by the client before anything runs; with a gid, or announced, it runs', async () => {
    daemon ??= await startDaemon();
    const proxy = await withoutCapability(daemon.socket, 'user-groups');
    const old = new VsockShellSession(`unix:${proxy.path}`);
    const oldAsUser = new VsockShellSession(`unix:${proxy.path}`, { uid: NOBODY });
    const current = new VsockShellSession(daemon.endpoint);
    try {
      await old.connect();
      expect(old.daemon!.capabilities).not.toContain('user-groups');
      const marker = join(tmpdir(), `conch-user-groups-${process.pid}`);
      for (const [session, options] of [[old, { uid: NOBODY }], [oldAsUser, {}]] as const) {
        await expect(session.exec(['touch', marker], options)).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
          message: expect.stringContaining('does not announce user-groups: a uid without a gid would run in its own group'),
        });
      }
      expect(existsSync(marker)).toBe(false);
      if (isRoot) expect((await old.exec(['id', '-g'], { uid: NOBODY, gid: NOBODY, cwd: '/tmp' })).stdout).toBe(`${NOBODY}\n`);
      await current.connect();
      expect(current.daemon!.capabilities).toContain('user-groups');
    } finally {
      await Promise.all([old.close(), oldAsUser.close(), current.close()]);
      proxy.close();
    }
  });
});

it.runIf(!isRoot)('skips the uid/gid switch tests when not root', () => {
  console.log('skipped: switching to uid/gid 65534 needs root; run the suite as root (as CI and the guest daemon do)');
});
