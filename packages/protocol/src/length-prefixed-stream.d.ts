// length-prefixed-stream ships no types; this is the part of its API we use.
declare module 'length-prefixed-stream' {
  import type { Transform } from 'node:stream';
  export function decode(opts?: { limit?: number; allowEmpty?: boolean }): Transform;
  export function encode(): Transform;
}
