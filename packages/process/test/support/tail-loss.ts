/**
 * The tail-loss check, shared by the @conch/process tests and the cross-backend conformance
 * suite (test/conformance/): run a command that writes exactly N bytes to a terminal and exits
 * at once, many times, and count the runs that came back short or different.
 *
 * Usage: `await measureTailLoss((command) => runOnSomeBackendWithPty(command))`, where the
 * callback runs the shell string on a PTY and resolves with everything it printed once the
 * command has exited. Against a ShellSession, for example:
 *
 *   const results = await measureTailLoss(async (command) =>
 *     (await session.exec(command, { pty: { cols: 80, rows: 24 }, encoding: 'buffer' })).stdout);
 *   for (const r of results) expect(r).toMatchObject({ short: 0, mismatched: 0 });
 */

/** The sizes DESIGN.md §3.3 measured: node-pty loses tails from 16 KiB up. */
export const TAIL_LOSS_SIZES: readonly number[] = [1024, 16 * 1024, 64 * 1024, 1024 * 1024];

const PATTERN = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/**
 * A shell command printing exactly `bytes` bytes of a known pattern. It has no newline, so the
 * terminal's ONLCR (\n to \r\n) does not change the count, and the output is not uniform, so
 * a dropped or repeated chunk shows as a mismatch, not only as a short count.
 */
export function tailLossCommand(bytes: number): string {
  return `yes ${PATTERN} | tr -d '\\n' | head -c ${bytes}`;
}

export function tailLossExpected(bytes: number): Buffer {
  return Buffer.from(PATTERN.repeat(Math.ceil(bytes / PATTERN.length)).slice(0, bytes));
}

export interface TailLossOptions {
  /** @default TAIL_LOSS_SIZES */
  readonly sizes?: readonly number[];
  /** Runs per size. @default 200 */
  readonly runs?: number;
  /** Runs in flight at once. @default 3 */
  readonly concurrency?: number;
}

export interface TailLossResult {
  readonly bytes: number;
  readonly runs: number;
  /** Runs that delivered fewer bytes than written. */
  readonly short: number;
  /** Runs whose output was not exactly what was written (short, long or altered). */
  readonly mismatched: number;
  /** The most bytes any run was missing. */
  readonly maxMissing: number;
}

export async function measureTailLoss(
  run: (command: string) => Promise<Uint8Array>,
  options: TailLossOptions = {},
): Promise<TailLossResult[]> {
  const results: TailLossResult[] = [];
  for (const bytes of options.sizes ?? TAIL_LOSS_SIZES) {
    const expected = tailLossExpected(bytes);
    const command = tailLossCommand(bytes);
    let short = 0;
    let mismatched = 0;
    let maxMissing = 0;
    const runs = options.runs ?? 200;
    let next = 0;
    const worker = async () => {
      while (next < runs) {
        next++;
        const output = Buffer.from(await run(command));
        if (output.length < bytes) {
          short++;
          maxMissing = Math.max(maxMissing, bytes - output.length);
        }
        if (!output.equals(expected)) mismatched++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 3, runs) }, worker));
    results.push({ bytes, runs, short, mismatched, maxMissing });
  }
  return results;
}
