// Rule-file sections owned by the scoring core: symbol definitions, action thresholds, overrides.
import { z } from 'zod';

/**
 * A weight is a score, or hard policy: `reject` / `tempfail` act at once in the phase that hit; `quarantine`
 * quarantines the message at the end of DATA whatever the score and thresholds (unless a reject/tempfail hit too).
 */
export const weightSchema = z.union([z.number(), z.enum(['reject', 'tempfail', 'quarantine'])], {
  error: (issue) => `expected a number (the score), reject, tempfail or quarantine, found ${JSON.stringify(issue.input)}`,
});
export type Weight = z.output<typeof weightSchema>;

/** "550 5.7.1 Relay access denied" → code, enhanced status, text. */
export const replySchema = z
  .string()
  .regex(/^[45]\d\d [45]\.\d{1,3}\.\d{1,3} .+$/, 'expected a reply such as "550 5.7.1 text"');

export const symbolDefSchema = z.strictObject({
  weight: weightSchema,
  description: z.string().min(1),
  /** Reply used when this symbol decides a reject/tempfail; `{options}` stands for the hit's options (e.g. a virus name). */
  reply: replySchema.optional(),
  /** Family for metrics labels (defaults to the symbol's prefix before the first _). */
  group: z.string().optional(),
});
export type SymbolDef = z.output<typeof symbolDefSchema>;

export const symbolsSectionSchema = z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'expected an UPPER_SNAKE symbol name'), symbolDefSchema);

export const thresholdsSchema = z.strictObject({
  reject: z.number().optional(),
  tempfail: z.number().optional(),
  /** Accepted, kept out of the mailboxes in <data_dir>/quarantine until released (off when absent). */
  quarantine: z.number().optional(),
  junk: z.number().optional(),
  rewrite_subject: z.number().optional(),
  add_header: z.number().optional(),
});
export type Thresholds = z.output<typeof thresholdsSchema>;

export const actionsSectionSchema = thresholdsSchema.extend({
  subject_prefix: z.string().optional(),
  reject_reply: replySchema.optional(),
  tempfail_reply: replySchema.optional(),
});

/** Per recipient domain or address threshold overrides: `example.com: {reject: 20}`. */
export const overridesSectionSchema = z.record(z.string(), thresholdsSchema);
