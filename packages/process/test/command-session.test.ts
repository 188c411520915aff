import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CommandSession, type CommandRequest, type OutputSink } from '../src/index.js';

async function run(session: CommandSession, request: CommandRequest) {
  const out: Record<1 | 2, Buffer[]> = { 1: [], 2: [] };
  const sink: OutputSink = (fd, data) => out[fd].push(Buffer.from(data));
  const execution = await session.start(request, sink);
  const result = await execution.done;
  return { ...result, stdout: Buffer.concat(out[1]).toString(), stderr: Buffer.concat(out[2]).toString() };
}

describe('CommandSession', () => {
  it('carries cd and export over to the next command, and unset too', async () => {
    const session = new CommandSession({ cwd: '/' });
    await run(session, { command: 'cd /tmp && export CONCH_A=1 CONCH_B=2' });
    await run(session, { command: 'unset CONCH_B' });
    const r = await run(session, { command: 'pwd; echo "${CONCH_A}-${CONCH_B:-unset}"' });
    expect(r.stdout).toBe('/tmp\n1-unset\n');
    session.close();
  });

  it('keeps state from before a command that was killed', async () => {
    const session = new CommandSession({ cwd: '/' });
    const execution = await session.start({ command: 'cd /tmp; export X=1; sleep 30' }, () => {});
    execution.kill('SIGKILL');
    const result = await execution.done;
    expect(result.signal).toBe('SIGKILL');
    const r = await run(session, { command: 'pwd; echo "x=${X:-}"' });
    expect(r.stdout).toBe('/\nx=\n');
    session.close();
  });

  it('does not persist a per-command env overlay', async () => {
    const session = new CommandSession({ cwd: '/' });
    expect((await run(session, { command: 'echo $ONLY', env: { ONLY: 'once' } })).stdout).toBe('once\n');
    expect((await run(session, { command: 'echo "[${ONLY:-}]"' })).stdout).toBe('[]\n');
    session.close();
  });

  it('reports exit codes through exit N and keeps state set before it', async () => {
    const session = new CommandSession({ cwd: '/' });
    const r = await run(session, { command: 'cd /tmp; exit 7' });
    expect(r.exitCode).toBe(7);
    expect((await run(session, { command: 'pwd' })).stdout).toBe('/tmp\n');
    session.close();
  });

  it.each(['/bin/bash', '/bin/dash'].filter((shell) => existsSync(shell)))('keeps the cd and export of a command that sets an EXIT trap of its own, and runs that trap (%s)', async (shell) => {
    const session = new CommandSession({ cwd: '/', shell });
    const r = await run(session, { command: 'trap "echo bye" EXIT; cd /tmp; export CONCH_T=1; echo hi' });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'hi\nbye\n' });
    const next = await run(session, { command: 'pwd; echo "t=${CONCH_T:-}"' });
    expect(next.stdout).toBe('/tmp\nt=1\n');
    // Its exit status is the command's, not the trap's or the state save's.
    expect((await run(session, { command: 'trap "true" EXIT; false' })).exitCode).toBe(1);
    session.close();
  });

  it('goes on when its cwd is removed under it: relative paths find nothing, absolute ones work, and cd moves it out', async () => {
    const gone = mkdtempSync(join(tmpdir(), 'conch-gone-'));
    const session = new CommandSession({ cwd: '/' });
    try {
      await run(session, { command: `cd ${gone} && touch here` });
      rmSync(gone, { recursive: true });
      // As in a shell left in a deleted directory: nothing relative is there.
      expect(await run(session, { command: 'ls; cat here' })).toMatchObject({ exitCode: 1, stdout: '', stderr: expect.stringContaining('here') });
      expect(await run(session, { argv: ['/bin/echo', 'absolute'] })).toMatchObject({ exitCode: 0, stdout: 'absolute\n' });
      expect(session.state.cwd).toBe(gone);
      // What a command writes where its cwd was is gone with the command (even as root).
      await run(session, { command: 'echo x > left-behind 2>/dev/null' });
      expect(await run(session, { command: 'cat left-behind' })).toMatchObject({ exitCode: 1 });
      // `cd ..` means the removed directory's parent, as in a shell.
      await run(session, { command: 'cd ..' });
      expect(session.state.cwd).toBe(dirname(gone));
      await run(session, { command: 'cd /tmp' });
      expect(await run(session, { command: 'pwd' })).toMatchObject({ exitCode: 0, stdout: '/tmp\n' });
      // A cwd asked for explicitly that is missing is still the command's error.
      await expect(session.start({ argv: ['/bin/true'], cwd: gone }, () => {})).rejects.toMatchObject({ code: 'SPAWN_FAILED', details: { errno: 'ENOENT' } });
    } finally {
      session.close();
    }
  });

  it.each(['/bin/bash', '/bin/dash'].filter((shell) => existsSync(shell)))('keeps the environment of a command that broke its PATH, and its PATH change (%s)', async (shell) => {
    const session = new CommandSession({ cwd: '/', shell, env: { CONCH_KEEP: 'kept' } });
    await run(session, { command: 'export CONCH_NEW=new; export PATH=/nonexistent' });
    expect(session.state.env).toMatchObject({ CONCH_KEEP: 'kept', CONCH_NEW: 'new', PATH: '/nonexistent' });
    await run(session, { command: 'unset PATH' });
    expect(session.state.env.CONCH_KEEP).toBe('kept');
    expect(session.state.env.PATH).toBeUndefined();
    session.close();
  });

  it.each(['/bin/bash', '/bin/dash'].filter((shell) => existsSync(shell)))('keeps its own variables out of the session under set -a, so later saves still happen (%s)', async (shell) => {
    const session = new CommandSession({ cwd: '/', shell });
    await run(session, { command: 'set -a; CONCH_DOTENV=1' });
    expect(session.state.env.CONCH_DOTENV).toBe('1');
    expect(Object.keys(session.state.env).filter((name) => name.startsWith('__conch'))).toEqual([]);
    await run(session, { command: 'cd /tmp; export CONCH_AFTER=1; exit 0' });
    expect(session.state).toMatchObject({ cwd: '/tmp', env: { CONCH_AFTER: '1' } });
    session.close();
  });

  it.each(['/bin/bash', '/bin/dash'].filter((shell) => existsSync(shell)))('keeps the exit status and the cd of a command that unsets PWD under set -u, or sets IFS to digits (%s)', async (shell) => {
    const session = new CommandSession({ cwd: '/', shell });
    expect((await run(session, { command: 'set -u; cd /tmp; unset PWD; exit 3' })).exitCode).toBe(3);
    expect(session.state.cwd).toBe('/tmp');
    expect((await run(session, { command: 'IFS=0123456789; cd /; exit 10' })).exitCode).toBe(10);
    expect(session.state.cwd).toBe('/');
    session.close();
  });

  it('shows under set -x only what the command runs, and its own line numbers', async () => {
    const session = new CommandSession({ cwd: '/', shell: existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh' });
    const r = await run(session, { command: 'set -x\necho one\necho "line $LINENO"' });
    expect(r).toMatchObject({ exitCode: 0, stdout: 'one\nline 3\n' });
    expect(r.stderr.split('\n').filter(Boolean).map((line) => line.replace(/^\++ /, ''))).toEqual(['echo one', 'echo \'line 3\'']);
    const e = await run(session, { command: 'set -x; cd /tmp; exit 4' });
    expect(e).toMatchObject({ exitCode: 4, stderr: expect.not.stringContaining('conch') });
    expect(session.state.cwd).toBe('/tmp');
    session.close();
  });

  it('runs argv without a shell', async () => {
    const session = new CommandSession();
    const r = await run(session, { argv: ['printf', '%s|', '$HOME', '`id`', 'a b'] });
    expect(r.stdout).toBe('$HOME|`id`|a b|');
  });

  it('rejects a missing executable and a missing cwd with SPAWN_FAILED', async () => {
    const session = new CommandSession();
    await expect(session.start({ argv: ['/nonexistent/prog'] }, () => {})).rejects.toMatchObject({ code: 'SPAWN_FAILED' });
    await expect(session.start({ argv: ['true'], cwd: '/nonexistent' }, () => {})).rejects.toMatchObject({ code: 'SPAWN_FAILED', message: expect.stringContaining('working directory') });
  });

  it('does not wait forever for a background process holding the pipes', async () => {
    const session = new CommandSession();
    const chunks: Buffer[] = [];
    const execution = await session.start({ command: 'echo started; sleep 30 & echo done', lingerMs: 200 }, (_fd, d) => chunks.push(Buffer.from(d)));
    const r = await execution.done;
    expect(r.exitCode).toBe(0);
    expect(Buffer.concat(chunks).toString()).toBe('started\ndone\n');
    execution.kill('SIGKILL');
  });
});
