import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const CONCHD = resolve(import.meta.dirname, '../../packages/shell-daemon/bin/conchd.js');
export const CONCH = resolve(import.meta.dirname, '../../packages/shell-client/bin/conch.js');

/** The CLIs run from dist: `npm test` builds first; a bare `vitest` run needs `npm run build`. */
export function requireBuilt(): void {
  for (const dist of ['../../packages/shell-daemon/dist/cli.js', '../../packages/shell-client/dist/cli.js']) {
    if (!existsSync(resolve(import.meta.dirname, dist))) throw new Error(`${dist} is missing: run \`npm run build\` first (npm test does)`);
  }
}

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly socket: string;
  readonly endpoint: string;
  readonly stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * A real conchd, as a child process listening on a fresh Unix socket. `wrapper` runs it through
 * another command (`unshare …`), which is given node and its arguments after its own.
 */
export async function startDaemon(
  extraArgs: string[] = [], options: { socket?: string; wrapper?: readonly string[]; stdio?: boolean } = {},
): Promise<DaemonProcess> {
  requireBuilt();
  const socket = options.socket ?? join(mkdtempSync(join(tmpdir(), 'conch-test-')), 'conchd.sock');
  // `stdio`: a connection on the child's stdin and stdout too, besides the socket.
  const stdio = options.stdio ? ['--listen', 'stdio'] : [];
  const argv = [process.execPath, CONCHD, '--listen', `unix:${socket}`, ...stdio, '--log-level', 'info', ...extraArgs];
  const [file, ...args] = [...(options.wrapper ?? []), ...argv] as [string, ...string[]];
  const child = spawn(file, args, { stdio: [options.stdio ? 'pipe' : 'ignore', options.stdio ? 'pipe' : 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  // Ready means the socket answers, not that some time has passed.
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
