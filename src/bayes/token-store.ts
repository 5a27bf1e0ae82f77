// The Bayes token store contract: async and batched so a networked store (Redis) needs O(1) round trips.
import type { MessageClass } from './learner.ts';

export interface TokenCounts {
  /** Spam messages learned that contained the token. */
  spam: number;
  /** Ham messages learned that contained the token. */
  ham: number;
}

/** Messages learned per class. */
export interface LearnedTotals {
  spam: number;
  ham: number;
}

/** One message added to (+1) or removed from (-1) a class. */
export interface StoreChange {
  tokens: readonly string[];
  cls: MessageClass;
  delta: 1 | -1;
  /** Message digest: recorded as `cls` on +1, cleared on -1. */
  digest: string;
}

export interface TokenStore {
  readonly kind: string;
  totals(): Promise<LearnedTotals>;
  /** Counts for each token, aligned with the input; undefined for unseen tokens. One round trip. */
  getMany(tokens: readonly string[]): Promise<(TokenCounts | undefined)[]>;
  /** Applies one change as a unit (tokens, totals and digest together). */
  update(change: StoreChange): Promise<void>;
  /** The class a message digest was learned as, if any. */
  learnedAs(digest: string): Promise<MessageClass | undefined>;
  /** Writes pending changes durably (no-op for stores that write through). */
  flush(): Promise<void>;
  close(): Promise<void>;
}
