// Config section `batv:` (off by default): Bounce Address Tag Validation (draft-levine-smtp-batv-01), the
// envelope sender of our outgoing mail signed as prvs=KDDDSSSSSS=local@domain so that bounces to it can be told
// from backscatter (bounces of mail forged in our name). Run time in src/batv/; keys in src/batv/batv-keys.ts.
import { z } from 'zod';
import { domain, duration } from '../units.ts';

const DAY_MS = 86_400_000;

const key = z.strictObject({
  /** The K written into each tag: 0-9, kept when the secret is rotated out. */
  id: z.number().int().min(0).max(9),
  secret: z.string().min(16, { message: 'expected a secret of at least 16 characters (tags are short: the secret must not be guessable)' }),
});

export const batvSection = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** Inline keys, the first signing and all validating; or key_file (one of the two when enabled). */
    keys: z.array(key).min(1).optional(),
    /** A file of `K secret` lines (relative to the config file's directory), read again on reload. */
    key_file: z.string().min(1).optional(),
    /** How long a tag is valid: whole days (DDD counts days mod 1000). */
    max_age: duration()
      .prefault('7d')
      .refine((ms) => ms % DAY_MS === 0 && ms >= DAY_MS && ms <= 365 * DAY_MS, { message: 'expected whole days from 1d to 365d (BATV tags count days)' }),
    /** Sender domains signed and recipient domains whose bounces are checked. Default: local_domains. */
    domains: z.array(domain()).min(1).optional(),
    /** A bounce (MAIL FROM:<>) without a tag to a signed domain: `score` emits BATV_UNSIGNED_BOUNCE (weight in rules/batv.yaml), `ignore` nothing. */
    unsigned_bounces: z.enum(['score', 'ignore']).default('score'),
  })
  .superRefine((b, ctx) => {
    if (b.keys !== undefined && b.key_file !== undefined) ctx.addIssue({ code: 'custom', path: ['key_file'], message: 'give keys or key_file, not both' });
    if (b.enabled && b.keys === undefined && b.key_file === undefined) ctx.addIssue({ code: 'custom', path: ['keys'], message: 'BATV needs a key to sign with: set batv.keys (a list of {id, secret}) or batv.key_file' });
    const ids = new Set<number>();
    b.keys?.forEach((k, i) => {
      if (ids.has(k.id)) ctx.addIssue({ code: 'custom', path: ['keys', i, 'id'], message: `key number ${k.id} is given twice (each key needs its own number: it is written into the tags)` });
      ids.add(k.id);
    });
  })
  .prefault({});

export type BatvConfig = z.output<typeof batvSection>;
