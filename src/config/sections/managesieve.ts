// Config section `managesieve`: the RFC 5804 listener users manage their Sieve scripts through (full-stack mode only).
import { z } from 'zod';
import { MAX_SCRIPT_BYTES } from '../../sieve/compile.ts';
import { listen, rateRule, size, timer, tlsFiles } from '../units.ts';

const rate = rateRule();

export const managesieveSection = z
  .strictObject({
    enabled: z.boolean().default(false),
    listen: listen('127.0.0.1', 4190),
    /** STARTTLS certificate and key; smtp.tls when absent. */
    tls: tlsFiles('managesieve.tls'),
    idle_timeout: timer().prefault('10m'),
    max_connections: z.number().int().positive().default(100),
    /** Sessions one client address may hold at once; the next get BYE (TRYLATER). */
    max_connections_per_ip: z.number().int().positive().default(10),
    /** Scripts one user may keep (RFC 5804 §1.3 QUOTA/MAXSCRIPTS past it). */
    max_scripts: z.number().int().positive().max(1000).default(10),
    /** Bytes of one script, at most the interpreter's own bound (QUOTA/MAXSIZE past it). */
    max_script_size: size()
      .prefault(MAX_SCRIPT_BYTES)
      .refine((n) => n > 0 && n <= MAX_SCRIPT_BYTES, { message: `must be between 1 and ${MAX_SCRIPT_BYTES} bytes (the Sieve interpreter's bound)` }),
    auth_failures: z
      .strictObject({
        per_ip: rate.prefault({ limit: 10, window: '15m' }),
        per_user: rate.prefault({ limit: 5, window: '15m' }),
      })
      .prefault({}),
  })
  .prefault({});

export type ManageSieveConfig = z.output<typeof managesieveSection>;
