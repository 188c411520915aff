import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, VsockShellSession } from '@conch/shell-client';
import { startDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { RawClient } from '../helpers/raw-client.js';

/**
 * What an exited command is kept as: once its process is gone the daemon holds only a compact
 * record (status, counts, the output tail nobody acknowledged), for --exit-retention, and at
 * most --max-exited of them holding at most --max-exited-bytes. These prove that the record
 * still serves attach, list, signal and kill, and that the bounds forget the oldest first.
 */

/** `seq 1 40000`: 228,894 bytes of text, easy to check whole. */
const SEQ = Array.from({ length: 40_000 }, (_, i) => `${i + 1}\n`).join('');

let daemon: DaemonProcess | undefined;
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
});

/** Runs `argv` in a fresh session on a raw connection, acknowledges nothing, and hangs up after the exit. */
async function runAndDrop(socket: string, argv: string[]): Promise<{ command: string; exit: Record<string, unknown> }> {
  const raw = await RawClient.connect(socket);
  await raw.hello();
  raw.send({ type: 'SpawnSession', id: 1, onDisconnect: { policy: 'keep', keepMs: 30_000 } });
  const { session } = (await raw.next((f) => f.id === 1)) as { session: string };
  raw.send({ type: 'ExecCommand', id: 2, session, argv, window: 1 << 20 });
  const { command } = (await raw.next((f) => f.id === 2)) as { command: string };
  // All of the output fits the window, so the exit is sent too; no Credit ever goes back.
  const exit = await raw.next((f) => f.type === 'CommandExited' && f.command === command);
  raw.close();
  return { command, exit };
}

/** Whether a process is gone: no such pid, or a zombie waiting for whoever reaps orphans here. */
function dead(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return true;
  }
}

describe('exited commands', () => {
  it('still give the whole unacknowledged tail and the exit status to a client that attaches after the exit', async () => {
    daemon = await startDaemon(['--log-level', 'error']);
    const { command, exit } = await runAndDrop(daemon.socket, ['sh', '-c', 'seq 1 40000; echo tail >&2; exit 7']);
    expect(exit).toMatchObject({ exitCode: 7 });
    const s = new VsockShellSession(daemon.endpoint);
    // Other commands come and go in between; the exited one is kept as its compact record.
    for (let i = 0; i < 50; i++) expect((await s.exec(['true'])).exitCode).toBe(0);
    const info = (await s.list()).flatMap((x) => x.commands).find((c) => c.command === command);
    expect(info).toMatchObject({ state: 'exited', exitCode: 7, signal: null, pid: expect.any(Number), stdoutBytes: SEQ.length, stderrBytes: 5 });
    const { handle, dropped } = await s.attach(command, { stdoutOffset: 0, stderrOffset: 0 });
    expect(dropped).toEqual({ stdout: 0, stderr: 0 });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    for await (const { fd, data } of handle) (fd === 1 ? out : err).push(Buffer.from(data));
    expect(Buffer.concat(out).toString()).toBe(SEQ);
    expect(Buffer.concat(err).toString()).toBe('tail\n');
    expect(await handle.wait()).toMatchObject({ exitCode: 7, signal: null });
    await s.close();
  });

  it('can still signal and kill what the leader left in its process group', async () => {
    daemon = await startDaemon(['--log-level', 'error']);
    const s = new VsockShellSession(daemon.endpoint);
    // The leader exits at once; the sleep stays in its group, holding none of its pipes.
    const h = await s.spawn(['sh', '-c', 'sleep 60 >/dev/null 2>&1 & echo $!']);
    let stdout = '';
    for await (const { data } of h) stdout += Buffer.from(data).toString();
    expect((await h.wait()).exitCode).toBe(0);
    const straggler = Number(stdout.trim());
    expect(dead(straggler)).toBe(false);
    await expect(h.signal('SIGCONT')).resolves.toBeUndefined();
    await expect(h.resize(80, 24)).rejects.toMatchObject({ code: ErrorCodes.INVALID_STATE });
    await expect(h.kill('SIGKILL')).resolves.toBeUndefined();
    for (let i = 0; !dead(straggler); i++) {
      if (i > 100) throw new Error(`pid ${straggler} survived SIGKILL to its group`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await s.exec(['echo', 'still serving'])).stdout).toBe('still serving\n');
    await s.close();
  });

  it('are kept at most --max-exited at a time, the oldest forgotten first', async () => {
    daemon = await startDaemon(['--log-level', 'error', '--max-exited', '3']);
    const s = new VsockShellSession(daemon.endpoint);
    const ids: string[] = [];
    for (let code = 1; code <= 5; code++) {
      const h = await s.spawn(['sh', '-c', `echo ${code}; exit ${code}`]);
      expect((await h.wait()).exitCode).toBe(code);
      ids.push(h.id);
    }
    const listed = (await s.list()).flatMap((x) => x.commands).map((c) => [c.command, c.exitCode]);
    expect(listed).toEqual([[ids[2], 3], [ids[3], 4], [ids[4], 5]]);
    for (const forgotten of ids.slice(0, 2)) {
      await expect(s.attach(forgotten)).rejects.toMatchObject({ code: ErrorCodes.UNKNOWN_COMMAND });
    }
    const { handle } = await s.attach(ids[2]!, { stdoutOffset: 0 });
    expect(await handle.wait()).toMatchObject({ exitCode: 3 });
    await s.close();
  });

  it("past --max-exited, one session's flood of commands forgets its own exits, not another session's", async () => {
    daemon = await startDaemon(['--log-level', 'error', '--max-exited', '10']);
    // A client whose command exited while it was away (a keep session, reconnecting later).
    const { command } = await runAndDrop(daemon.socket, ['sh', '-c', 'echo kept; exit 9']);
    const flood = new VsockShellSession(daemon.endpoint);
    for (let i = 0; i < 50; i++) await flood.exec(['true']);
    const listed = (await flood.list()).flatMap((x) => x.commands);
    expect(listed.filter((c) => c.state === 'exited')).toHaveLength(10);
    expect(listed.find((c) => c.command === command)).toMatchObject({ state: 'exited', exitCode: 9 });
    const { handle } = await flood.attach(command, { stdoutOffset: 0 });
    expect(await handle.wait()).toMatchObject({ exitCode: 9 });
    await flood.close();
  });

  it('hold none of the output the SDK consumed: the last partial credit batch goes back at the exit', async () => {
    daemon = await startDaemon(['--log-level', 'error']);
    const s = new VsockShellSession(daemon.endpoint);
    // SEQ is well under a quarter of the default window, so no batch fills while it runs.
    const argv = ['sh', '-c', 'seq 1 40000; echo tail >&2'];
    const iterated = await s.spawn(argv);
    let bytes = 0;
    for await (const { data } of iterated) bytes += data.length;
    expect(bytes).toBe(SEQ.length + 5);
    await iterated.wait();
    expect((await s.exec(argv)).stdout).toBe(SEQ);
    const execd = (await s.list()).flatMap((x) => x.commands).find((c) => c.command !== iterated.id && c.argv[0] === 'sh');
    expect(execd).toBeDefined();
    // Requests on this connection are handled after the Credits sent before them: an attach
    // from offset 0 finds every byte acknowledged, so the daemon no longer holds any of it.
    for (const id of [iterated.id, execd!.command]) {
      const { handle, dropped } = await s.attach(id, { stdoutOffset: 0, stderrOffset: 0 });
      expect(dropped).toEqual({ stdout: SEQ.length, stderr: 5 });
      expect(await handle.wait()).toMatchObject({ exitCode: 0 });
    }
    await s.close();
  });

  it('hold at most --max-exited-bytes of unacknowledged output between them, the oldest forgotten first', async () => {
    daemon = await startDaemon(['--log-level', 'error', '--max-exited-bytes', String(2 * SEQ.length + 1000)]);
    const argv = ['sh', '-c', 'seq 1 40000; exit 7'];
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await runAndDrop(daemon.socket, argv)).command);
    const s = new VsockShellSession(daemon.endpoint);
    const listed = (await s.list()).flatMap((x) => x.commands).map((c) => c.command);
    expect(listed.sort()).toEqual(ids.slice(1).sort());
    await expect(s.attach(ids[0]!)).rejects.toMatchObject({ code: ErrorCodes.UNKNOWN_COMMAND });
    const { handle } = await s.attach(ids[1]!, { stdoutOffset: 0 });
    let stdout = '';
    for await (const { data } of handle) stdout += Buffer.from(data).toString();
    expect(stdout).toBe(SEQ);
    expect(await handle.wait()).toMatchObject({ exitCode: 7 });
    await s.close();
  });
});
