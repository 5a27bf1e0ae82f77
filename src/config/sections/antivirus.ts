// Config section `antivirus:` — virus scanning of each message through clamd (the ClamAV daemon), off by default.
import { z } from 'zod';
import { parseClamdAddress } from '../../antivirus/clamd-protocol.ts';
import { size, timer } from '../units.ts';

/** clamd's default StreamMaxLength (clamd.conf): a longer INSTREAM is refused with "size limit exceeded". */
export const CLAMD_STREAM_MAX = 25 * 1024 * 1024;

export const antivirusSection = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** "host:port" (TCP) or "unix:/path" (a unix socket, e.g. Debian's /run/clamav/clamd.ctl). */
    clamd: z
      .string()
      .default('127.0.0.1:3310')
      .superRefine((s, ctx) => {
        const a = parseClamdAddress(s);
        if ('error' in a) ctx.addIssue({ code: 'custom', message: a.error });
      }),
    /** The whole scan of one message: waiting for a slot, connecting, sending, clamd's reply. */
    // at most 5 minutes: the client waits 10 for the reply to its final dot (RFC 5321 §4.5.3.2.6), other checks run too
    timeout: timer()
      .prefault('30s')
      .refine((ms) => ms >= 100 && ms <= 300_000, { message: 'expected a duration from 100ms to 5m (a client waits 10 minutes for the reply to its final dot, RFC 5321 §4.5.3.2.6)' }),
    /** Messages larger than this are not scanned (AV_SKIPPED_SIZE); above clamd's StreamMaxLength it would refuse them. */
    max_size: size()
      .prefault(CLAMD_STREAM_MAX)
      .refine((n) => n >= 1024 && n <= 1024 ** 3, { message: 'expected a size from 1k to 1g (and at most the StreamMaxLength of clamd, 25m by default)' }),
    /** Scans at once; more wait for a slot within the timeout. */
    max_concurrent: z.number().int().positive().max(1000).default(10),
    /** Also scan mail from authenticated users and trusted networks (outgoing mail). */
    scan_outbound: z.boolean().default(true),
    /** clamd down, slow or garbled: defer the message (451 4.7.1) or accept it unscanned (AV_ERROR, logged). */
    on_error: z.enum(['tempfail', 'accept']).default('tempfail'),
  })
  .prefault({});

export type AntivirusConfig = z.output<typeof antivirusSection>;
