// Config section `pop3`: listeners, TLS, limits, failed-login throttling and POP-before-SMTP.
import { z } from 'zod';
import { duration, listen, rateRule, timer, tlsFiles, tlsListen } from '../units.ts';

const rate = rateRule();

export const pop3Section = z
  .strictObject({
    enabled: z.boolean().default(true),
    listen: listen('127.0.0.1', 1110),
    /** Implicit TLS listener (like port 995); needs tls.cert/key here or in smtp.tls (checked in cross-checks.ts). */
    tls_listen: tlsListen(),
    tls: tlsFiles('pop3.tls'),
    /** RFC 1939 §3: an autologout timer, if any, MUST be of at least 10 minutes. */
    idle_timeout: timer()
      .prefault('10m')
      .refine((ms) => ms >= 600_000, { message: 'must be at least 10m (RFC 1939 §3)' }),
    max_line_length: z.number().int().min(255).max(65_536).default(1024),
    max_bad_commands: z.number().int().positive().default(20),
    max_connections: z.number().int().positive().default(200),
    /** Sessions one client address may hold at once; the next get -ERR [SYS/TEMP]. */
    max_connections_per_ip: z.number().int().positive().default(20),
    /** USER/PASS and AUTH PLAIN off loopback without TLS (not recommended). */
    allow_insecure_auth: z.boolean().default(false),
    auth_failures: z
      .strictObject({
        per_ip: rate.prefault({ limit: 10, window: '15m' }),
        per_user: rate.prefault({ limit: 5, window: '15m' }),
      })
      .prefault({}),
    pop_before_smtp: z
      .strictObject({
        enabled: z.boolean().default(false),
        /** How long after a POP3 login the client's address may relay. */
        ttl: duration().prefault('10m'),
      })
      .prefault({}),
  })
  .prefault({});

export type Pop3Config = z.output<typeof pop3Section>;
