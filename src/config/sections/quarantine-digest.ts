// Config section `quarantine.digest:` — the periodic mail that tells each local recipient what the quarantine holds
// for them, with release and delete links (src/quarantine/digest*.ts, link-*.ts). Off by default.
import { z } from 'zod';
import { duration } from '../units.ts';

/** "HH:MM", 24-hour clock, local time of the host. */
const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)$/;

export const digestSection = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** Local time of day (the host's time zone) of the first round of each day. */
    at: z.string().regex(TIME_OF_DAY, { message: 'expected a local time of day as "HH:MM" (24-hour clock), e.g. "07:00"' }).default('07:00'),
    /** Rounds are at `at` and then every `interval` until the next day's `at`: 24h is once a day. */
    interval: duration()
      .prefault('24h')
      .refine((ms) => ms >= 60_000 && ms <= 86_400_000, { message: 'expected a duration from 1m to 24h' }),
    /** The digests' From address (default postmaster@<smtp.hostname>). */
    from: z.string().regex(/^[^\s@<>"]+@[^\s@<>"]+$/, { message: 'expected an address such as postmaster@example.org' }).optional(),
    /** Items listed at most in one digest (newest first); the rest are counted ("and K more"). */
    max_items: z.number().int().min(1).max(1000).default(50),
    /** Where the release/delete links point: the scheme, host and port users reach the HTTP listener at. No links without. */
    base_url: z
      .string()
      .refine((u) => /^https?:\/\/[^/?#\s]+\/?$/i.test(u), { message: 'expected http(s)://host[:port] (no path, query or fragment), e.g. https://gw.example.com:9465' })
      .optional(),
    /** How long a link works after its digest was made. */
    link_lifetime: duration()
      .prefault('7d')
      .refine((ms) => ms >= 60_000 && ms <= 366 * 86_400_000, { message: 'expected a duration from 1m to 366d' }),
    /** A message released through a link is also learned as ham (as `quarantine release --learn`). */
    learn_on_release: z.boolean().default(false),
    /**
     * Full-stack mode: per item "release and always allow this sender" and "delete and block this sender" links, and
     * one "manage my sender lists" link per digest (the per-user sender lists). No effect in front-of mode.
     */
    list_links: z.boolean().default(true),
  })
  .prefault({});

export type DigestConfig = z.output<typeof digestSection>;
