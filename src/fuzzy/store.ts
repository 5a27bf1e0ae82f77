// The fuzzy store's contract: digests of reported spam, looked up by min-hash slots. In-process
// (memory-store.ts, saved to the data directory) by default; Redis when shared (redis-store.ts).
import type { FuzzyDigest } from './digest.ts';

export interface FuzzyMatch {
  id: string;
  /** Fraction of equal slots, 0..1. */
  similarity: number;
}

export interface FuzzyStats {
  entries: number;
}

export interface FuzzyStore {
  /** Adds a digest (an existing one is refreshed); 'added' or 'exists'. */
  add(digest: FuzzyDigest): Promise<'added' | 'exists'>;
  /** Removes the entries this digest matches at `threshold` or more (a near-copy reported as ham removes the original). */
  remove(digest: FuzzyDigest, threshold: number): Promise<number>;
  /**
   * The best live entry with at least `threshold` equal slots; counts a hit on it when `countHit` (a message
   * scored by the gateway; not `explain` looking on, nor a report checking for an entry it would repeat).
   */
  lookup(digest: FuzzyDigest, threshold: number, countHit: boolean): Promise<FuzzyMatch | undefined>;
  stats(): Promise<FuzzyStats>;
  close(): Promise<void>;
}
