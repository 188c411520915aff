import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONCHD, requireBuilt, type DaemonProcess } from '../helpers/daemon-process.js';

/**
 * A real conchd started through a wrapper command (`prlimit --nofile=64:64 …`) and/or with extra
 * environment (TMPDIR), which test/helpers/daemon-process.ts does not offer. The wrapper must
 * exec the daemon, so that the child's pid is the daemon's.
 */
export async function startWrappedDaemon(
  wrapper: readonly string[],
  args: readonly string[] = [],
  env: Readonly<Record<string, string>> = {},
): Promise<DaemonProcess> {
  requireBuilt();
  const socket = join(mkdtempSync(join(tmpdir(), 'conch-test-')), 'conchd.sock');
  const argv = [process.execPath, CONCHD, '--listen', `unix:${socket}`, '--log-level', 'warn', ...args];
  const [file, ...rest] = [...wrapper, ...argv];
  const child = spawn(file!, rest, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`conchd exited early: ${stderr}`);
    if (await canConnect(socket)) break;
    if (i > 200) throw new Error(`conchd did not listen within 10 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child, socket, endpoint: `unix:${socket}`, stderr: () => stderr,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
