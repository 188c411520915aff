import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVER = join(dirname(fileURLToPath(import.meta.url)), 'frame-server.mjs');

/**
 * Runs frame-server.mjs in a child process (so the far end has a core of its own, as conchd
 * does) and resolves once it listens: `path(name)` names one of its sockets, `stop()` ends it.
 */
export async function startFrameServer(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const server = fork(SERVER, [dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const stop = () => {
    server.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await new Promise((resolve, reject) => {
      server.once('message', resolve);
      server.once('exit', (code) => reject(new Error(`frame server exited ${code}`)));
    });
  } catch (err) {
    stop();
    throw err;
  }
  return { path: (name) => join(dir, name), stop, pid: server.pid };
}
