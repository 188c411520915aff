import { chmodSync, closeSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binding } from '../src/binding.js';
import { execAsHelper, groupExists, posixSpawn, posixSpawnAvailability, type PipeReader, type PosixSpawnOptions } from '../src/index.js';

const base = { env: { PATH: '/usr/bin:/bin' }, cwd: '/', stdin: false };
const opts = (file: string, argv: string[], extra: Partial<PosixSpawnOptions> = {}): PosixSpawnOptions => ({ file, argv, ...base, ...extra });

function collect(stream: PipeReader): Promise<string> {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
  return new Promise((resolve) => stream.once('close', () => resolve(Buffer.concat(chunks).toString())));
}

const openFds = () => readdirSync('/proc/self/fd').length;

/** Our children that exited and were never reaped. */
function zombieChildren(): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).flatMap((pid) => {
    try {
      const [state, ppid] = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return state === 'Z' && Number(ppid) === process.pid ? [Number(pid)] : [];
    } catch {
      return [];
    }
  });
}

describe('posixSpawn', () => {
  it('is available on this machine', () => {
    expect(posixSpawnAvailability()).toEqual({ available: true });
  });

  it('runs a process with its own stdout and stderr and reports its exit code', async () => {
    const child = posixSpawn(opts('/bin/sh', ['sh', '-c', 'echo "$0 out"; echo err >&2; exit 7']));
    const [stdout, stderr, exit] = await Promise.all([collect(child.stdout), collect(child.stderr), child.exited]);
    expect({ stdout, stderr, exit }).toEqual({ stdout: 'sh out\n', stderr: 'err\n', exit: { exitCode: 7, signal: null } });
    expect(child.stdin).toBeNull();
  });

  it('reports a signal by its name, and reaps the process (no zombie left)', async () => {
    const child = posixSpawn(opts('/bin/sleep', ['sleep', '30']));
    process.kill(child.pid, 'SIGTERM');
    expect(await child.exited).toEqual({ exitCode: null, signal: 'SIGTERM' });
    expect(existsSync(`/proc/${child.pid}`)).toBe(false);
  });

  it('writes stdin through a pipe when asked', async () => {
    const child = posixSpawn(opts('/bin/cat', ['cat'], { stdin: true }));
    child.stdin!.end('through the pipe');
    expect(await collect(child.stdout)).toBe('through the pipe');
    expect(await child.exited).toEqual({ exitCode: 0, signal: null });
  });

  it('throws the errno error of a failed exec, in the shape of Node spawn errors', () => {
    expect(() => posixSpawn(opts('/no/such/file', ['x']))).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'posix_spawn' }));
    const dir = mkdtempSync(join(tmpdir(), 'conch-posix-spawn-'));
    try {
      // No execute bit at all: refused even to root.
      writeFileSync(join(dir, 'plain'), 'echo no\n', { mode: 0o644 });
      expect(() => posixSpawn(opts(join(dir, 'plain'), ['x']))).toThrow(expect.objectContaining({ code: 'EACCES' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => posixSpawn(opts('/bin/true', ['true'], { cwd: '/no/such/dir' }))).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('runs an executable without a #! line as a /bin/sh script, as execvp does; the addon itself names the errno ENOEXEC', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conch-posix-spawn-'));
    try {
      // Open to nobody too, for the run through conch-exec-as.
      chmodSync(dir, 0o755);
      const script = join(dir, 'no-shebang');
      writeFileSync(script, 'echo "$0 [$1] [$2]"\n', { mode: 0o755 });
      // libuv has no name for ENOEXEC: without our fallback the code read "Unknown system error -8".
      expect(() => binding().spawn(script, ['no-shebang'], [], '/', false, false, null)).toThrow(expect.objectContaining({ code: 'ENOEXEC', errno: -8 }));
      const users = process.getuid?.() === 0 ? [undefined, { uid: 65534, gid: 65534 }] : [undefined];
      for (const user of users) {
        const child = posixSpawn(opts(script, ['no-shebang', 'a b', 'c'], user ? { user } : {}));
        const [stdout, stderr, exit] = await Promise.all([collect(child.stdout), collect(child.stderr), child.exited]);
        expect({ user, stdout, stderr, exit }).toEqual({ user, stdout: `${script} [a b] [c]\n`, stderr: '', exit: { exitCode: 0, signal: null } });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses strings with NUL bytes instead of cutting them short', () => {
    expect(() => posixSpawn(opts('/bin/echo', ['echo', 'a\0b']))).toThrow(TypeError);
    expect(() => posixSpawn(opts('/bin/echo', ['echo'], { env: { 'A\0': 'x' } }))).toThrow(TypeError);
    expect(() => posixSpawn(opts('/bin/echo', []))).toThrow(TypeError);
  });

  it.runIf(process.getuid?.() === 0)('runs as another user with no supplementary groups, through conch-exec-as', async () => {
    expect(execAsHelper()).toEqual(expect.any(String));
    const child = posixSpawn(opts('/bin/sh', ['sh', '-c', 'echo "$0"; id -u; id -g; id -G; ls /proc/self/fd | wc -l'], { user: { uid: 65534, gid: 65534 } }));
    const [stdout, , exit] = await Promise.all([collect(child.stdout), collect(child.stderr), child.exited]);
    // fds: 0-2, and ls's handle on the directory it lists: nothing of ours, not the status pipe.
    expect({ stdout, exit }).toEqual({ stdout: 'sh\n65534\n65534\n65534\n4\n', exit: { exitCode: 0, signal: null } });
  });

  it.runIf(process.getuid?.() === 0)('runs as another user with exactly the supplementary groups given, none for an empty list', async () => {
    const ids = async (groups: number[]) => {
      const child = posixSpawn(opts('/bin/sh', ['sh', '-c', 'id -u; id -g; cat /proc/self/status | grep ^Groups:'], { user: { uid: 65534, gid: 65534, groups } }));
      const [stdout, stderr, exit] = await Promise.all([collect(child.stdout), collect(child.stderr), child.exited]);
      return { stdout, stderr, exit };
    };
    // /proc/self/status lists the supplementary groups alone (id -G adds the egid).
    expect(await ids([65534, 5, 100, 4000000000])).toEqual({ stdout: '65534\n65534\nGroups:\t5 100 65534 4000000000 \n', stderr: '', exit: { exitCode: 0, signal: null } });
    expect(await ids([])).toEqual({ stdout: '65534\n65534\nGroups:\t \n', stderr: '', exit: { exitCode: 0, signal: null } });
  });

  it.runIf(process.getuid?.() === 0)('throws the errno of an exec that fails after the switch, and leaves no child behind', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conch-posix-spawn-'));
    try {
      // Executable by root (its owner) only: nobody gets EACCES from execve, reported through fd 3.
      writeFileSync(join(dir, 'root-only'), '#!/bin/sh\necho ran\n', { mode: 0o700 });
      const before = openFds();
      expect(() => posixSpawn(opts(join(dir, 'root-only'), ['root-only'], { user: { uid: 65534, gid: 65534 } })))
        .toThrow(expect.objectContaining({ code: 'EACCES', syscall: 'exec' }));
      expect(openFds()).toBe(before);
      expect(zombieChildren()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves no fd behind across 500 spawns, failed ones included', async () => {
    const before = openFds();
    for (let i = 0; i < 500; i++) {
      if (i % 10 === 0) expect(() => posixSpawn(opts('/no/such/file', ['x']))).toThrow();
      const child = posixSpawn(opts('/bin/true', ['true']));
      await Promise.all([collect(child.stdout), collect(child.stderr), child.exited]);
    }
    // Closing a socket's fd happens on a later loop turn than its 'close' event.
    await new Promise((r) => setTimeout(r, 50));
    expect(openFds()).toBeLessThanOrEqual(before);
  });

  describe('output through PipeReader', () => {
    it('hands over exactly the bytes of each read, in order, then end and close', async () => {
      const child = posixSpawn(opts('/bin/sh', ['sh', '-c', 'printf a; sleep 0.05; printf bc; head -c 1000000 /dev/zero']));
      const chunks: Buffer[] = [];
      const lent: Buffer[] = [];
      const events: string[] = [];
      child.stdout.on('data', (c) => {
        lent.push(c);
        chunks.push(Buffer.from(c));
      });
      child.stdout.once('end', () => events.push('end'));
      await new Promise<void>((resolve) => child.stdout.once('close', () => resolve()));
      events.push('close');
      const all = Buffer.concat(chunks);
      expect(all.subarray(0, 3).toString()).toBe('abc');
      expect(all.length).toBe(1_000_003);
      expect(events).toEqual(['end', 'close']);
      expect(chunks[0]!.length).toBe(1);
      expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(256 * 1024);
      // Every read lands in the same memory, from its start: no allocation per read. So a chunk
      // kept without a copy shows what a later read put there ('a' became a zero).
      expect(new Set(lent.map((c) => c.buffer)).size).toBe(1);
      expect(lent.every((c) => c.byteOffset === 0)).toBe(true);
      expect(lent[0]![0]).toBe(0);
      expect((await child.exited).exitCode).toBe(0);
    });

    it('reads nothing while paused, so the writer blocks in the kernel, and everything once resumed', async () => {
      const child = posixSpawn(opts('/usr/bin/head', ['head', '-c', String(4 << 20), '/dev/zero']));
      child.stdout.pause();
      let bytes = 0;
      child.stdout.on('data', (c) => (bytes += c.length));
      let exited = false;
      void child.exited.then(() => (exited = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(bytes).toBe(0);
      expect(exited).toBe(false);
      child.stdout.resume();
      await new Promise<void>((resolve) => child.stdout.once('end', () => resolve()));
      expect(bytes).toBe(4 << 20);
      expect((await child.exited).exitCode).toBe(0);
    });

    it('closes the pipe on destroy(): the writer gets SIGPIPE, and close follows without end', async () => {
      const child = posixSpawn(opts('/usr/bin/yes', ['yes']));
      let ended = false;
      child.stdout.once('end', () => (ended = true));
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.stdout.destroy();
      expect(child.stdout.destroyed).toBe(true);
      await new Promise<void>((resolve) => child.stdout.once('close', () => resolve()));
      expect(await child.exited).toEqual({ exitCode: null, signal: 'SIGPIPE' });
      expect(ended).toBe(false);
      // Calls after the end are no-ops, not a use of a freed reader.
      child.stdout.pause().resume().destroy();
    });

    it('keeps an addon reader safe to call after it closed itself at EOF', async () => {
      const fds = binding().spawn('/bin/true', ['true'], [], '/', false, false, null);
      closeSync(fds.stderr);
      const exited = new Promise<void>((resolve) => binding().watchExit(fds.pid, () => resolve()));
      let done!: () => void;
      const ended = new Promise<void>((resolve) => (done = resolve));
      const handle = binding().openReader(fds.stdout, (_err, n) => {
        if (n === 0) done();
      }, Buffer.alloc(16));
      await ended;
      // The handle's close callback has run by the next turn: the reader's side is released.
      await new Promise((r) => setTimeout(r, 10));
      binding().pauseReader(handle);
      binding().resumeReader(handle);
      binding().closeReader(handle);
      await exited;
    });
  });
});

describe('groupExists', () => {
  it('is true while a process is in the group, also one the leader left, and false once the group is empty', async () => {
    // The leader leaves a sleeper behind in its group (posixSpawn makes each child a group leader).
    const child = posixSpawn(opts('/bin/sh', ['sh', '-c', 'sleep 30 >/dev/null 2>&1 & echo $!']));
    const sleeper = Number((await collect(child.stdout)).trim());
    expect(groupExists(child.pid)).toBe(true);
    await child.exited;
    expect(groupExists(child.pid)).toBe(true);
    process.kill(sleeper, 'SIGKILL');
    // The orphaned sleeper stays a member until init reaps it, which a loaded machine can take a while to do.
    await expect.poll(() => groupExists(child.pid), { timeout: 15_000 }).toBe(false);
    expect(() => process.kill(-child.pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });

  it('refuses 0, 1, negative ids (our own group, every process) and anything int32 conversion would bend into a pid', () => {
    for (const pgid of [0, 1, -5, 2.5, 2 ** 32 + 5, 2 ** 31, Number.NaN]) expect(() => groupExists(pgid)).toThrow(TypeError);
  });
});
