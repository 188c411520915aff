import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it as vitestIt, type TestContext } from 'vitest';
import { commandCgroups } from '@conch/process';
import { Capabilities } from '@conch/protocol';
import { ErrorCodes, MAX_DURATION_MS, type SessionOptions, type ShellSession, type Terminal, type TerminalOptions } from '@conch/shell-client';
import { measureTailLoss } from '../../packages/process/test/support/tail-loss.js';
import { followOutput as follow } from '../helpers/follow-output.js';

/** How a backend under test is brought up and torn down. */
export interface ConformanceTarget {
  /** A fresh, connected session. Each test gets its own. */
  open(): Promise<ShellSession>;
  /** A fresh session created with its own program on a terminal (openTerminal, or forkTerminal on a shared connection). */
  openTerminal(terminal: TerminalOptions, options?: SessionOptions): Promise<Terminal>;
  /** Runs per size in the PTY tail-loss check. @default 200 */
  readonly tailLossRuns?: number;
  /** Called once after all tests. */
  teardown?(): Promise<void>;
}

/** State of a pid as seen by the system that ran it: undefined when gone (zombies count as gone). */
const PROC_STATE = (pid: number) => `s=$(cut -d' ' -f3 /proc/${pid}/stat 2>/dev/null); [ -n "$s" ] && [ "$s" != Z ] && echo alive || echo gone`;

export interface ConformanceOptions {
  /**
   * Bound on each test. In a VM a test that hangs must fail on its own, with its sessions
   * closed after it, rather than hold the guest's one virtio-serial connection for the rest.
   * @default the project's testTimeout
   */
  readonly testTimeoutMs?: number;
  /** Fail, rather than skip, the tests that need each command in a cgroup of its own. */
  readonly requireCgroups?: boolean;
}

/**
 * Runs `command`, which prints the pids of two processes it starts, checks they run, kills the
 * command with SIGTERM, and expects both gone within 5 s (SIGKILL follows after the grace).
 */
async function expectKillReaches(s: ShellSession, command: string, what: string): Promise<void> {
  const h = await s.spawn(command);
  const pids: number[] = [];
  for await (const { line } of h.lines()) {
    pids.push(Number(line));
    if (pids.length === 2) break;
  }
  for (const pid of pids) expect((await s.exec(PROC_STATE(pid))).stdout, `${what} ${pid}`).toBe('alive\n');
  await h.kill('SIGTERM');
  expect((await h.wait()).signal).not.toBeNull();
  for (const pid of pids) {
    let state = '';
    for (let i = 0; i < 50 && state !== 'gone\n'; i++) {
      state = (await s.exec(PROC_STATE(pid))).stdout;
      if (state !== 'gone\n') await new Promise((r) => setTimeout(r, 100));
    }
    expect(state, `${what} ${pid}`).toBe('gone\n');
  }
}

/** true when the session's commands run in cgroups of their own (so kills reach escapees), else why not. */
function cgroupKill(s: ShellSession): true | string {
  const daemon = s.status.state === 'ready' ? s.status.daemon : undefined;
  if (daemon) return daemon.capabilities.includes(Capabilities.CGROUP_KILL) || `the daemon does not announce ${Capabilities.CGROUP_KILL}`;
  // The local backend runs commands in this process, with its cgroups.
  const local = commandCgroups();
  return local instanceof Error ? local.message : true;
}

/**
 * The behaviour every backend must share. Registered once per backend (LocalProcessShellSession,
 * conchd over a Unix socket, and conchd inside a VM over each transport), unchanged.
 */
export function defineConformanceSuite(name: string, setup: () => Promise<ConformanceTarget>, options: ConformanceOptions = {}): void {
  // Every test below gets the suite's bound, unless it names its own.
  const it = (title: string, fn: (ctx: TestContext) => Promise<void>, timeoutMs = options.testTimeoutMs) => vitestIt(title, (ctx) => fn(ctx), timeoutMs);
  describe(`conformance: ${name}`, () => {
    let target: ConformanceTarget;
    const sessions: ShellSession[] = [];
    const open = async () => {
      const s = await target.open();
      sessions.push(s);
      return s;
    };
    const openTerminal = async (terminal: TerminalOptions, sessionOptions?: SessionOptions) => {
      const t = await target.openTerminal(terminal, sessionOptions);
      sessions.push(t.session);
      return t;
    };

    beforeAll(async () => {
      target = await setup();
    });
    // After each test, failed or timed out too: its commands are killed and its connections
    // released before the next test starts.
    afterEach(async () => {
      await Promise.all(sessions.splice(0).map((s) => s.close().catch(() => {})));
    });
    afterAll(async () => {
      await target?.teardown?.();
    });

    it('reports exit codes, from shell strings and argv', async () => {
      const s = await open();
      expect((await s.exec('exit 3')).exitCode).toBe(3);
      expect((await s.exec(['true'])).exitCode).toBe(0);
      const r = await s.exec(['sh', '-c', 'exit 42']);
      expect(r).toMatchObject({ exitCode: 42, signal: null, timedOut: false, truncated: false });
    });

    it('reports death by signal as the signal name, never a made-up code', async () => {
      const s = await open();
      expect(await s.exec('kill -TERM $$')).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
      const h = await s.spawn(['sleep', '30']);
      await h.signal('SIGUSR1');
      expect(await h.wait()).toMatchObject({ exitCode: null, signal: 'SIGUSR1' });
      // Signals Node also knows by an alias (SIGIOT, SIGPOLL), and a real-time one, by their own names.
      expect(await s.exec('kill -ABRT $$')).toMatchObject({ exitCode: null, signal: 'SIGABRT' });
      expect(await s.exec('kill -IO $$')).toMatchObject({ exitCode: null, signal: 'SIGIO' });
      const rt = await s.spawn(['sleep', '30']);
      await rt.signal('SIGRTMIN+3');
      expect(await rt.wait()).toMatchObject({ exitCode: null, signal: 'SIGRTMIN+3' });
      const pty = await s.spawn(['sleep', '30'], { pty: { cols: 80, rows: 24 } });
      await pty.signal('SIGRTMAX');
      expect(await pty.wait()).toMatchObject({ exitCode: null, signal: 'SIGRTMAX' });
    });

    it('delivers 50 MB of random binary output byte-exact (sha256)', async () => {
      const s = await open();
      const r = await s.exec(
        'f=$(mktemp) && head -c 52428800 /dev/urandom > "$f" && sha256sum "$f" | cut -d" " -f1 >&2 && cat "$f"; rm -f "$f"',
        { encoding: 'buffer' },
      );
      expect(r.exitCode).toBe(0);
      expect(r.stdout.length).toBe(52428800);
      expect(createHash('sha256').update(r.stdout).digest('hex')).toBe(Buffer.from(r.stderr).toString().trim());
    });

    it('keeps interleaved stdout and stderr apart and in order', async () => {
      const s = await open();
      const r = await s.exec('i=1; while [ $i -le 2000 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done');
      const lines = (n: string) => Array.from({ length: 2000 }, (_, i) => `${n}${i + 1}`).join('\n') + '\n';
      expect(r.stdout).toBe(lines('out'));
      expect(r.stderr).toBe(lines('err'));
    });

    it('closes stdin unless asked for', async () => {
      const s = await open();
      const r = await s.exec(['cat']);
      expect(r).toMatchObject({ exitCode: 0, stdout: '' });
    });

    it('round-trips stdin: 2 MB of binary through cat, and write/end on a handle', async () => {
      const s = await open();
      const input = randomBytes(2 << 20);
      const r = await s.exec(['cat'], { input, encoding: 'buffer' });
      expect(Buffer.compare(Buffer.from(r.stdout), input)).toBe(0);

      const h = await s.spawn(['sh', '-c', 'while read line; do echo "got $line"; done'], { stdin: true });
      const out: string[] = [];
      const reading = (async () => {
        for await (const { line } of h.lines()) out.push(line);
      })();
      await h.write('a\n');
      await h.write('b\n');
      await h.end();
      expect((await h.wait()).exitCode).toBe(0);
      await reading;
      expect(out).toEqual(['got a', 'got b']);
    });

    it('delivers every write before end(), in order, without the caller awaiting them', async () => {
      const s = await open();
      const h = await s.spawn(['cat'], { stdin: true });
      // More than the stdin window, so the later writes and the end wait behind credit.
      const parts = [randomBytes(3 << 20), Buffer.from('tail'), randomBytes(1 << 20)];
      const writes = parts.map((part) => h.write(part));
      const ended = h.end();
      const chunks: Buffer[] = [];
      for await (const { data } of h) chunks.push(Buffer.from(data));
      await Promise.all([...writes, ended]);
      expect((await h.wait()).exitCode).toBe(0);
      expect(Buffer.compare(Buffer.concat(chunks), Buffer.concat(parts))).toBe(0);
    });

    it('settles a write that waits on a command which exits without reading it, and refuses writes after the exit', async () => {
      const s = await open();
      for (const argv of [['true'], ['head', '-c', '1']]) {
        const h = await s.spawn(argv, { stdin: true });
        // More than any stdin window: the rest waits for room the command will never make.
        const write = h.write(randomBytes(8 << 20)).then(() => 'settled', (err: { code?: string }) => err.code);
        expect((await h.wait()).exitCode).toBe(0);
        expect(await write).toMatch(/^(settled|STDIN_CLOSED)$/);
        await expect(h.write('late')).rejects.toMatchObject({ code: ErrorCodes.STDIN_CLOSED });
      }
    });

    it('takes durations up to MAX_DURATION_MS, and refuses longer ones (which a timer would fire at once) with INVALID_ARGUMENT', async () => {
      const s = await open();
      const r = await s.exec(['true'], { timeoutMs: MAX_DURATION_MS, killGraceMs: MAX_DURATION_MS, waitTimeoutMs: MAX_DURATION_MS });
      expect(r).toMatchObject({ exitCode: 0, timedOut: false });
      for (const key of ['timeoutMs', 'killGraceMs', 'waitTimeoutMs'] as const) {
        await expect(s.exec(['true'], { [key]: MAX_DURATION_MS + 1 })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT, message: expect.stringContaining(key) });
      }
      await expect(s.exec(['true'], { timeoutMs: Number.MAX_SAFE_INTEGER })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      const h = await s.spawn(['sleep', '30']);
      await expect(h.kill('SIGTERM', MAX_DURATION_MS + 1)).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      await expect(s.killAll('SIGTERM', MAX_DURATION_MS + 1)).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      await h.kill('SIGKILL');
      expect((await h.wait()).signal).toBe('SIGKILL');
    });

    it('refuses malformed options and terminal sizes with INVALID_ARGUMENT, before anything runs', async () => {
      const s = await open();
      const bad: Record<string, unknown>[] = [
        { input: 123 }, { uid: 2 ** 32 - 1 }, { gid: -1 }, { env: 'A=1' }, { pty: { cols: 0, rows: 24 } }, { pty: { cols: 80, rows: 70_000 } },
        { signal: 'stop' }, { maxOutputBytes: 1.5 },
      ];
      for (const options of bad) {
        await expect(s.exec(['true'], options as never), JSON.stringify(options)).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      }
      await expect(s.exec(['true'], null as never)).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      const h = await s.spawn('sleep 5', { pty: { cols: 80, rows: 24 } });
      for (const [cols, rows] of [[0, 24], [80, -1], [1.5, 24], [65_536, 24]]) {
        await expect(h.resize(cols!, rows!)).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      }
      await h.resize(65_535, 1);
      await h.kill('SIGKILL');
      await h.wait();
    });

    it('refuses NUL bytes in a shell string, an argv or a cwd with INVALID_ARGUMENT, before anything runs', async () => {
      const s = await open();
      for (const [command, options] of [['echo a\0b', {}], [['echo', 'a\0b'], {}], ['pwd', { cwd: '/tmp\0x' }]] as const) {
        await expect(s.exec(command as string | string[], options)).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      }
    });

    it('fails a command too large to send or to run with a typed error, and the session goes on', async () => {
      const s = await open();
      // Over the daemon's frame limit (LIMIT_EXCEEDED before it is sent) and the kernel's for one argument (E2BIG).
      await expect(s.exec(`: ${'x'.repeat(2 << 20)}`)).rejects.toMatchObject({ code: expect.stringMatching(/^(LIMIT_EXCEEDED|SPAWN_FAILED)$/) });
      expect((await s.exec('echo still here')).stdout).toBe('still here\n');
    });

    it('killAll() ends every running command and keeps the session: its cwd and environment, and it takes new commands', async () => {
      const s = await open();
      await s.exec('cd /tmp && export CONCH_KEPT=yes');
      const running = await Promise.all([s.spawn(['sleep', '30']), s.spawn('sleep 30')]);
      await s.killAll('SIGKILL');
      for (const h of running) expect((await h.wait()).signal).toBe('SIGKILL');
      expect((await s.exec('pwd; echo "$CONCH_KEPT"')).stdout).toBe('/tmp\nyes\n');
    });

    it('applies env and cwd per command and per session', async () => {
      const s = await open();
      expect((await s.exec('pwd', { cwd: '/' })).stdout).toBe('/\n');
      expect((await s.exec('echo "$CONCH_T"', { env: { CONCH_T: 'x y' } })).stdout).toBe('x y\n');
      // Per-command env does not leak into the session.
      expect((await s.exec('echo "${CONCH_T-unset}"')).stdout).toBe('unset\n');
    });

    it('persists cd and export across commands, and a killed or timed-out command does not poison the session', async () => {
      const s = await open();
      await s.exec('cd / && export CONCH_PERSIST=kept');
      expect((await s.exec('pwd; echo $CONCH_PERSIST')).stdout).toBe('/\nkept\n');
      const h = await s.spawn('cd /tmp; export CONCH_PERSIST=lost; sleep 30');
      await h.kill('SIGKILL');
      expect((await h.wait()).signal).toBe('SIGKILL');
      const t = await s.exec('cat', { stdin: true, timeoutMs: 200 });
      expect(t.timedOut).toBe(true);
      expect((await s.exec('pwd; echo $CONCH_PERSIST')).stdout).toBe('/\nkept\n');
      await s.exec('unset CONCH_PERSIST');
      expect((await s.exec('echo "${CONCH_PERSIST-unset}"')).stdout).toBe('unset\n');
    });

    it('kills the whole process group: grandchildren die with the command', async () => {
      const s = await open();
      await expectKillReaches(s, 'sleep 300 & echo $!; (sleep 301 & echo $!; wait) & wait', 'grandchild');
    });

    it('kills what left the process group too (setsid, a double fork): each command has a cgroup of its own', async (ctx) => {
      const s = await open();
      const contained = cgroupKill(s);
      if (contained !== true) {
        if (options.requireCgroups) throw new Error(`commands do not run in cgroups: ${contained}`);
        console.log(`skipped: commands do not run in cgroups here: ${contained}`);
        ctx.skip();
      }
      await expectKillReaches(s, "setsid sleep 301 & echo $!; setsid sh -c 'sleep 302 & echo $!'; sleep 300", 'escapee');
    });

    it('enforces timeouts in the daemon: SIGTERM, then SIGKILL after the grace period', async () => {
      const s = await open();
      const t0 = Date.now();
      const r = await s.exec(['sleep', '30'], { timeoutMs: 300 });
      expect(r).toMatchObject({ timedOut: true, signal: 'SIGTERM', exitCode: null });
      const stubborn = await s.exec("trap '' TERM; sleep 30 & wait; sleep 30", { timeoutMs: 300, killGraceMs: 300 });
      expect(stubborn).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
      expect(Date.now() - t0).toBeLessThan(15_000);
    });

    it('takes timeoutMs 0 as no timeout, as child_process does: the command runs to its end', async () => {
      const s = await open();
      const r = await s.exec('sleep 0.3; echo finished', { timeoutMs: 0 });
      expect(r).toMatchObject({ timedOut: false, exitCode: 0, signal: null, stdout: 'finished\n' });
    });

    it('caps output at maxOutputBytes with a truncated flag, and still reports the exit', async () => {
      const s = await open();
      const r = await s.exec('head -c 3000000 /dev/zero; echo done >&2; exit 7', { maxOutputBytes: 1000, encoding: 'buffer' });
      expect(r.stdout.length + r.stderr.length).toBe(1000);
      expect(r).toMatchObject({ truncated: true, exitCode: 7, stdoutBytes: 3000000 });
    });

    it('runs 200 concurrent commands on one connection', async () => {
      const s = await open();
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => s.exec(['sh', '-c', `echo ${i}; exit $((${i} % 5))`])));
      results.forEach((r, i) => expect(r).toMatchObject({ stdout: `${i}\n`, exitCode: i % 5 }));
    });

    it('kills on abort and rejects with ABORTED', async () => {
      const s = await open();
      const ac = new AbortController();
      const h = await s.spawn('echo $$; sleep 30', { signal: ac.signal });
      let pid = 0;
      for await (const { line } of h.lines()) {
        pid = Number(line);
        break;
      }
      ac.abort();
      await expect(h.wait()).rejects.toMatchObject({ code: ErrorCodes.ABORTED });
      let state = '';
      for (let i = 0; i < 50 && state !== 'gone\n'; i++) {
        state = (await s.exec(PROC_STATE(pid))).stdout;
        if (state !== 'gone\n') await new Promise((r) => setTimeout(r, 100));
      }
      expect(state).toBe('gone\n');
    });

    it('does not start a command whose signal is already aborted', async () => {
      const s = await open();
      const marker = `/tmp/conch-aborted-${process.pid}-${Date.now()}`;
      const ac = new AbortController();
      ac.abort();
      await expect(s.exec(`touch ${marker}`, { signal: ac.signal })).rejects.toMatchObject({ code: ErrorCodes.ABORTED });
      await expect(s.spawn(`touch ${marker}`, { signal: ac.signal })).rejects.toMatchObject({ code: ErrorCodes.ABORTED });
      await new Promise((r) => setTimeout(r, 200));
      expect((await s.exec(`test -e ${marker} && echo ran || echo not run`)).stdout).toBe('not run\n');
    });

    it('on abort, settles a write waiting for room and raises no error from a Readable nobody listens to', async () => {
      const s = await open();
      const ac = new AbortController();
      // Reads nothing: the write waits for room that never comes.
      const h = await s.spawn('sleep 30', { stdin: true, signal: ac.signal });
      // Taking stdout makes both Readables; only stdout has a listener.
      h.stdout.on('error', () => {});
      const write = h.write(randomBytes(8 << 20)).then(() => 'settled', (err: { code?: string }) => err.code);
      await new Promise((r) => setTimeout(r, 200));
      ac.abort();
      await expect(h.wait()).rejects.toMatchObject({ code: ErrorCodes.ABORTED });
      expect(await write).toMatch(/^(settled|STDIN_CLOSED)$/);
      // Unhandled, a stderr 'error' would have failed this test run by now.
      await new Promise((r) => setTimeout(r, 100));
    });

    it('refuses a write to a command started without stdin, and one after end(), with STDIN_CLOSED', async () => {
      const s = await open();
      const none = await s.spawn('sleep 1');
      await expect(none.write('x')).rejects.toMatchObject({ code: ErrorCodes.STDIN_CLOSED });
      const h = await s.spawn(['cat'], { stdin: true });
      await h.write('once');
      await h.end();
      await expect(h.write('again')).rejects.toMatchObject({ code: ErrorCodes.STDIN_CLOSED });
      expect((await h.wait()).exitCode).toBe(0);
      await none.kill('SIGKILL');
    });

    it('refuses a second iterator while one runs, and after a break drops the rest so that wait() cannot stall', async () => {
      const s = await open();
      // Far more than a window after the line: unread, it would stall the command.
      const h = await s.spawn('echo ready; head -c 20000000 /dev/zero; exit 3');
      const first = h[Symbol.asyncIterator]();
      await first.next();
      await expect(h[Symbol.asyncIterator]().next()).rejects.toMatchObject({ code: ErrorCodes.INVALID_STATE });
      await first.return?.();
      expect((await h.wait()).exitCode).toBe(3);
      const g = await s.spawn('echo ready; head -c 20000000 /dev/zero; exit 4');
      for await (const { line } of g.lines()) if (line === 'ready') break;
      expect((await g.wait()).exitCode).toBe(4);
    });

    it('keeps nothing of a command exec() stopped waiting for (waitTimeoutMs), though it runs on', async () => {
      const s = await open();
      const before = process.memoryUsage().arrayBuffers;
      // 200 MB of output, then a pause in which it is still running and its handle unreachable.
      await expect(s.exec('head -c 200000000 /dev/zero; sleep 3', { waitTimeoutMs: 100 })).rejects.toMatchObject({ code: ErrorCodes.WAIT_TIMEOUT });
      await new Promise((r) => setTimeout(r, 2000));
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(50e6);
    }, 30_000);

    it('stops waiting at waitTimeoutMs without killing the command', async () => {
      const s = await open();
      const h = await s.spawn('sleep 1; echo finished');
      await expect(h.wait({ timeoutMs: 100 })).rejects.toMatchObject({ code: ErrorCodes.WAIT_TIMEOUT });
      const chunks: string[] = [];
      for await (const { data } of h) chunks.push(Buffer.from(data).toString());
      expect(chunks.join('')).toBe('finished\n');
      expect((await h.wait()).exitCode).toBe(0);
    });

    it('rejects on non-zero exit only when asked', async () => {
      const s = await open();
      await expect(s.exec('echo oops >&2; exit 2', { reject: true })).rejects.toMatchObject({
        code: ErrorCodes.NON_ZERO_EXIT,
        result: { exitCode: 2, stderr: 'oops\n' },
      });
    });

    it('reports a command that cannot start as a typed error', async () => {
      const s = await open();
      await expect(s.exec(['/nonexistent/conch-binary'])).rejects.toMatchObject({ code: ErrorCodes.SPAWN_FAILED });
      await expect(s.exec('true', { cwd: '/nonexistent-dir' })).rejects.toMatchObject({ code: ErrorCodes.SPAWN_FAILED });
      await expect(s.exec([])).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      expect((await s.exec('echo still fine')).stdout).toBe('still fine\n');
    });

    it('runs commands on a PTY: size, TERM, input, EOF, resize, exit code', async () => {
      const s = await open();
      const r = await s.exec('stty size; echo "$TERM"; test -t 0 && test -t 1 && echo tty', { pty: { cols: 101, rows: 33, term: 'xterm-conch' } });
      expect(r).toMatchObject({ exitCode: 0, stdout: '33 101\r\nxterm-conch\r\ntty\r\n', stderr: '' });
      expect((await s.exec('exit 5', { pty: { cols: 80, rows: 24 } })).exitCode).toBe(5);

      const h = await s.spawn(['sh', '-c', 'read a; echo "got $a"; stty size; cat; echo "eof seen"'], { pty: { cols: 80, rows: 24 }, stdin: true });
      const text: string[] = [];
      const reading = (async () => {
        for await (const { data } of h) text.push(Buffer.from(data).toString());
      })();
      await h.write('hello\r');
      await h.resize(120, 40);
      await h.end();
      expect((await h.wait()).exitCode).toBe(0);
      await reading;
      const out = text.join('');
      expect(out).toContain('got hello\r\n');
      expect(out).toContain('eof seen\r\n');
      await expect(s.spawn(['true']).then((p) => p.resize(1, 1))).rejects.toMatchObject({ code: ErrorCodes.INVALID_STATE });
    });

    it('kills a PTY command and reports the signal', async () => {
      const s = await open();
      const h = await s.spawn(['sleep', '30'], { pty: { cols: 80, rows: 24 } });
      await h.kill('SIGKILL');
      expect(await h.wait()).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
    });

    it('loses no PTY output at exit: 0 short runs at 1 KiB, 16 KiB, 64 KiB and 1 MiB', async () => {
      const s = await open();
      const results = await measureTailLoss(
        async (command) => (await s.exec(command, { pty: { cols: 80, rows: 24 }, encoding: 'buffer' })).stdout,
        { runs: target.tailLossRuns ?? 200, concurrency: 3 },
      );
      for (const r of results) expect(r, `${r.bytes} bytes`).toMatchObject({ short: 0, mismatched: 0 });
    }, 600_000);

    it('streams output through Node Readables with backpressure', async () => {
      const s = await open();
      const h = await s.spawn('head -c 8000000 /dev/zero');
      let total = 0;
      for await (const chunk of h.stdout) {
        total += (chunk as Buffer).length;
        // A slow consumer: the producer must wait for us rather than buffer without bound.
        if (total % (1 << 20) < 65536) await new Promise((r) => setTimeout(r, 5));
      }
      expect(total).toBe(8000000);
      expect((await h.wait()).exitCode).toBe(0);
    });

    it('a Readable its consumer destroyed does not hold the command: 20 MB on a destroyed stderr, stdout read to its end', async () => {
      const s = await open();
      // Far past the window (4 MiB): unread and uncredited, stderr would stop the command.
      const h = await s.spawn('head -c 20000000 /dev/zero >&2; echo done');
      h.stderr.destroy();
      let out = '';
      const read = (async () => {
        for await (const chunk of h.stdout) out += (chunk as Buffer).toString();
      })();
      const stalled = new Promise((resolve) => setTimeout(resolve, 60_000, 'stalled')).then((v) => v);
      expect(await Promise.race([read.then(() => 'read'), stalled])).toBe('read');
      expect(out).toBe('done\n');
      expect(await h.wait()).toMatchObject({ exitCode: 0, stderrBytes: 20000000 });
    });

    it('opens an interactive session: its program on a terminal of the given size, with the session\'s cwd and env, input, resize, exit', async () => {
      const dir = (await (await open()).exec('mktemp -d')).stdout.trim();
      const { session, handle } = await openTerminal(
        {
          pty: { cols: 91, rows: 29, term: 'xterm-conch' },
          argv: ['sh', '-c', 'stty size; echo "[$TERM] [$CONCH_T] [$(pwd)]"; test -t 0 && echo tty; read a; echo "got $a"; read b; stty size; exit 7'],
        },
        { cwd: dir, env: { CONCH_T: 'from the session' } },
      );
      expect(handle.pty).toBe(true);
      expect(handle.pid).toBeGreaterThan(0);
      const out = follow(handle);
      await out.until('tty\r\n');
      expect(out.text()).toContain(`29 91\r\n[xterm-conch] [from the session] [${dir}]\r\ntty\r\n`);
      // The session is a session: other commands run in it while its program waits for input.
      expect((await session.exec('echo "$CONCH_T"; pwd')).stdout).toBe(`from the session\n${dir}\n`);
      await handle.write('hello\r');
      await out.until('got hello\r\n');
      await handle.resize(120, 40);
      await handle.write('\r');
      expect(await handle.wait()).toMatchObject({ exitCode: 7, signal: null });
      await out.done;
      expect(out.text()).toContain('40 120\r\n');
      // And after its program is gone.
      expect((await session.exec(['echo', 'still here'])).stdout).toBe('still here\n');
      await session.exec(['rmdir', dir]);
    });

    it('runs the session shell as a login shell on the terminal when no program is named', async () => {
      const { handle } = await openTerminal({ pty: { cols: 80, rows: 24 } }, { shell: '/bin/sh' });
      const out = follow(handle);
      // Its argv, as the kernel has it, and then an exit status of its own choosing.
      await handle.write(`printf '<%s>' "$(tr '\\0' ' ' < /proc/$$/cmdline)"; exit 3\r`);
      expect(await handle.wait()).toMatchObject({ exitCode: 3 });
      await out.done;
      expect(out.text()).toContain('</bin/sh -l >');
    });

    it('delivers all of a terminal program\'s output before its exit, and ends it with close()', async () => {
      const { handle } = await openTerminal({ pty: { cols: 80, rows: 24 }, argv: ['sh', '-c', "head -c 300000 /dev/zero | tr '\\0' a"] });
      const out = follow(handle);
      expect((await handle.wait()).exitCode).toBe(0);
      await out.done;
      expect(out.text()).toBe('a'.repeat(300000));

      const held = await openTerminal({ pty: { cols: 80, rows: 24 }, argv: ['sleep', '60'] });
      const settled = held.handle.wait().then((exit) => ({ exit }), (error: unknown) => ({ error }));
      await held.session.close();
      // The handle settles either way: with the kill's exit (local), or COMMAND_LOST (daemon).
      expect(await settled).toSatisfy((r: { exit?: { signal: string | null }; error?: { code?: string } }) => r.exit?.signal != null || r.error?.code === ErrorCodes.COMMAND_LOST);
      // What counts: the program is gone, as seen by the system that ran it.
      const other = await open();
      let state = '';
      for (let i = 0; i < 50 && state !== 'gone\n'; i++) {
        state = (await other.exec(PROC_STATE(held.handle.pid))).stdout;
        if (state !== 'gone\n') await new Promise((r) => setTimeout(r, 100));
      }
      expect(state).toBe('gone\n');
    });

    it('kills a terminal program and reports the signal; the session stays', async () => {
      const { session, handle } = await openTerminal({ pty: { cols: 80, rows: 24 }, argv: ['sleep', '60'] });
      await handle.kill('SIGKILL');
      expect(await handle.wait()).toMatchObject({ exitCode: null, signal: 'SIGKILL' });
      expect((await session.exec('echo ok')).stdout).toBe('ok\n');
    });

    it('refuses a terminal program that cannot start with a typed error, and one with a bad size before anything runs', async () => {
      await expect(openTerminal({ pty: { cols: 80, rows: 24 }, argv: ['/nonexistent/conch-terminal'] })).rejects.toMatchObject({ code: ErrorCodes.SPAWN_FAILED });
      await expect(openTerminal({ pty: { cols: 0, rows: 24 } })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      await expect(openTerminal({ pty: { cols: 80, rows: 24 }, argv: [] })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
      // An argv, never a shell string (which one backend would split into letters and another run).
      await expect(openTerminal({ pty: { cols: 80, rows: 24 }, argv: 'echo hi' as unknown as string[] })).rejects.toMatchObject({ code: ErrorCodes.INVALID_ARGUMENT });
    });
  });
}
