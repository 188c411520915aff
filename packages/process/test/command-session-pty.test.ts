import { describe, expect, it } from 'vitest';
import { CommandSession, type CommandRequest, type OutputSink } from '../src/index.js';

async function run(session: CommandSession, request: CommandRequest) {
  const out: Record<1 | 2, Buffer[]> = { 1: [], 2: [] };
  const sink: OutputSink = (fd, data) => out[fd].push(Buffer.from(data));
  const execution = await session.start(request, sink);
  const result = await execution.done;
  return { ...result, stdout: Buffer.concat(out[1]).toString(), stderr: Buffer.concat(out[2]).toString() };
}

const pty = { cols: 100, rows: 30 };

describe('CommandSession with a PTY', () => {
  it('runs a shell command on a terminal: all output on fd 1, state carried over', async () => {
    const session = new CommandSession({ cwd: '/' });
    const r = await run(session, { command: 'cd /tmp && export CONCH_PTY=yes; echo out; echo err >&2; [ -t 0 ] && [ -t 1 ] && stty size', pty });
    expect(r).toMatchObject({ exitCode: 0, signal: null, stdout: 'out\r\nerr\r\n30 100\r\n', stderr: '', stderrBytes: 0 });
    const after = await run(session, { command: 'pwd; echo $CONCH_PTY' });
    expect(after.stdout).toBe('/tmp\nyes\n');
    session.close();
  });

  it('runs argv on a terminal and reports its exit code', async () => {
    const session = new CommandSession();
    expect(await run(session, { argv: ['sh', '-c', 'printf x; exit 4'], pty })).toMatchObject({ exitCode: 4, stdout: 'x' });
  });

  it('kills the whole group on timeout and reports the signal', async () => {
    const session = new CommandSession();
    const r = await run(session, { command: 'echo started; sleep 30', pty, timeoutMs: 200, killGraceMs: 200 });
    expect(r).toMatchObject({ timedOut: true, exitCode: null, stdout: 'started\r\n' });
    expect(r.signal).toMatch(/SIGTERM|SIGHUP/);
    session.close();
  });

  it('caps output on a terminal and still reports the exit', async () => {
    const session = new CommandSession();
    const r = await run(session, { command: 'head -c 100000 /dev/zero | tr "\\0" a', pty, maxOutputBytes: 1000 });
    expect(r).toMatchObject({ exitCode: 0, truncated: true, stdoutBytes: 100000 });
    expect(r.stdout).toBe('a'.repeat(1000));
  });

  it('does not wait forever for a background process holding the terminal', async () => {
    const session = new CommandSession();
    const chunks: Buffer[] = [];
    const execution = await session.start({ command: 'trap "" HUP; echo started; sleep 30 & echo done', pty, lingerMs: 200 }, (_fd, d) => chunks.push(Buffer.from(d)));
    const r = await execution.done;
    expect(r.exitCode).toBe(0);
    expect(Buffer.concat(chunks).toString()).toBe('started\r\ndone\r\n');
    execution.kill('SIGKILL');
  });

  it('forwards stdin to a terminal command and ends it with the EOF character', async () => {
    const session = new CommandSession();
    const chunks: Buffer[] = [];
    // stdin defaults to open on a terminal, as the daemon's ExecCommand does.
    const execution = await session.start({ argv: ['sh', '-c', 'read line; echo "got $line"'], pty }, (_fd, d) => chunks.push(Buffer.from(d)));
    execution.process.stdin!.write('hi\n');
    execution.process.endInput();
    expect(await execution.done).toMatchObject({ exitCode: 0 });
    expect(Buffer.concat(chunks).toString()).toBe('hi\r\ngot hi\r\n');
  });

  it('with stdin: false, a terminal reader sees end of input at once', async () => {
    const session = new CommandSession();
    const r = await run(session, { argv: ['sh', '-c', 'cat; echo "eof $?"'], pty, stdin: false });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'eof 0\r\n' });
  });
});
