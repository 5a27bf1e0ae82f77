// Config sections for the mail host: `users` (scrypt hashes only), `aliases` and `mailhost` (files, postmaster, quota).
import { z } from 'zod';
import { duration, parseSize, size } from '../units.ts';

/** local@domain; the domain is lower-cased (local parts are compared case-insensitively too). */
const ADDRESS_RE = /^[^\s@<>()\[\],;:"\\]{1,64}@[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})$/;

export const userAddress = () =>
  z
    .string()
    .regex(ADDRESS_RE, 'expected a full address local@domain')
    .transform((a) => a.toLowerCase());

/** The `$scrypt$N$r$p$salt$hash` format written by `spamgate users`. */
export const SCRYPT_HASH_RE = /^\$scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/;

/** Bounds of an out-of-office reply (`spamgate users vacation`). */
export const VACATION_SUBJECT_MAX_CHARS = 200;
export const VACATION_MESSAGE_MAX_BYTES = 16 * 1024;
export const VACATION_MAX_DAYS = 365;

/** YYYY-MM-DD naming a real calendar day (2026-02-30 is refused). */
export function isCalendarDate(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/** An out-of-office reply (RFC 3834): subject (default "Auto: " + the original's), text, last day (UTC), one reply per sender per `days`. */
export const vacationEntry = z.strictObject({
  subject: z
    .string()
    .min(1)
    .max(VACATION_SUBJECT_MAX_CHARS, `at most ${VACATION_SUBJECT_MAX_CHARS} characters`)
    .refine((s) => !/[\x00-\x1f\x7f]/.test(s), 'no control characters or line breaks')
    .optional(),
  message: z
    .string()
    .min(1)
    .refine((s) => Buffer.byteLength(s, 'utf8') <= VACATION_MESSAGE_MAX_BYTES, `at most ${VACATION_MESSAGE_MAX_BYTES} bytes`)
    .refine((s) => !s.includes('\0'), 'no NUL characters'),
  /** Last day replies are sent (UTC, inclusive). */
  until: z.string().refine(isCalendarDate, 'expected a date YYYY-MM-DD').optional(),
  days: z.number().int().min(1).max(VACATION_MAX_DAYS).default(7),
});

/**
 * A user's own quota: a size, or `none`: no limit, also when mailhost.default_quota is set (`spamgate users quota
 * ADDRESS none`). Files written before `none` existed hold sizes only and read as before.
 */
export const userQuota = () =>
  z.unknown().transform((v, ctx): number | 'none' => {
    if (v === 'none') return 'none';
    const bytes = parseSize(v);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a size such as 512k, 25MB, 1g (or bytes as a number), or none for no limit, found ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return bytes;
  });

export const userEntry = z.strictObject({
  password: z.string().regex(SCRYPT_HASH_RE, 'expected an scrypt hash ($scrypt$N$r$p$salt$hash) made by `spamgate users`, never a plaintext password'),
  /** Stored reversibly, only for users who asked for APOP (RFC 1939 §7). */
  apop_secret: z.string().min(1).optional(),
  quota: userQuota().optional(),
  /** Out-of-office auto-reply, written by `spamgate users vacation`. */
  vacation: vacationEntry.optional(),
});

export const usersSection = z.record(z.string(), userEntry).default({});

/** Key: local@domain or @domain (catch-all); value: one address or a list (local or remote). */
export const aliasesSection = z
  .record(z.string(), z.union([z.string(), z.array(z.string()).min(1)], { error: 'expected an address or a non-empty list of addresses' }))
  .default({});

export const mailhostSection = z
  .strictObject({
    /** Relative to data_dir. Written by `spamgate users`, re-read when it changes. */
    users_file: z.string().default('users.yaml'),
    aliases_file: z.string().default('aliases.yaml'),
    /** Where postmaster@<each local domain> goes when no user or alias of that name exists (RFC 5321 §4.5.1). */
    postmaster: userAddress().optional(),
    /** user+tag@domain → user@domain; '' turns sub-addressing off. */
    subaddress_delimiter: z.string().max(1).default('+'),
    max_alias_depth: z.number().int().min(1).max(50).default(10),
    default_quota: size().optional(),
    /** Folders (INBOX included) and subscriptions one user may make over IMAP: each folder is directories and files on disk. */
    max_mailboxes: z.number().int().min(10).max(100_000).default(1000),
    /** Watch the users/aliases files and re-read them on change. */
    watch_files: z.boolean().default(true),
    /** One copy per mailbox when aliases lead several recipients of one message to the same user. */
    duplicate_window: duration().prefault('1h'),
    /**
     * Message files up to this size are read with blocking calls (a few µs from the page cache, bounded per turn
     * of the event loop); bigger ones in the thread pool. 0: every read in the thread pool, for a Maildir on a
     * network filesystem, where one blocking read could hold up every session.
     */
    sync_read_max: size().refine((n) => n <= 1024 * 1024, { message: 'at most 1m' }).prefault('64k'),
    /** A password verified for IMAP, POP3, ManageSieve or SMTP AUTH is accepted again without scrypt this long; 0: never. */
    auth_cache_ttl: duration().refine((ms) => ms <= 24 * 3_600_000, { message: 'at most 24h' }).prefault('5m'),
  })
  .prefault({});

export type VacationConfig = z.output<typeof vacationEntry>;
export type UserEntryConfig = z.output<typeof userEntry>;
export type MailhostConfig = z.output<typeof mailhostSection>;
