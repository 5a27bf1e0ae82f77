// Greylist state behind a small interface: the in-process store (lru-cache, injected clock) here, the
// shared Redis store in src/redis/greylist-store.ts. Both apply the same transition, atomically per triplet.
import { LRUCache } from 'lru-cache';
import type { Clock } from '../util/clock.ts';
import type { Triplet } from './triplet.ts';

export interface GreylistPolicy {
  /** A retry earlier than this after first sight is deferred again. */
  delayMs: number;
  /** A first sight not retried within this is forgotten. */
  maxWaitMs: number;
  /** Whitelisting lasts this long after its last use. */
  whitelistMs: number;
  /** What a passed retry whitelists. */
  scope: 'triplet' | 'network';
}

export type GreylistDecision =
  /** Triplet (or its network) passed greylisting before: accept. */
  | { status: 'whitelisted' }
  /** Retried after the delay: accepted now, and whitelisted. */
  | { status: 'passed'; waitedMs: number }
  /** First sight (or a retry too early): defer; `first` tells which. */
  | { status: 'deferred'; retryInMs: number; first: boolean };

export interface GreylistStore {
  readonly kind: string;
  /** Looks the triplet up and records this attempt, as one step. */
  check(triplet: Triplet, now: number, policy: GreylistPolicy): Promise<GreylistDecision>;
  close(): Promise<void>;
}

type Entry = { kind: 'pending'; firstSeen: number } | { kind: 'white' };

export function tripletKey(t: Triplet): string {
  return `${t.network}|${t.sender}|${t.recipient}`;
}

/** In-process greylist: entries expire by TTL measured on the injected clock; the LRU bound caps memory. */
export class MemoryGreylistStore implements GreylistStore {
  readonly kind = 'memory';
  private readonly entries: LRUCache<string, Entry>;

  constructor(clock: Clock, maxEntries = 200_000) {
    this.entries = new LRUCache({ max: maxEntries, ttlResolution: 0, perf: clock });
  }

  async check(triplet: Triplet, now: number, policy: GreylistPolicy): Promise<GreylistDecision> {
    const netKey = `n:${triplet.network}`;
    const key = `t:${tripletKey(triplet)}`;
    const white = { ttl: policy.whitelistMs };
    if (this.entries.get(netKey)?.kind === 'white') {
      this.entries.set(netKey, { kind: 'white' }, white);
      return { status: 'whitelisted' };
    }
    const entry = this.entries.get(key);
    if (entry?.kind === 'white') {
      this.entries.set(key, entry, white);
      return { status: 'whitelisted' };
    }
    if (entry?.kind === 'pending') {
      const age = now - entry.firstSeen;
      if (age >= policy.delayMs && age <= policy.maxWaitMs) {
        this.entries.set(key, { kind: 'white' }, white);
        if (policy.scope === 'network') this.entries.set(netKey, { kind: 'white' }, white);
        return { status: 'passed', waitedMs: age };
      }
      if (age < policy.delayMs) return { status: 'deferred', retryInMs: policy.delayMs - age, first: false };
    }
    this.entries.set(key, { kind: 'pending', firstSeen: now }, { ttl: policy.maxWaitMs });
    return { status: 'deferred', retryInMs: policy.delayMs, first: true };
  }

  /** Entries held (triplets and whitelisted networks), expired ones included until touched. */
  get size(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}
