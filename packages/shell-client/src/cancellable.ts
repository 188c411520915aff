import { UnavailableError } from './errors.js';

/**
 * `promise`, or, as soon as `signal` aborts (close() during a connect), a rejection with
 * UnavailableError('closed'). What `promise` still delivers after that is handed to `dispose`,
 * so that a transport that lands late is closed rather than held.
 */
export function cancellable<T>(promise: Promise<T>, signal: AbortSignal, dispose?: (value: T) => void): Promise<T> {
  const closed = () => new UnavailableError('closed', 'the session was closed');
  if (signal.aborted) {
    promise.then(dispose, () => {});
    return Promise.reject(closed());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(closed());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) dispose?.(value);
        else resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
