// Rate counters behind a small interface: in-process (lru-cache) by default, Redis when shared.
import { LRUCache } from 'lru-cache';
import type { Clock } from '../util/clock.ts';

export interface RateStore {
  /**
   * Counts `amount` more events for `key` and returns the events in the sliding window ending now,
   * including these. The window is approximated from the current and previous fixed buckets.
   */
  hit(key: string, windowMs: number, amount?: number): Promise<number>;
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

  async hit(key: string, windowMs: number, amount = 1): Promise<number> {
    const now = this.clock.now();
    const bucket = Math.floor(now / windowMs);
    const cacheKey = `${windowMs}:${key}`;
    const prev = this.cache.get(cacheKey);
    let b: Buckets;
    if (!prev || prev.bucket < bucket - 1) b = { bucket, current: 0, previous: 0 };
    else if (prev.bucket === bucket - 1) b = { bucket, current: 0, previous: prev.current };
    else b = prev;
    b.current += amount;
    this.cache.set(cacheKey, b, { ttl: windowMs * 2 });
    return Math.ceil(slidingCount(b, now, windowMs) - 1e-9);
  }
}
