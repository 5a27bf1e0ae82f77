// Rate counters behind a small interface: in-process (lru-cache) by default, Redis when shared. A hit over
// the caller's limit is refused and not counted.
import { LRUCache } from 'lru-cache';
import type { Clock } from '../util/clock.ts';

export interface HitOptions {
  /** Events this hit stands for (default 1). */
  amount?: number;
  /**
   * The limit the caller applies: a hit that would take the count past it is not counted (but the count
   * with it is returned, so the caller sees it over). Refused attempts then do not keep a client that
   * retries steadily blocked for ever; without a limit every hit counts.
   */
  limit?: number;
}

export interface RateStore {
  /**
   * Counts `amount` more events for `key` and returns the events in the sliding window ending now,
   * including these. The window is approximated from the current and previous fixed buckets.
   */
  hit(key: string, windowMs: number, opts?: HitOptions): Promise<number>;
  close?(): Promise<void>;
}

interface Buckets {
  bucket: number;
  current: number;
  previous: number;
}

/** Weighted two-bucket sliding window: count = current + previous × (unelapsed fraction). */
export function slidingCount(b: Buckets, now: number, windowMs: number): number {
  const elapsed = (now % windowMs) / windowMs;
  return b.current + b.previous * (1 - elapsed);
}

export class MemoryRateStore implements RateStore {
  private readonly cache: LRUCache<string, Buckets>;
  constructor(
    private readonly clock: Clock,
    maxKeys = 100_000,
  ) {
    this.cache = new LRUCache({ max: maxKeys });
  }

  async hit(key: string, windowMs: number, opts: HitOptions = {}): Promise<number> {
    const amount = opts.amount ?? 1;
    const now = this.clock.now();
    const bucket = Math.floor(now / windowMs);
    const cacheKey = `${windowMs}:${key}`;
    const prev = this.cache.get(cacheKey);
    let b: Buckets;
    if (!prev || prev.bucket < bucket - 1) b = { bucket, current: 0, previous: 0 };
    else if (prev.bucket === bucket - 1) b = { bucket, current: 0, previous: prev.current };
    else b = prev;
    const n = Math.ceil(slidingCount({ ...b, current: b.current + amount }, now, windowMs) - 1e-9);
    if (opts.limit === undefined || n <= opts.limit) b.current += amount;
    this.cache.set(cacheKey, b, { ttl: windowMs * 2 });
    return n;
  }
}
