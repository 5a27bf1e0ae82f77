// Config section `fuzzy:`: the store of reported spam's fuzzy digests (src/fuzzy/). On by default: the
// check is silent while the store is empty, so nothing changes until spam is reported.
import { z } from 'zod';
import { duration, size } from '../units.ts';

export const fuzzySection = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Fraction of equal min-hash slots for a match (FUZZY_SPAM). */
    threshold: z.number().gt(0).max(1).default(0.7),
    /** How long a reported digest is kept. */
    ttl: duration().prefault('90d'),
    /** In-process store: digests kept (the oldest dropped first). */
    max_entries: z.number().int().positive().default(100_000),
    /** Texts with fewer words give no digest (short common messages would match each other). */
    min_words: z.number().int().min(3).default(32),
    /** Attachments smaller than this (decoded) give no exact digest (FUZZY_ATTACHMENT). */
    min_attachment_size: size().prefault('1k'),
  })
  .prefault({});

export type FuzzyConfig = z.output<typeof fuzzySection>;
