import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { posixSpawnAvailability } from '@conch/posix-spawn';
import { ErrorCodes } from '@conch/protocol';
import { Execution, SPAWN_IMPL_ENV, groupAlive, spawnImplementation, spawnPipes, type ProcessSpec } from '../src/index.js';

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
const spec = (argv: string[], extra: Partial<ProcessSpec> = {}): ProcessSpec => ({ argv, cwd: '/', env, stdin: false, ...extra });

async function run(s: ProcessSpec, input?: string) {
  const child = await spawnPipes(s);
  const out: Record<1 | 2, Buffer[]> = { 1: [], 2: [] };
  const execution = new Execution(child, (fd, data) => out[fd].push(Buffer.from(data)));
  if (input !== undefined) {
    child.stdin!.write(input);
    child.endInput();
  }
  const result = await execution.done;
  return { ...result, pid: child.pid, stdout: Buffer.concat(out[1]).toString(), stderr: Buffer.concat(out[2]).toString() };
}

/** The numeric fields of /proc/<pid>/status lines we care about, read by the child itself. */
const STATUS_SCRIPT = 'grep -E "^(SigIgn|SigBlk):" /proc/self/status; ls /proc/self/fd | tr "\\n" " "; echo; ps -o pgid=,sid= -p $$';

const tmp = mkdtempSync(join(tmpdir(), 'conch-spawn-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

it('uses posix_spawn here (the addon builds on this machine), for another uid too (through conch-exec-as)', () => {
  expect(posixSpawnAvailability()).toEqual({ available: true });
  expect(spawnImplementation()).toBe('posix');
  expect(spawnImplementation({ uid: 1000 })).toBe('posix');
});

describe.each(['posix', 'node'] as const)('spawnPipes through %s', (impl) => {
  beforeEach(() => {
    if (impl === 'node') process.env[SPAWN_IMPL_ENV] = 'node';
  });
  afterEach(() => {
    delete process.env[SPAWN_IMPL_ENV];
  });

  it('takes the path it says it takes', () => {
    expect(spawnImplementation()).toBe(impl);
  });

  it('keeps stdout and stderr apart and reports the exit code', async () => {
    const r = await run(spec(['sh', '-c', 'echo out; echo err >&2; exit 3']));
    expect(r).toMatchObject({ stdout: 'out\n', stderr: 'err\n', exitCode: 3, signal: null });
  });

  it('runs an executable without a #! line as a /bin/sh script, as execvp does', async () => {
    const script = join(tmp, `no-shebang-${impl}`);
    writeFileSync(script, 'echo "$0 [$1]"\n', { mode: 0o755 });
    expect(await run(spec([script, 'a b']))).toMatchObject({ stdout: `${script} [a b]\n`, stderr: '', exitCode: 0 });
  });

  it('reports death by signal by name', async () => {
    const r = await run(spec(['sh', '-c', 'kill -USR1 $$']));
    expect(r).toMatchObject({ exitCode: null, signal: 'SIGUSR1' });
  });

  it('runs in cwd with exactly the given environment, resolving argv[0] in that PATH', async () => {
    const bin = join(tmp, `bin-${impl}`);
    rmSync(bin, { recursive: true, force: true });
    mkdirSync(bin);
    writeFileSync(join(bin, 'only-here'), '#!/bin/sh\necho "found $ONLY in $(pwd)"\n');
    chmodSync(join(bin, 'only-here'), 0o755);
    const r = await run(spec(['only-here'], { cwd: tmp, env: { PATH: `${bin}:/usr/bin:/bin`, ONLY: 'me' } }));
    expect(r.stdout).toBe(`found me in ${tmp}\n`);
    const e = await run(spec(['sh', '-c', 'env | sort'], { env: { PATH: '/usr/bin:/bin', A: '1' } }));
    expect(e.stdout.split('\n').filter((l) => l && !l.startsWith('PWD=') && !l.startsWith('SHLVL=') && !l.startsWith('_='))).toEqual(['A=1', 'PATH=/usr/bin:/bin']);
  });

  it('gives stdin as /dev/null unless asked, and a pipe when asked', async () => {
    expect((await run(spec(['sh', '-c', 'readlink /proc/self/fd/0; cat']))).stdout).toBe('/dev/null\n');
    expect((await run(spec(['cat'], { stdin: true }), 'piped in')).stdout).toBe('piped in');
  });

  it('makes the child the leader of its own session and group, with default signals (and, through posix_spawn, only fds 0-2)', async () => {
    const r = await run(spec(['sh', '-c', STATUS_SCRIPT]));
    const lines = r.stdout.trim().split('\n');
    const sigIgn = lines.find((l) => l.startsWith('SigIgn:'));
    const sigBlk = lines.find((l) => l.startsWith('SigBlk:'));
    const [fds, ids] = lines.slice(2);
    // Nothing ignored, glibc's two internal real-time signals (32, 33) included: glibc's own
    // posix_spawn left those ignored, and the addon, which spawns by itself, resets them too.
    expect(sigIgn).toMatch(/^SigIgn:\s+0+$/);
    expect(sigBlk).toMatch(/^SigBlk:\s+0+$/);
    // ls itself opens one more: the directory it lists. child_process.spawn passes on any fd
    // the parent opened without O_CLOEXEC (the test runner has one); posix_spawn closes them all.
    if (impl === 'posix') expect(fds!.trim().split(' ').map(Number).filter((fd) => fd > 2)).toHaveLength(1);
    const [pgid, sid] = ids!.trim().split(/\s+/).map(Number);
    expect(pgid).toBe(sid);
    expect(pgid).not.toBe(process.pid);
  });

  it('fails a missing or non-executable file with a typed SPAWN_FAILED naming the errno', async () => {
    // The executable is named, not the cwd, which has the same errno when it is missing.
    await expect(spawnPipes(spec(['/no/such/conch-binary']))).rejects.toMatchObject({
      code: ErrorCodes.SPAWN_FAILED, message: expect.stringContaining('cannot run'), details: { errno: 'ENOENT', file: '/no/such/conch-binary' },
    });
    await expect(spawnPipes(spec(['no-such-conch-binary']))).rejects.toMatchObject({
      code: ErrorCodes.SPAWN_FAILED, message: expect.stringContaining('cannot run'), details: { errno: 'ENOENT', file: 'no-such-conch-binary' },
    });
    const plain = join(tmp, 'not-executable');
    writeFileSync(plain, 'echo no\n');
    await expect(spawnPipes(spec([plain]))).rejects.toMatchObject({ code: ErrorCodes.SPAWN_FAILED, details: { errno: 'EACCES' } });
    // A directory: what execve says of it, not "no such file".
    await expect(spawnPipes(spec([tmp]))).rejects.toMatchObject({ code: ErrorCodes.SPAWN_FAILED, details: { errno: 'EACCES' } });
  });

  it('runs a relative path, and a relative PATH entry, from the command\'s cwd, not the daemon\'s', async () => {
    const dir = mkdtempSync(join(tmp, 'rel-'));
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin', 'hello'), '#!/bin/sh\necho "hello from $(pwd)"\n', { mode: 0o755 });
    for (const [argv, env] of [[['./bin/hello'], {}], [['hello'], { PATH: 'bin:/usr/bin:/bin' }]] as const) {
      const p = await spawnPipes(spec([...argv], { cwd: dir, env: { ...process.env, ...env } as Record<string, string> }));
      const out: Buffer[] = [];
      p.stdout.on('data', (c: Buffer) => out.push(Buffer.from(c)));
      await new Promise<void>((resolve) => p.stdout.once('close', () => resolve()));
      expect(Buffer.concat(out).toString()).toBe(`hello from ${dir}\n`);
      expect(await p.exited).toEqual({ exitCode: 0, signal: null });
    }
  });

  it('says when it was the working directory that failed, not the executable', async () => {
    // posix_spawn's chdir fails with the same errnos as its exec, by path or by PATH lookup alike.
    for (const argv of [['true'], ['/bin/true'], ['/no/such/conch-binary']]) {
      await expect(spawnPipes(spec(argv, { cwd: '/no/such/dir' }))).rejects.toMatchObject({
        code: ErrorCodes.SPAWN_FAILED, message: expect.stringContaining('working directory'), details: { errno: 'ENOENT', cwd: '/no/such/dir' },
      });
    }
    const file = join(tmp, 'a-file');
    writeFileSync(file, '');
    await expect(spawnPipes(spec(['/bin/true'], { cwd: file }))).rejects.toMatchObject({
      code: ErrorCodes.SPAWN_FAILED, message: expect.stringContaining('not a directory'), details: { errno: 'ENOTDIR' },
    });
  });

  it('finishes a command whose output was paused for a consumer that never came, once its group is gone', async () => {
    // 10 KiB fits in the pipe, so the leader exits while nobody reads; nothing is left to add
    // to the pipe, so what it holds is read to the end and the command finishes.
    const child = await spawnPipes(spec(['head', '-c', '10240', '/dev/zero']));
    let bytes = 0;
    const execution = new Execution(child, (_fd, data) => (bytes += data.length), { lingerMs: 50 });
    execution.pause(1);
    const result = await execution.done;
    expect(result).toMatchObject({ exitCode: 0, stdoutBytes: 10240 });
    expect(bytes).toBe(10240);
  });

  it('keeps paused output waiting while a process of the group still holds the pipe', async () => {
    const child = await spawnPipes(spec(['sh', '-c', 'printf x; sleep 30 & exit 0']));
    const execution = new Execution(child, () => {}, { lingerMs: 20 });
    execution.pause(1);
    let finished = false;
    void execution.done.then(() => (finished = true));
    await child.exited;
    await new Promise((r) => setTimeout(r, 200));
    expect(finished).toBe(false);
    expect(groupAlive(child.pid)).toBe(true);
    execution.kill('SIGKILL');
    await expect(execution.done).resolves.toMatchObject({ exitCode: 0, stdoutBytes: 1 });
  });

  it('stops reading a writer that escaped the group after at most about a pipe buffer more', async () => {
    const marker = `conch-escaped-${randomUUID()}`;
    const child = await spawnPipes(spec(['sh', '-c', `setsid yes ${marker} & sleep 0.2; exit 0`]));
    let bytes = 0;
    const execution = new Execution(child, (_fd, data) => (bytes += data.length), { lingerMs: 20 });
    execution.pause(1);
    try {
      const result = await execution.done;
      expect(result.exitCode).toBe(0);
      // The pipe's 64 KiB before the pause took hold, then at most the 1 MiB drain bound and one read.
      expect(bytes).toBeLessThan(64 * 1024 + (1 << 20) + 256 * 1024);
    } finally {
      for (const pid of pidsOf(marker)) process.kill(pid, 'SIGKILL');
    }
  });
});

/** Processes whose command line carries `marker`: the escaped writer, which no group kill reaches. */
function pidsOf(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) pids.push(Number(entry));
    } catch {
      // gone already
    }
  }
  return pids;
}
