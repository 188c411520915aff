/** Summary statistics over a list of samples (milliseconds, or any unit). */
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  const mean = sorted.reduce((s, x) => s + x, 0) / sorted.length;
  return { n: sorted.length, median: at(0.5), p99: at(0.99), min: sorted[0], max: sorted.at(-1), mean };
}

/**
 * Runs every contender once per iteration, in a fresh random order each iteration, so that
 * whatever the machine is doing lands on all of them alike. Not a rotation: with three or more
 * contenders a rotation fixes who runs after whom (conch ran after ssh in two iterations of
 * three, the raw spawn never did), and a contender that leaves work behind (ssh's teardown in
 * sshd and the ControlMaster) then slows one neighbour only. The order is seeded: runs repeat.
 * `contenders` maps a name to an async function returning one sample (a number).
 */
export async function interleave(iterations, contenders, { warmup = 0, seed = 1 } = {}) {
  const names = Object.keys(contenders);
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  const random = mulberry32(seed);
  for (let i = -warmup; i < iterations; i++) {
    for (const name of shuffled(names, random)) {
      const value = await contenders[name]();
      if (i >= 0) samples[name].push(value);
    }
  }
  return samples;
}

/** A copy of `items` in random order (Fisher-Yates). */
function shuffled(items, random) {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same orders in every run. */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Milliseconds taken by an async function. */
export async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}
