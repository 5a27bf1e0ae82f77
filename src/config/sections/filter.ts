// Config sections of the content filter: `filter:` (MIME work bounds) and `bayes:` (classifier, store, learning).
import { z } from 'zod';
import { DEFAULT_CUTOFFS } from '../../bayes/cutoffs.ts';
import { duration, MAX_TIMER_MS, size } from '../units.ts';

export const filterSection = z
  .strictObject({
    /** Bytes of each message the content checks look at. */
    max_bytes: size()
      .prefault('512k')
      .refine((n) => n >= 1024, { message: 'expected at least 1k (the content checks need the headers)' }),
    /** MIME parts visited per message. */
    max_parts: z.number().int().positive().default(100),
    /** Multipart nesting depth followed. */
    max_depth: z.number().int().positive().max(50).default(10),
  })
  .prefault({});

export const bayesSection = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** memory: in-process, saved to data_dir/bayes/tokens.gz. */
    store: z.enum(['memory']).default('memory'),
    /** Start from models/spamassassin.model.gz while the data dir has no learned store. */
    use_shipped_model: z.boolean().default(true),
    min_spam: z.number().int().min(0).default(200),
    min_ham: z.number().int().min(0).default(200),
    /** evidence: header / body / link evidence weighed by a fitted model; chi-square: all clues at once. */
    combine: z.enum(['evidence', 'chi-square']).default('evidence'),
    /** Default per combine method, chosen by cross-validation on the SpamAssassin TRAIN split (DEFAULT_CUTOFFS in src/bayes/cutoffs.ts). */
    spam_cutoff: z.number().min(0).max(1).optional(),
    ham_cutoff: z.number().min(0).max(1).optional(),
    word_pairs: z.boolean().default(false),
    /** Robinson's s and x, and the minimum |f(w) - 0.5| of a token to count. */
    unknown_word_strength: z.number().positive().default(0.0178),
    unknown_word_prob: z.number().min(0).max(1).default(0.52),
    min_prob_strength: z.number().min(0).max(0.5).default(0.375),
    autolearn: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** Learn as spam at or above this total score (without the Bayes symbols' own part). */
        spam_score: z.number().default(12),
        /** Learn as ham at or below this total score. */
        ham_score: z.number().default(-2),
      })
      .prefault({}),
    /** Save the memory store this long after the last change (ms). */
    save_delay: z.number().int().min(0).max(MAX_TIMER_MS).default(5000),
    /** Distinct tokens the memory store keeps; past it, those learned longest ago are forgotten (to 90 %). */
    max_tokens: z.number().int().min(10_000).max(50_000_000).default(1_000_000),
    /** Learned-message digests kept (a message learned again counts once); past it, the oldest go (to 90 %). */
    max_digests: z.number().int().min(1_000).max(50_000_000).default(500_000),
    /** Redis store: a token learned on site expires this long after it was last learned (0: never); seeded ones stay. */
    token_ttl: duration().prefault('180d'),
  })
  .prefault({})
  .refine((b) => (b.ham_cutoff ?? DEFAULT_CUTOFFS[b.combine].ham) < (b.spam_cutoff ?? DEFAULT_CUTOFFS[b.combine].spam), {
    message: 'bayes.ham_cutoff must be below bayes.spam_cutoff',
  });

export type FilterConfig = z.output<typeof filterSection>;
export type BayesConfig = z.output<typeof bayesSection>;
