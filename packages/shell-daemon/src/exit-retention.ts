export interface ExitRetentionOptions<T> {
  /** How long an entry is kept after it is added. */
  readonly retentionMs: number;
  /** Entries kept at most. */
  readonly max: number;
  /** Bytes kept at most, as `weigh` counts them. */
  readonly maxBytes: number;
  /** Bytes an entry holds now. Must never grow once the entry is added. */
  readonly weigh: (item: T) => number;
  /** An entry still in use (output or an exit owed to a live peer) is never forgotten early. */
  readonly busy: (item: T) => boolean;
  /** Called once per entry forgotten, by age or to make room. */
  readonly forget: (item: T) => void;
  /**
   * Whose an entry is (its session). Room is made from the owner holding the most entries, so
   * one client's flood of commands forgets its own exits, not another's. Without it, one owner.
   */
  readonly owner?: (item: T) => unknown;
}

/**
 * Exited commands kept for attach and list: each for `retentionMs` after its exit, and never
 * more than `max` of them or `maxBytes` of their output at once, the oldest of the owner that
 * holds the most forgotten first.
 * Every entry is kept for the same time and entries arrive in exit order, so the oldest is
 * always the next to expire: one timer serves them all, where a timer per command would itself
 * be per-exec memory held for the retention.
 */
export class ExitRetention<T> {
  readonly #options: ExitRetentionOptions<T>;
  /** Per item, in insertion (so exit) order: when it expires (performance.now()) and what it weighed. */
  readonly #entries = new Map<T, { readonly expiry: number; bytes: number }>();
  /**
   * At least the bytes held by all entries: weights only shrink after an entry is added (credit
   * and attach free bytes, nothing appends after exit), so the sum of weights at add time is an
   * upper bound, made exact by #reweigh() only when it passes maxBytes.
   */
  #bytes = 0;
  /** Per owner, its entries in insertion order: where room is made from. */
  readonly #byOwner = new Map<unknown, Set<T>>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ExitRetentionOptions<T>) {
    this.#options = options;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Starts `item`'s retention now; forgets the oldest idle entries if that makes too many. */
  add(item: T): void {
    this.delete(item);
    const bytes = this.#options.weigh(item);
    this.#entries.set(item, { expiry: performance.now() + this.#options.retentionMs, bytes });
    this.#bytes += bytes;
    const owner = this.#options.owner?.(item);
    let owned = this.#byOwner.get(owner);
    if (!owned) this.#byOwner.set(owner, (owned = new Set()));
    owned.add(item);
    this.#makeRoom();
    this.#schedule();
  }

  /** Drops `item` without calling back: it was forgotten some other way. */
  delete(item: T): void {
    const entry = this.#entries.get(item);
    if (!entry) return;
    this.#entries.delete(item);
    this.#bytes -= entry.bytes;
    const owner = this.#options.owner?.(item);
    const owned = this.#byOwner.get(owner);
    owned?.delete(item);
    if (owned?.size === 0) this.#byOwner.delete(owner);
  }

  /** Stops the timer; entries are kept (the daemon is going away). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #makeRoom(): void {
    const { max, maxBytes, busy } = this.#options;
    if (this.#bytes > maxBytes) this.#reweigh();
    if (this.#entries.size <= max && this.#bytes <= maxBytes) return;
    // Owners whose entries are all busy, passed over for the next largest.
    const spent = new Set<unknown>();
    for (;;) {
      const tooMany = this.#entries.size > max;
      if (!tooMany && this.#bytes <= maxBytes) return;
      // The largest by what is over: by count, or by bytes held (a session of many small exits
      // must not be emptied while another holds one large tail).
      const size = (owned: Set<T>) => (tooMany ? owned.size : this.#bytesOf(owned));
      let largest: Set<T> | undefined;
      let largestSize = -1;
      let owner: unknown;
      for (const [o, owned] of this.#byOwner) {
        if (spent.has(o)) continue;
        const n = size(owned);
        if (n > largestSize) [largest, largestSize, owner] = [owned, n, o];
      }
      if (!largest) return;
      let dropped = false;
      for (const item of largest) {
        if (busy(item)) continue;
        this.#drop(item);
        dropped = true;
        break;
      }
      if (!dropped) spent.add(owner);
    }
  }

  #bytesOf(owned: Set<T>): number {
    let bytes = 0;
    for (const item of owned) bytes += this.#entries.get(item)?.bytes ?? 0;
    return bytes;
  }

  #reweigh(): void {
    this.#bytes = 0;
    for (const [item, entry] of this.#entries) {
      entry.bytes = this.#options.weigh(item);
      this.#bytes += entry.bytes;
    }
  }

  #drop(item: T): void {
    this.delete(item);
    this.#options.forget(item);
  }

  #sweep(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const [item, { expiry }] of this.#entries) {
      if (expiry > now) break;
      this.#drop(item);
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    const next = this.#entries.values().next();
    if (next.done) return;
    this.#timer = setTimeout(() => this.#sweep(), Math.max(0, next.value.expiry - performance.now()));
    // Forgetting is housekeeping: it must not keep a stopped daemon's process alive.
    this.#timer.unref();
  }
}
