// Config section `pop3`: listeners, TLS, limits, failed-login throttling and POP-before-SMTP.
import { z } from 'zod';
import { duration, listen } from '../units.ts';

const rate = z.strictObject({ limit: z.number().int().positive(), window: duration() });

export const pop3Section = z
  .strictObject({
    enabled: z.boolean().default(true),
    listen: listen('127.0.0.1', 1110),
    /** Implicit TLS listener (like port 995); needs tls.cert/key. */
    tls_listen: z.strictObject({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535) }).optional(),
    tls: z
      .strictObject({ cert: z.string().optional(), key: z.string().optional() })
      .prefault({})
      .refine((t) => (t.cert === undefined) === (t.key === undefined), { message: 'pop3.tls.cert and pop3.tls.key must be given together' }),
    /** RFC 1939 §3: an autologout timer, if any, MUST be of at least 10 minutes. */
    idle_timeout: duration()
      .prefault('10m')
      .refine((ms) => ms >= 600_000, { message: 'must be at least 10m (RFC 1939 §3)' }),
    max_line_length: z.number().int().min(255).max(65_536).default(1024),
    max_bad_commands: z.number().int().positive().default(20),
    max_connections: z.number().int().positive().default(200),
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
  .prefault({})
  .refine((p) => p.tls_listen === undefined || p.tls.cert !== undefined, { message: 'pop3.tls_listen needs pop3.tls.cert and pop3.tls.key' });

export type Pop3Config = z.output<typeof pop3Section>;
