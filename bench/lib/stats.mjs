/** Summary statistics over a list of samples (milliseconds, or any unit). */
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  const mean = sorted.reduce((s, x) => s + x, 0) / sorted.length;
  return { n: sorted.length, median: at(0.5), p99: at(0.99), min: sorted[0], max: sorted.at(-1), mean };
}

/**
 * Runs every contender once per iteration, rotating the order each iteration so that neither
 * always goes first: whatever noise the machine makes lands on all of them alike.
 * `contenders` maps a name to an async function returning one sample (a number).
 */
export async function interleave(iterations, contenders, { warmup = 0 } = {}) {
  const names = Object.keys(contenders);
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = -warmup; i < iterations; i++) {
    const order = names.map((_, k) => names[(k + Math.max(0, i)) % names.length]);
    for (const name of order) {
      const value = await contenders[name]();
      if (i >= 0) samples[name].push(value);
    }
  }
  return samples;
}

/** Milliseconds taken by an async function. */
export async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}
