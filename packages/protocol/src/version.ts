/** Protocol versions this build speaks. Bump MAX when a message changes incompatibly. */
export const PROTOCOL_VERSION_MIN = 1;
export const PROTOCOL_VERSION_MAX = 1;

/** 1 MiB: the default largest frame either side accepts before the handshake lowers or raises it. */
export const DEFAULT_MAX_FRAME_BYTES = 1 << 20;
/** Smallest max frame size a peer may announce: enough for any control message. */
export const MIN_MAX_FRAME_BYTES = 4096;

/** Highest version in both ranges, or undefined when they do not overlap. */
export function negotiateVersion(a: { minVersion: number; maxVersion: number }, b: { minVersion: number; maxVersion: number }): number | undefined {
  const high = Math.min(a.maxVersion, b.maxVersion);
  const low = Math.max(a.minVersion, b.minVersion);
  return high >= low ? high : undefined;
}
