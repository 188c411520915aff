import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';

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

/**
 * Asks a relay socket of frame-server.mjs (pipe-relay, pty-relay) for `n` bytes of its command's
 * output; resolves with the bytes and milliseconds up to the end of the connection.
 */
export function countRelayed(path, n) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let bytes = 0;
    const socket = createConnection(path, () => socket.write(`${n}\n`));
    socket.on('data', (d) => (bytes += d.length));
    socket.once('error', reject);
    socket.once('end', () => resolve({ bytes, ms: performance.now() - t0 }));
  });
}
