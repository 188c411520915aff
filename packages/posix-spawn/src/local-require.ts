import { createRequire } from 'node:module';

/** A require for this package: the ESM build has import.meta.url; the CJS build its own require. */
export function localRequire(): NodeRequire {
  const url = import.meta.url as string | undefined;
  return url ? createRequire(url) : require;
}
