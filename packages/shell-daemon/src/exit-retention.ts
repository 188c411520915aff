/**
 * Exited commands kept for attach and list: each for `retentionMs` after its exit, and never
 * more than `max` at once, the oldest forgotten first. Every entry is kept for the same time and
 * entries arrive in exit order, so the oldest is always the next to expire: one timer serves
 * them all, where a timer per command would itself be per-exec memory held for the retention.
 */
export class ExitRetention<T> {
  readonly retentionMs: number;
  readonly max: number;
  readonly #forget: (item: T) => void;
  /** Expiry (performance.now() time) per item; a Map iterates in insertion order, so oldest first. */
  readonly #expiries = new Map<T, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(retentionMs: number, max: number, forget: (item: T) => void) {
    this.retentionMs = retentionMs;
    this.max = max;
    this.#forget = forget;
  }

  get size(): number {
    return this.#expiries.size;
  }

  /** Starts `item`'s retention now; forgets the oldest entries if that makes one too many. */
  add(item: T): void {
    this.#expiries.delete(item);
    this.#expiries.set(item, performance.now() + this.retentionMs);
    while (this.#expiries.size > this.max) {
      const oldest = this.#expiries.keys().next().value as T;
      this.#expiries.delete(oldest);
      this.#forget(oldest);
    }
    this.#schedule();
  }

  /** Drops `item` without calling back: it was forgotten some other way. */
  delete(item: T): void {
    this.#expiries.delete(item);
  }

  /** Stops the timer; entries are kept (the daemon is going away). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const [item, expiry] of this.#expiries) {
      if (expiry > now) break;
      this.#expiries.delete(item);
      this.#forget(item);
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    const next = this.#expiries.values().next();
    if (next.done) return;
    this.#timer = setTimeout(() => this.#sweep(), Math.max(0, next.value - performance.now()));
    // Forgetting is housekeeping: it must not keep a stopped daemon's process alive.
    this.#timer.unref();
  }
}
