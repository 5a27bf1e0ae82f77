// The Learner over a token store: learn / relearn / forget keyed by message digest, serialised per store.
import { createHash } from 'node:crypto';
import type { Counter } from 'prom-client';
import type { LearnOutcome, LearnSource, Learner, MessageClass } from './learner.ts';
import type { TokenStore } from './token-store.ts';

export interface LearnerDeps {
  store: TokenStore;
  /** Raw message → its distinct tokens (same tokenizer as classification). */
  tokenize: (raw: Buffer) => string[];
  learned?: Counter<'class' | 'source'>;
}

/**
 * Digest of a message for "learned once" bookkeeping: SHA-256 of the raw bytes without spamgate's own
 * X-Spamgate-* header fields, so a message seen before and after tagging counts as one.
 */
export function messageDigest(raw: Buffer): string {
  const text = raw.toString('latin1');
  const m = /\r?\n\r?\n/.exec(text);
  const headEnd = m ? m.index : text.length;
  const head = text.slice(0, headEnd).replace(/^X-Spamgate[^:\r\n]*:.*(?:\r?\n[ \t].*)*(?:\r?\n|$)/gim, '');
  return createHash('sha256').update(head, 'latin1').update(text.slice(headEnd), 'latin1').digest('hex').slice(0, 32);
}

export class BayesLearner implements Learner {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: LearnerDeps) {}

  learn(raw: Buffer, cls: MessageClass, source: LearnSource): Promise<LearnOutcome> {
    return this.serial(async () => {
      const digest = messageDigest(raw);
      const prev = await this.deps.store.learnedAs(digest);
      if (prev === cls) return 'already';
      const tokens = this.deps.tokenize(raw);
      if (prev !== undefined) await this.deps.store.update({ tokens, cls: prev, delta: -1, digest });
      await this.deps.store.update({ tokens, cls, delta: 1, digest });
      this.deps.learned?.inc({ class: cls, source });
      return prev === undefined ? 'learned' : 'relearned';
    });
  }

  forget(raw: Buffer, _source: LearnSource): Promise<LearnOutcome> {
    return this.serial(async () => {
      const digest = messageDigest(raw);
      const prev = await this.deps.store.learnedAs(digest);
      if (prev === undefined) return 'unknown';
      await this.deps.store.update({ tokens: this.deps.tokenize(raw), cls: prev, delta: -1, digest });
      return 'forgotten';
    });
  }

  /** Runs store mutations one at a time so a learn and a forget of one message never interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
