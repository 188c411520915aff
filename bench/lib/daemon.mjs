import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { handshake } from './handshake.mjs';

export const CONCHD = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'packages', 'shell-daemon', 'bin', 'conchd.js');

/** How long a daemon gets to answer its first handshake before the bench gives up on it. */
const START_TIMEOUT_MS = 10_000;

/**
 * Starts conchd on a private Unix socket and resolves once a handshake succeeds, with the time
 * that took (spawn → Welcome). `nodeArgs` go before the script (for --cpu-prof).
 */
export async function startDaemon({ args = [], nodeArgs = [], cwd } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'conch-bench-'));
  const socket = join(dir, 'conchd.sock');
  const t0 = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, CONCHD, '--listen', `unix:${socket}`, '--log-level', 'error', ...args], {
    stdio: ['ignore', 'ignore', 'inherit'],
    ...(cwd ? { cwd } : {}),
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let gone = false;
  void exited.then(() => (gone = true));
  for (;;) {
    if (gone) throw new Error(`conchd exited before answering a handshake`);
    try {
      await handshake(socket);
      break;
    } catch {
      if (performance.now() - t0 > START_TIMEOUT_MS) {
        child.kill('SIGKILL');
        throw new Error(`conchd did not answer a handshake within ${START_TIMEOUT_MS} ms`);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  const readyMs = performance.now() - t0;
  return {
    pid: child.pid,
    endpoint: `unix:${socket}`,
    socket,
    readyMs,
    /** SIGTERM (a clean shutdown writes --cpu-prof output), SIGKILL if it hangs; removes the temp dir. */
    async stop() {
      if (!gone) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
