// The reputation store's contract: one record per key (keys.ts keyId). In-process (memory-store.ts, an LRU
// saved to the data directory) by default; Redis when shared between gateways (redis/reputation-store.ts).
import type { ReputationRecord } from './math.ts';

export interface ReputationStore {
  get(id: string): Promise<ReputationRecord | undefined>;
  /** Adds one observation (decaying the record to `now` first); returns the new record. */
  observe(id: string, score: number, weight: number, now: number): Promise<ReputationRecord>;
  /** Forgets a key; true when it was known. */
  reset(id: string): Promise<boolean>;
  /** Keys held (a shared store: an estimate). */
  size(): Promise<number>;
  close(): Promise<void>;
}
