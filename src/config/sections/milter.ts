// Config section `milter:` — spamgate as a milter for Postfix or Sendmail (smtpd_milters), off by default.
import { z } from 'zod';
import { parseMilterListen } from '../../milter/listen-address.ts';
import { timer } from '../units.ts';

export const milterSection = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** "host:port" (TCP) or "unix:/path" (a unix socket). */
    listen: z
      .string()
      .default('127.0.0.1:11332')
      .superRefine((s, ctx) => {
        const a = parseMilterListen(s);
        if ('error' in a) ctx.addIssue({ code: 'custom', message: a.error });
      }),
    /** MTA connections at once; more are closed at once (the MTA applies its milter_default_action). */
    max_connections: z.number().int().positive().max(100_000).default(200),
    /**
     * Longest wait for the MTA's next packet; a connection idle longer is closed. The MTA is silent while its
     * client sends the message and between the client's commands, so libmilter's 7210s is the default.
     */
    timeout: timer()
      .prefault('7210s')
      .refine((ms) => ms >= 1000 && ms <= 86_400_000, { message: 'expected a duration from 1s to 24h' }),
    /** How often SMFIR_PROGRESS tells the MTA a message is still being judged (keep it under milter_content_timeout). */
    progress: timer()
      .prefault('10s')
      .refine((ms) => ms >= 100 && ms <= 300_000, { message: 'expected a duration from 100ms to 5m' }),
    /** The junk action: tag the message (subject prefix, X-Spamgate-Result) or hold it in the MTA's quarantine. */
    junk: z.enum(['tag', 'hold']).default('tag'),
    /** DKIM-sign our own outgoing mail (authenticated or trusted-network senders) with the dkim.sign keys; false leaves it to the MTA's signer. */
    sign: z.boolean().default(true),
  })
  .prefault({});

export type MilterConfig = z.output<typeof milterSection>;
