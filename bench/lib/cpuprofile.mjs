import { readFileSync } from 'node:fs';

/**
 * Top frames by self time of a V8 .cpuprofile (what `node --cpu-prof` writes), with the share
 * of all samples. Frames are keyed by function, file and line.
 */
export function topFrames(file, limit = 15) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    const node = byId.get(profile.samples[i]);
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^.*\/(node_modules|packages)\//, '$1/').replace(/^node:/, 'node:')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([frame, us]) => ({ frame, ms: Math.round(us / 1000), share: Math.round((us / total) * 1000) / 10 }));
}
