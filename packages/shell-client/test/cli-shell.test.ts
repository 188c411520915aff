import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONCH, startDaemon, type DaemonProcess } from '../../../test/helpers/daemon-process.js';

/** A private tmux server, so the test never touches anyone else's sessions. */
const TMUX = ['-L', `conch-shell-test-${process.pid}`];
const tmux = (...args: string[]) => execFileSync('tmux', [...TMUX, ...args], { encoding: 'utf8' });
const screen = (target: string) => tmux('capture-pane', '-p', '-t', target);

async function until(target: string, text: string | RegExp, ms = 10_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = screen(target);
    if (typeof text === 'string' ? s.includes(text) : text.test(s)) return s;
    if (Date.now() > deadline) throw new Error(`${String(text)} did not appear on ${target}:\n${s}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The local terminal's modes after conch has gone: what it left behind. */
const MODES = `stty -a | tr ' ;' '\\n\\n' | grep -xE -- '-?(icanon|echo|isig)' | tr '\\n' ' '; echo`;

let daemon: DaemonProcess;

/** Runs `conch shell` in a detached tmux window; afterwards the pane prints EXIT=status and the modes. */
function startShell(name: string): void {
  const script = `node ${CONCH} --connect ${daemon.endpoint} shell; echo "EXIT=$?"; echo "MODES: $(${MODES})"; sleep 600`;
  tmux('new-session', '-d', '-s', name, '-x', '100', '-y', '30', 'sh', '-c', script);
}

async function ready(name: string): Promise<void> {
  tmux('send-keys', '-t', name, 'echo READY-$((40+2))', 'Enter');
  await until(name, /^READY-42/m);
}

describe('conch shell (driven through tmux)', () => {
  beforeAll(async () => {
    daemon = await startDaemon();
  });
  afterAll(async () => {
    try {
      tmux('kill-server');
    } catch {
      // No server left: nothing to clean.
    }
    await daemon?.stop();
  });

  it('is a raw-mode terminal that follows resizes, takes ^C, passes the exit status on and restores the terminal', async () => {
    startShell('a');
    await ready('a');
    // While conch runs, the local terminal is raw: keys go to the remote terminal as bytes.
    const tty = tmux('display', '-p', '-t', 'a', '#{pane_tty}').trim();
    expect(execFileSync('stty', ['-a', '-F', tty], { encoding: 'utf8' })).toMatch(/-icanon/);

    tmux('send-keys', '-t', 'a', 'stty size', 'Enter');
    await until('a', /^30 100$/m);
    tmux('resize-window', '-t', 'a', '-x', '120', '-y', '40');
    await new Promise((r) => setTimeout(r, 300));
    tmux('send-keys', '-t', 'a', 'clear; stty size', 'Enter');
    await until('a', /^40 120$/m);

    tmux('send-keys', '-t', 'a', 'clear; sleep 100', 'Enter');
    await new Promise((r) => setTimeout(r, 500));
    tmux('send-keys', '-t', 'a', 'C-c');
    tmux('send-keys', '-t', 'a', 'echo AFTER-$((2+2))', 'Enter');
    await until('a', /^AFTER-4$/m, 5000);

    tmux('send-keys', '-t', 'a', 'exit 7', 'Enter');
    const s = await until('a', /^MODES: .+$/m);
    expect(s).toMatch(/^EXIT=7$/m);
    expect(s).toMatch(/^MODES: isig icanon echo\s*$/m);
  });

  it('hangs up the remote shell and restores the terminal when conch gets SIGTERM', async () => {
    startShell('b');
    await ready('b');
    const panePid = tmux('display', '-p', '-t', 'b', '#{pane_pid}').trim();
    const conchPid = Number(execFileSync('pgrep', ['-P', panePid, '-f', 'conch.js'], { encoding: 'utf8' }).trim());
    process.kill(conchPid, 'SIGTERM');
    const s = await until('b', /^MODES: .+$/m);
    // The remote shell ended by SIGHUP, as when a terminal closes: 128 + 1.
    expect(s).toMatch(/^EXIT=129$/m);
    expect(s).toMatch(/^MODES: isig icanon echo\s*$/m);
  });
});
