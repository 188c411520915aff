import { UnavailableError } from '../errors.js';

/** Errno values that mean "nothing is listening there", as opposed to a transient failure. */
const REFUSED = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'ECONNRESET', 'EACCES', 'EPERM', 'ENODEV', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Maps a connect failure to the reason a user sees. */
export function connectFailure(err: unknown, where: string): UnavailableError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (err instanceof UnavailableError) return err;
  if (code === 'ETIMEDOUT') return new UnavailableError('connect-timeout', `connecting to ${where} timed out`, { cause: err });
  const detail = code === 'ENOENT' ? 'no such socket' : code === 'ECONNREFUSED' ? 'connection refused' : (err as Error)?.message ?? String(err);
  if (code !== undefined && REFUSED.has(code)) return new UnavailableError('connect-refused', `${where}: ${detail} (${code})`, { cause: err });
  return new UnavailableError('connect-refused', `${where}: ${detail}`, { cause: err });
}

/**
 * Rejects with connect-timeout unless `promise` settles first, or with closed as soon as
 * `signal` aborts; either way `teardown` ends the attempt (destroys its socket), and no timer
 * of ours is left behind.
 */
export function withConnectTimeout<T>(promise: Promise<T>, ms: number, where: string, teardown: () => void, signal?: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        teardown();
        reject(new UnavailableError('connect-timeout', `no connection to ${where} within ${ms} ms`));
      }, ms);
      onAbort = () => {
        teardown();
        reject(new UnavailableError('closed', 'the session was closed'));
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    }),
  ]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  });
}
