import { describe, expect, it } from 'vitest';
import { spawnPty } from '../src/index.js';
import { measureTailLoss, TAIL_LOSS_SIZES } from './support/tail-loss.js';

const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));

/** Everything the terminal carried, read until spawnPty's stdout ends; fails on a non-zero exit. */
async function runOnPty(command: string): Promise<Uint8Array> {
  const p = await spawnPty({ argv: ['sh', '-c', command], cwd: '/', env, stdin: false, pty: { cols: 80, rows: 24 } });
  const chunks: Buffer[] = [];
  for await (const chunk of p.stdout) chunks.push(chunk as Buffer);
  const exit = await p.exited;
  if (exit.exitCode !== 0) throw new Error(`${command} exited with ${JSON.stringify(exit)}`);
  return Buffer.concat(chunks);
}

describe('PTY output has no tail loss (microsoft/node-pty#72)', () => {
  it('delivers every byte, 200 runs of each size from 1 KiB to 1 MiB', { timeout: 300_000 }, async () => {
    const results = await measureTailLoss(runOnPty, { sizes: TAIL_LOSS_SIZES, runs: 200, concurrency: 3 });
    console.table(results);
    for (const r of results) expect(r, `${r.bytes} bytes`).toMatchObject({ short: 0, mismatched: 0 });
  });
});
