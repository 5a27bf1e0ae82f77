// Config section `srs:` (full-stack mode): the Sender Rewriting Scheme for copies that aliases forward to other
// domains, so the receiver's SPF check sees our domain instead of the original sender's (see src/mailhost/srs.ts).
import { z } from 'zod';
import { domain, duration } from '../units.ts';

const DAY_MS = 86_400_000;

export const srsSection = z
  .strictObject({
    /** On by default: the secret is made at first start and the domain is one of ours, so nothing needs setting up. */
    enabled: z.boolean().default(true),
    /** Domain of the SRS addresses; one of local_domains (cross-checked). Default: the first local domain. */
    domain: domain().optional(),
    /** Secrets file (one a line, the first signs), relative to data_dir. Default: srs.secret there, made at first start. */
    secret_file: z.string().min(1).optional(),
    /** How long a reverse address is honoured: whole days, as SRS stamps count days (mod 1024). */
    max_age: duration()
      .prefault('21d')
      .refine((ms) => ms % DAY_MS === 0 && ms >= DAY_MS && ms <= 1000 * DAY_MS, { message: 'expected whole days from 1d to 1000d (SRS stamps count days)' }),
    /** Mail to an SRS address must come from the null sender (a bounce), else 550 at RCPT. */
    bounces_only: z.boolean().default(true),
  })
  .prefault({});

export type SrsConfig = z.output<typeof srsSection>;
