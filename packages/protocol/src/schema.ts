import { ErrorCodes } from './codes.js';
import { ProtocolError } from './errors.js';

/**
 * A tiny validator combinator kit. A Validator turns `unknown` into `T` or throws a
 * ProtocolError(INVALID_MESSAGE) whose message names the exact path and what was expected.
 * Validators build fresh objects, so fields we do not know never travel further in.
 */
export type Validator<T> = (value: unknown, path: string) => T;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `bytes(${value.length})`;
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'string') return value.length > 40 ? `string(${value.length})` : JSON.stringify(value);
  if (typeof value === 'number') return String(value);
  return typeof value;
}

export function fail(path: string, expected: string, value: unknown): never {
  throw new ProtocolError(ErrorCodes.INVALID_MESSAGE, `${path}: expected ${expected}, got ${describe(value)}`);
}

/** Largest string accepted anywhere: paths, env values, shell commands. */
export const MAX_STRING_LENGTH = 1 << 20;
/** Largest array or map accepted anywhere (argv, env, capabilities). */
export const MAX_COLLECTION_LENGTH = 1 << 16;

export const uint: Validator<number> = (v, path) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : fail(path, 'a non-negative integer', v);

/**
 * Longest duration in milliseconds anywhere (timeouts, kill graces, keeps): what a timer can
 * wait in Node (and in browsers), about 24.8 days. Node fires a longer one after 1 ms.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

export const durationMs: Validator<number> = (v, path) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= MAX_DURATION_MS
    ? v
    : fail(path, `a duration in milliseconds from 0 to ${MAX_DURATION_MS}`, v);

export const positiveInt: Validator<number> = (v, path) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : fail(path, 'a positive integer', v);

export const bool: Validator<boolean> = (v, path) => (typeof v === 'boolean' ? v : fail(path, 'a boolean', v));

export const str: Validator<string> = (v, path) =>
  typeof v === 'string' && v.length <= MAX_STRING_LENGTH ? v : fail(path, 'a string', v);

export const nonEmptyStr: Validator<string> = (v, path) =>
  typeof v === 'string' && v.length > 0 && v.length <= MAX_STRING_LENGTH ? v : fail(path, 'a non-empty string', v);

/** A string that can become a C string (argv, env, paths): no NUL bytes. */
export const cstr: Validator<string> = (v, path) => {
  const s = str(v, path);
  return s.includes('\0') ? fail(path, 'a string without NUL bytes', v) : s;
};

export const bytes: Validator<Uint8Array> = (v, path) => (v instanceof Uint8Array ? v : fail(path, 'bytes (msgpack bin)', v));

export function literal<const L extends string | number>(...values: L[]): Validator<L> {
  const allowed = new Set<unknown>(values);
  return (v, path) => (allowed.has(v) ? (v as L) : fail(path, `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`, v));
}

export function nullable<T>(inner: Validator<T>): Validator<T | null> {
  return (v, path) => (v === null ? null : inner(v, path));
}

export function arrayOf<T>(inner: Validator<T>, opts: { minLength?: number } = {}): Validator<T[]> {
  return (v, path) => {
    if (!Array.isArray(v) || v.length > MAX_COLLECTION_LENGTH) return fail(path, 'an array', v);
    if (v.length < (opts.minLength ?? 0)) return fail(path, `an array of at least ${opts.minLength} item(s)`, v);
    return v.map((item, i) => inner(item, `${path}[${i}]`));
  };
}

function isPlainMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** An environment: names are non-empty, free of `=` and NUL; values are free of NUL. */
export const envMap: Validator<Record<string, string>> = (v, path) => {
  if (!isPlainMap(v)) return fail(path, 'a map of strings', v);
  const entries = Object.entries(v);
  if (entries.length > MAX_COLLECTION_LENGTH) return fail(path, 'a smaller map', v);
  // fromEntries defines own properties, so a "__proto__" name cannot reach the prototype.
  return Object.fromEntries(
    entries.map(([name, value]) => {
      if (name.length === 0 || name.includes('=') || name.includes('\0')) fail(`${path} name`, 'a variable name without "=" or NUL', name);
      return [name, cstr(value, `${path}.${name}`)];
    }),
  );
};

/** A map whose values are left as they are (used for free-form error details). */
export const anyMap: Validator<Record<string, unknown>> = (v, path) =>
  isPlainMap(v) ? Object.fromEntries(Object.entries(v)) : fail(path, 'a map', v);

type Shape = Record<string, Validator<unknown> | { optional: Validator<unknown> }>;
type Out<S extends Shape> = {
  -readonly [K in keyof S as S[K] extends { optional: unknown } ? never : K]: S[K] extends Validator<infer T> ? T : never;
} & {
  -readonly [K in keyof S as S[K] extends { optional: unknown } ? K : never]?: S[K] extends { optional: Validator<infer T> } ? T : never;
};

export function optional<T>(inner: Validator<T>): { optional: Validator<T> } {
  return { optional: inner };
}

/** A msgpack map with the given fields. Absent and nil optional fields are both treated as absent. */
export function object<S extends Shape>(shape: S): Validator<Out<S>> {
  const fields = Object.entries(shape);
  // Every frame is validated, and a message's own validator is always called with the same path
  // (its type), so the fields' paths are kept for the last path seen rather than built per field
  // per frame. (A validator nested under an array, or shared by two messages, rebuilds them when
  // its path changes.) Read into a local, so that a validator reached again from inside its own
  // fields could not change the paths under this call.
  let parent: string | undefined;
  let cached: string[] = [];
  return (v, path) => {
    if (!isPlainMap(v)) return fail(path, 'a map', v);
    if (path !== parent) {
      parent = path;
      cached = fields.map(([name]) => `${path}.${name}`);
    }
    const paths = cached;
    const out: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i++) {
      const [name, spec] = fields[i]!;
      const value = Object.prototype.hasOwnProperty.call(v, name) ? v[name] : undefined;
      if (typeof spec === 'function') {
        out[name] = spec(value, paths[i]!);
      } else if (value !== undefined && value !== null) {
        out[name] = spec.optional(value, paths[i]!);
      }
    }
    return out as Out<S>;
  };
}
