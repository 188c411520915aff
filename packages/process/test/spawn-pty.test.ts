import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { groupAlive, signalGroup, spawnPipes, spawnPty, type ProcessSpec, type PtyProcess } from '../src/index.js';

const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));

function spec(argv: string[], extra: Partial<ProcessSpec> = {}): ProcessSpec {
  return { argv, cwd: '/', env, stdin: false, pty: { cols: 80, rows: 24 }, ...extra };
}

/** Reads the terminal until its end; resolves with the output and the exit. */
async function collect(p: PtyProcess) {
  const chunks: Buffer[] = [];
  p.stdout.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    p.stdout.once('end', resolve);
    p.stdout.once('error', reject);
  });
  const exit = await p.exited;
  return { ...exit, output: Buffer.concat(chunks).toString() };
}

/** Resolves once the output so far contains `text`. */
function waitFor(p: PtyProcess, text: string): Promise<void> {
  let seen = '';
  return new Promise((resolve) => {
    const onData = (c: Buffer) => {
      seen += c.toString();
      if (seen.includes(text)) {
        p.stdout.off('data', onData);
        resolve();
      }
    };
    p.stdout.on('data', onData);
  });
}

const started: PtyProcess[] = [];
async function start(s: ProcessSpec): Promise<PtyProcess> {
  const p = await spawnPty(s);
  started.push(p);
  return p;
}

afterEach(() => {
  for (const p of started.splice(0)) signalGroup(p.pid, 'SIGKILL');
});

describe('spawnPty', () => {
  it('gives the program a terminal of the requested size', async () => {
    const r = await collect(await start(spec(['stty', 'size'], { pty: { cols: 132, rows: 43 } })));
    expect(r).toMatchObject({ exitCode: 0, signal: null, output: '43 132\r\n' });
  });

  it('sets TERM from the options, xterm-256color by default', async () => {
    expect((await collect(await start(spec(['sh', '-c', 'echo $TERM'], { pty: { cols: 80, rows: 24, term: 'vt100' } })))).output).toBe('vt100\r\n');
    expect((await collect(await start(spec(['sh', '-c', 'echo $TERM'])))).output).toBe('xterm-256color\r\n');
  });

  it('turns \\n into \\r\\n (ONLCR) and merges stderr into the terminal', async () => {
    const p = await start(spec(['sh', '-c', 'printf "a\\nb\\n"; echo err >&2']));
    expect(p.stderr).toBeNull();
    expect((await collect(p)).output).toBe('a\r\nb\r\nerr\r\n');
  });

  it('resizes a running program, which then sees the new size', async () => {
    const p = await start(spec(['sh', '-c', 'read x; stty size'], { stdin: true }));
    p.resize(120, 40);
    p.stdin!.write('go\n');
    const r = await collect(p);
    expect(r.output).toBe('go\r\n40 120\r\n');
    expect(() => p.resize(0, 10)).toThrow(RangeError);
    // After the end a resize is a no-op: the fd may be someone else's by now.
    p.resize(100, 30);
  });

  it('round-trips input through the terminal, with echo, and ends it with the EOF character', async () => {
    const p = await start(spec(['cat'], { stdin: true }));
    p.stdin!.write('hello\n');
    await waitFor(p, 'hello\r\nhello\r\n');
    p.endInput();
    const r = await collect(p);
    expect(r).toMatchObject({ exitCode: 0, signal: null });
  });

  it('reports the true exit of a program that closes the terminal before it exits, not a SIGHUP', async () => {
    // GNU tools close stdout and stderr in an atexit handler, so the terminal can lose its last
    // open fd while the program still runs. That must not close the master under it (the kernel
    // would hang the terminal up and SIGHUP the program); see terminal-hold.ts.
    const p = await start(spec(['sh', '-c', 'echo bye; exec 0<&- 1>&- 2>&-; sleep 0.2; exit 5']));
    expect(await collect(p)).toMatchObject({ exitCode: 5, signal: null, output: 'bye\r\n' });
    // The same race with a real program: cat given a line and ^D, back to back.
    for (let i = 0; i < 50; i++) {
      const cat = await start(spec(['cat'], { stdin: true }));
      cat.stdin!.write('x\n');
      cat.endInput();
      expect(await collect(cat), `run ${i}`).toMatchObject({ exitCode: 0, signal: null });
    }
  });

  it('ends input after a partial line too (two ^D in canonical mode)', async () => {
    const p = await start(spec(['sh', '-c', 'cat; echo "[done]"'], { stdin: true }));
    const all = collect(p);
    p.stdin!.write('abc');
    p.endInput();
    const r = await all;
    expect(r.exitCode).toBe(0);
    expect(r.output).toBe('abcabc[done]\r\n');
  });

  it('without stdin, a reader sees end of input at once, as from /dev/null', async () => {
    const p = await start(spec(['sh', '-c', 'cat; echo "rc=$?"']));
    expect(p.stdin).toBeNull();
    expect(await collect(p)).toMatchObject({ exitCode: 0, output: 'rc=0\r\n' });
  });

  it('reports the exit code', async () => {
    expect(await collect(await start(spec(['sh', '-c', 'exit 3'])))).toMatchObject({ exitCode: 3, signal: null });
  });

  it('reports a kill by signal by name, never as an exit code', async () => {
    const p = await start(spec(['sleep', '30']));
    const r = collect(p);
    signalGroup(p.pid, 'SIGTERM');
    expect(await r).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
  });

  it('makes the process a session and group leader with the terminal as its controlling tty', async () => {
    // /proc/PID/stat fields 5-8: pgrp, session, tty_nr, tpgid (the terminal's foreground group).
    const p = await start(spec(['sh', '-c', 'cut -d" " -f5-8 /proc/$$/stat']));
    const [pgrp, session, ttyNr, tpgid] = (await collect(p)).output.trim().split(' ').map(Number);
    expect({ pgrp, session, tpgid }).toEqual({ pgrp: p.pid, session: p.pid, tpgid: p.pid });
    expect(ttyNr).not.toBe(0);
  });

  it('delivers ^C as SIGINT to the foreground group', async () => {
    const p = await start(spec(['sh', '-c', 'echo ready; exec sleep 30'], { stdin: true }));
    const r = collect(p);
    await waitFor(p, 'ready');
    p.stdin!.write('\x03');
    expect(await r).toMatchObject({ exitCode: null, signal: 'SIGINT' });
  });

  it('waits for output of a background process that still holds the terminal', async () => {
    // The leader's exit sends SIGHUP to its foreground group; a background job that ignores it
    // lives on. The trap comes before the fork, so the job ignores SIGHUP from its first instant.
    const p = await start(spec(['sh', '-c', 'trap "" HUP; (sleep 0.3; echo late) & echo early']));
    const r = await collect(p);
    expect(r).toMatchObject({ exitCode: 0, output: 'early\r\nlate\r\n' });
  });

  it('abandonOutput closes the master and ends the output while a grandchild holds the terminal', async () => {
    const p = await start(spec(['sh', '-c', 'trap "" HUP; echo started; sleep 30 & echo done']));
    let seen = '';
    p.stdout.on('data', (c: Buffer) => (seen += c.toString()));
    const closed = new Promise((resolve) => p.stdout.once('close', resolve));
    expect(await p.exited).toMatchObject({ exitCode: 0 });
    await vi.waitFor(() => expect(seen).toBe('started\r\ndone\r\n'));
    p.abandonOutput();
    await closed;
    expect(groupAlive(p.pid)).toBe(true);
  });

  it('applies backpressure: while output is paused the producer blocks in the kernel', async () => {
    const p = await start(spec(['sh', '-c', 'head -c 4000000 /dev/zero | tr "\\0" a']));
    p.stdout.pause();
    let exited = false;
    void p.exited.then(() => (exited = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(exited).toBe(false);
    // What we hold is bounded: our buffer plus one read, not the producer's 4 MB.
    expect(p.stdout.readableLength).toBeLessThanOrEqual(128 * 1024);
    let n = 0;
    p.stdout.on('data', (c: Buffer) => (n += c.length));
    p.stdout.resume();
    await new Promise((resolve) => p.stdout.once('end', resolve));
    expect(n).toBe(4_000_000);
    expect(await p.exited).toMatchObject({ exitCode: 0 });
  });

  it('rejects a missing executable, an unexecutable file, a directory and a missing cwd with SPAWN_FAILED', async () => {
    await expect(spawnPty(spec(['/nonexistent/prog']))).rejects.toMatchObject({ code: 'SPAWN_FAILED', details: { errno: 'ENOENT' } });
    await expect(spawnPty(spec(['no-such-command-conch']))).rejects.toMatchObject({ code: 'SPAWN_FAILED' });
    await expect(spawnPty(spec(['/etc/passwd']))).rejects.toMatchObject({ code: 'SPAWN_FAILED', details: { errno: 'EACCES' } });
    // A directory is EACCES, as execve (and so a pipe command) says.
    await expect(spawnPty(spec(['/tmp']))).rejects.toMatchObject({ code: 'SPAWN_FAILED', details: { errno: 'EACCES' } });
    await expect(spawnPty(spec(['true'], { cwd: '/nonexistent' }))).rejects.toMatchObject({ code: 'SPAWN_FAILED', message: expect.stringContaining('working directory') });
  });

  it('rejects a script whose #! interpreter is missing with SPAWN_FAILED that says so, as for pipes: conch-exec-as reports it on a status pipe', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conch-pty-'));
    try {
      const script = join(dir, 'bad-interpreter');
      writeFileSync(script, '#!/no/such/interpreter\necho never\n', { mode: 0o755 });
      const expected = { code: 'SPAWN_FAILED', details: { errno: 'ENOENT' }, message: expect.stringContaining('its interpreter') };
      await expect(spawnPty(spec([script]))).rejects.toMatchObject(expected);
      await expect(spawnPipes(spec([script]))).rejects.toMatchObject(expected);
      // And a good one after it still runs: the status pipe closed at its exec.
      expect(await collect(await start(spec(['sh', '-c', 'echo fine'])))).toMatchObject({ output: 'fine\r\n', exitCode: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs an executable without a #! line as a /bin/sh script, as execvp does (through conch-exec-as)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conch-pty-'));
    try {
      const script = join(dir, 'no-shebang');
      writeFileSync(script, 'echo "$0 [$1]"\n', { mode: 0o755 });
      expect(await collect(await start(spec([script, 'a b'])))).toMatchObject({ output: `${script} [a b]\r\n`, exitCode: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.runIf(process.getuid?.() === 0)('runs as another uid/gid when asked', async () => {
    const r = await collect(await start(spec(['sh', '-c', 'echo $(id -u) $(id -g)'], { uid: 65534, gid: 65534 })));
    expect(r.output).toBe('65534 65534\r\n');
  });

  it('reports PTY_UNAVAILABLE with the load error when node-pty cannot be loaded', async () => {
    vi.resetModules();
    vi.stubEnv('CONCH_NODE_PTY', '/nonexistent/node-pty');
    try {
      const fresh = await import('../src/spawn-pty.js');
      expect(fresh.ptyAvailable()).toBe(false);
      await expect(fresh.spawnPty(spec(['true']))).rejects.toMatchObject({ code: 'PTY_UNAVAILABLE', details: { reason: expect.stringContaining('/nonexistent/node-pty') } });
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });

  it('loads node-pty from CONCH_NODE_PTY when it names a directory or the addon', async () => {
    const dir = new URL('../../../node_modules/node-pty', import.meta.url).pathname;
    for (const path of [dir, `${dir}/build/Release/pty.node`]) {
      vi.resetModules();
      vi.stubEnv('CONCH_NODE_PTY', path);
      try {
        const fresh = await import('../src/spawn-pty.js');
        expect(fresh.ptyAvailable()).toBe(true);
        expect((await collect(await fresh.spawnPty(spec(['echo', 'ok'])))).output).toBe('ok\r\n');
      } finally {
        vi.unstubAllEnvs();
        vi.resetModules();
      }
    }
  });
});
