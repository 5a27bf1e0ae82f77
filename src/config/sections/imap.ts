// Config schema of the `imap:` section: listeners, TLS, and the IMAP server limits (see src/imap/context.ts ImapLimits).
import { z } from 'zod';
import { duration, listen, size, timer, tlsFiles, tlsListen } from '../units.ts';

export const imapSection = z
  .strictObject({
    enabled: z.boolean().default(true),
    listen: listen('127.0.0.1', 1143),
    /** Implicit-TLS listener (imaps); needs tls.cert/key. */
    tls_listen: tlsListen(),
    tls: tlsFiles('imap.tls'),
    /** Allow LOGIN without TLS from non-loopback clients (not recommended). */
    allow_insecure_auth: z.boolean().default(false),
    /** Offer COMPRESS=DEFLATE (RFC 4978) after login. */
    compress: z.boolean().default(true),
    max_line: size()
      .prefault('64k')
      .refine((n) => n >= 1024, { message: 'expected at least 1k (RFC 7162 §4 asks clients to allow 8k lines)' }),
    // An APPEND literal is staged whole; beyond 1g it is a mistake (or an attack), not a message.
    max_literal: size()
      .prefault('50m')
      .refine((n) => n >= 1024 && n <= 1024 ** 3, { message: 'expected a size from 1k to 1g' }),
    commands_per_second: z.number().int().positive().default(200),
    idle_timeout: timer().prefault('30m'),
    max_auth_failures: z.number().int().positive().default(10),
    /** Failed logins for one user name (from any address) within auth_failure_window. */
    max_auth_failures_per_user: z.number().int().positive().default(5),
    // a window of 0 would forget every failure at once: no throttling at all (as smtp.auth.failures and pop3 refuse)
    auth_failure_window: duration()
      .refine((ms) => ms > 0, { message: 'expected a window above zero' })
      .prefault('5m'),
    max_connections: z.number().int().positive().default(500),
    /** Connections one client address may hold at once (the next get BYE). */
    max_connections_per_ip: z.number().int().positive().default(20),
  })
  .prefault({});
