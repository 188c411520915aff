import { spawn } from 'node:child_process';

/** Spawns argv with default pipes and resolves on 'close' (exit plus stdio closed), like a caller that wants the output. */
export function runUntilClose(argv, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), options);
    child.once('error', reject);
    child.stdout?.resume();
    child.stderr?.resume();
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')} exited ${code}`))));
  });
}

/** Spawns argv and counts the bytes on its stdout; resolves with the count once it closes. */
export function countStdout(argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    child.once('error', reject);
    child.stdout.on('data', (chunk) => (bytes += chunk.length));
    child.once('close', (code) => (code === 0 ? resolve(bytes) : reject(new Error(`${argv.join(' ')} exited ${code}`))));
  });
}
