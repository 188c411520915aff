/** How far into a body we look for the start of its payload; a StreamOutput head is under 300 bytes. */
const HEAD_SCAN_BYTES = 1024;
/** msgpack: fixstr "data". */
const DATA_KEY = [0xa4, 0x64, 0x61, 0x74, 0x61];

export interface TrailingPayload {
  /** The body with its payload replaced by an empty bin: a complete msgpack value of the same shape. */
  readonly head: Buffer;
  /** The payload, as views of the pieces it lies in. */
  readonly payload: Buffer[];
}

/**
 * Finds the payload of a frame body that spans several pieces, when that body is a msgpack map
 * whose last entry is `data` with a bin value running to the end of the body (how StreamOutput
 * and Input are encoded, see encodeFrameParts). Returns undefined for anything else, and for any
 * head it cannot step over with certainty (then the caller joins the pieces and decodes as usual).
 */
export function trailingPayload(pieces: readonly Buffer[], length: number): TrailingPayload | undefined {
  const scan = joinPrefix(pieces, Math.min(length, HEAD_SCAN_BYTES));
  let at = 0;
  const first = scan[at++];
  if (first === undefined) return undefined;
  let entries: number;
  if (first >= 0x80 && first <= 0x8f) entries = first & 0x0f;
  else if (first === 0xde && scan.length >= 3) {
    entries = scan.readUInt16BE(1);
    at = 3;
  } else return undefined;
  for (let i = 0; i < entries; i++) {
    const keyAt = at;
    const afterKey = skipScalar(scan, at);
    if (afterKey === undefined) return undefined;
    at = afterKey;
    if (i < entries - 1) {
      const afterValue = skipScalar(scan, at);
      if (afterValue === undefined) return undefined;
      at = afterValue;
      continue;
    }
    if (afterKey - keyAt !== DATA_KEY.length || DATA_KEY.some((b, k) => scan[keyAt + k] !== b)) return undefined;
    const bin = binHeader(scan, at);
    if (!bin || at + bin.size + bin.length !== length) return undefined;
    const head = Buffer.allocUnsafe(at + 2);
    scan.copy(head, 0, 0, at);
    head[at] = 0xc4;
    head[at + 1] = 0;
    return { head, payload: slice(pieces, at + bin.size) };
  }
  return undefined;
}

function joinPrefix(pieces: readonly Buffer[], bytes: number): Buffer {
  if (pieces[0]!.length >= bytes) return pieces[0]!.subarray(0, bytes);
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (const piece of pieces) {
    if (at === bytes) break;
    at += piece.copy(out, at, 0, Math.min(piece.length, bytes - at));
  }
  return out;
}

/** The pieces from body offset `from` to their end, as views. */
function slice(pieces: readonly Buffer[], from: number): Buffer[] {
  const out: Buffer[] = [];
  let position = 0;
  for (const piece of pieces) {
    const end = position + piece.length;
    if (end > from) out.push(position >= from ? piece : piece.subarray(from - position));
    position = end;
  }
  return out;
}

function binHeader(b: Buffer, at: number): { size: number; length: number } | undefined {
  const tag = b[at];
  if (tag === 0xc4 && at + 2 <= b.length) return { size: 2, length: b[at + 1]! };
  if (tag === 0xc5 && at + 3 <= b.length) return { size: 3, length: b.readUInt16BE(at + 1) };
  if (tag === 0xc6 && at + 5 <= b.length) return { size: 5, length: b.readUInt32BE(at + 1) };
  return undefined;
}

/**
 * Where the msgpack value at `at` ends, for the scalars a message head holds (nil, booleans,
 * numbers, strings, bins), when all of it lies within `b`; undefined for anything else.
 */
function skipScalar(b: Buffer, at: number): number | undefined {
  const tag = b[at];
  if (tag === undefined) return undefined;
  let end: number;
  if (tag <= 0x7f || tag >= 0xe0 || tag === 0xc0 || tag === 0xc2 || tag === 0xc3) end = at + 1;
  else if (tag >= 0xa0 && tag <= 0xbf) end = at + 1 + (tag & 0x1f);
  else if (tag === 0xcc || tag === 0xd0) end = at + 2;
  else if (tag === 0xcd || tag === 0xd1) end = at + 3;
  else if (tag === 0xce || tag === 0xd2 || tag === 0xca) end = at + 5;
  else if (tag === 0xcf || tag === 0xd3 || tag === 0xcb) end = at + 9;
  else if ((tag === 0xd9 || tag === 0xc4) && at + 2 <= b.length) end = at + 2 + b[at + 1]!;
  else if ((tag === 0xda || tag === 0xc5) && at + 3 <= b.length) end = at + 3 + b.readUInt16BE(at + 1);
  else if ((tag === 0xdb || tag === 0xc6) && at + 5 <= b.length) end = at + 5 + b.readUInt32BE(at + 1);
  else return undefined;
  return end <= b.length ? end : undefined;
}
