// Config section `reputation:`: sender reputation (src/reputation/), a decaying average of the scores of
// past mail per client network and per authenticated sender domain. On by default: silent until a key has
// min_count messages of history, so nothing changes for a new install or a first-time sender.
import { z } from 'zod';
import { duration } from '../units.ts';

export const reputationSection = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** Past scores lose half their weight in this time. */
    half_life: duration().prefault('30d'),
    /** Keys kept: the least recently used dropped first (in-process), the least recently updated (Redis). */
    max_entries: z.number().int().positive().default(100_000),
    /** The client network of an IPv4 address (prefix length). */
    ipv4_prefix: z.number().int().min(8).max(32).default(24),
    /** The client network of an IPv6 address (prefix length). */
    ipv6_prefix: z.number().int().min(16).max(128).default(64),
    /** Also key on the sender domain when SPF or aligned DKIM authenticates it. */
    domain: z.boolean().default(true),
    /** Fewer (decayed) messages than this: no symbol. */
    min_count: z.number().positive().default(3),
    /** Messages at which the confidence is one half (count / (count + confidence_count)). */
    confidence_count: z.number().positive().default(10),
    /** An average score at or above this is bad (REPUTATION_*_BAD). */
    bad_score: z.number().default(6),
    /** An average score at or below this is good (REPUTATION_*_GOOD). */
    good_score: z.number().default(1),
    /** How far past a threshold the average is for the full factor. */
    spread: z.number().positive().default(4),
    /** A user report (Junk move, quarantine release --learn) counts as this many messages. */
    report_weight: z.number().positive().default(5),
  })
  .refine((r) => r.good_score < r.bad_score, { message: 'reputation.good_score must be below reputation.bad_score', path: ['good_score'] })
  .prefault({});

export type ReputationConfig = z.output<typeof reputationSection>;
