// Config section `spamd:` — spamgate answering SpamAssassin's spamc/spamd protocol (Exim's `spam =`, spamc in
// procmail/maildrop, spamass-milter), off by default.
import { z } from 'zod';
import { parseMilterListen } from '../../milter/listen-address.ts';
import { cidrList, size, timer } from '../units.ts';

/** The actions whose threshold may be the one that makes a message "Spam: True". */
export const SPAM_ACTIONS = ['add_header', 'rewrite_subject', 'junk', 'quarantine', 'reject'] as const;

export const spamdSection = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** "host:port" (TCP) or "unix:/path" (a unix socket); spamd's port is 783. */
    listen: z
      .string()
      .default('127.0.0.1:783')
      .superRefine((s, ctx) => {
        const a = parseMilterListen(s);
        if ('error' in a) ctx.addIssue({ code: 'custom', message: a.error.replace('milter.sock', 'spamd.sock').replace('11332', '783') });
      }),
    /**
     * Also answer the rspamd HTTP scan protocol (POST /checkv2, GET /ping, /learnspam, /learnham) here, with the
     * same networks, limits and switches; "host:port" or "unix:/path"; null (the default): not at all.
     */
    http_listen: z
      .string()
      .nullable()
      .default(null)
      .superRefine((s, ctx) => {
        if (s === null) return;
        const a = parseMilterListen(s);
        if ('error' in a) ctx.addIssue({ code: 'custom', message: a.error.replace('milter.sock', 'rspamd.sock').replace('11332', '11333') });
      }),
    /** Client networks that may connect over TCP (spamd -A); others are closed at connect. A unix socket is not filtered. */
    allowed_networks: cidrList().default(['127.0.0.0/8', '::1/128']),
    /** Connections at once; more are answered EX_TEMPFAIL and closed. */
    max_connections: z.number().int().positive().max(10_000).default(50),
    /** Largest Content-length taken (spamc sends up to 500 KB by default, `spamc -s` more). */
    max_size: size()
      .prefault('1m')
      .refine((n) => n >= 1024 && n <= 64 * 1024 * 1024, { message: 'expected a size from 1k to 64m' }),
    /** The whole request, header and body, must arrive within this time of the connection; the answer must be taken with no silence that long. */
    timeout: timer()
      .prefault('30s')
      .refine((ms) => ms >= 100 && ms <= 3_600_000, { message: 'expected a duration from 100ms to 1h' }),
    /** TELL (spamc -L/-C): learning through the same learner as the Junk folder and `spamgate train`. */
    allow_tell: z.boolean().default(false),
    /** The action whose score threshold (for the User's address when it is ours) makes "Spam: True". */
    spam_action: z.enum(SPAM_ACTIONS).default('junk'),
    /** `top`: client address, HELO and sender from the topmost Received field (and Return-Path); `ignore`: content only. */
    received: z.enum(['top', 'ignore']).default('top'),
  })
  .prefault({});

export type SpamdConfig = z.output<typeof spamdSection>;
