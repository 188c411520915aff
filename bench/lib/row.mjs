import { summarize } from './stats.mjs';

/**
 * One table row: conch beside a floor or peer measured in the same interleaved run.
 * `better` says which direction wins: 'lower' for times (ratio = conch / floor), 'higher' for
 * throughputs (ratio = conch / floor too, so a target reads "≥ 0.7").
 * `target` is `{ op: '<=' | '>=', value }` on the ratio of medians, or undefined (reported only).
 */
export function row({ id, title, unit, conch, floorName, floor, better = 'lower', target, note }) {
  const c = Array.isArray(conch) ? summarize(conch) : conch;
  const f = floor === undefined ? undefined : Array.isArray(floor) ? summarize(floor) : floor;
  const ratio = f ? c.median / f.median : undefined;
  let result = 'info';
  if (target && ratio !== undefined) result = (target.op === '<=' ? ratio <= target.value : ratio >= target.value) ? 'PASS' : 'MISS';
  return { id, title, unit, better, conch: c, floorName, floor: f, ratio, target, result, ...(note ? { note } : {}) };
}

/** A row whose peer could not be measured here: it stays in the table and says why. */
export function unavailableRow({ id, title, unit, conch, floorName, target, why }) {
  return {
    id, title, unit, conch: Array.isArray(conch) ? summarize(conch) : conch, floorName, floor: undefined,
    ratio: undefined, target, result: 'N/A', note: why,
  };
}
