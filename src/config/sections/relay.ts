// Config key `outbound.relay` (full-stack mode): every remote message goes to one relay host (a provider's
// submission server, "smarthost") instead of the recipient domains' MX hosts, over STARTTLS (587) or implicit
// TLS (465, RFC 8314 §3.3), with SMTP AUTH (RFC 4954) when `auth` is set. The password lives in a file
// (checked in file-checks.ts), never in the YAML; settings that would send it in clear are refused here.
import { isIP } from 'node:net';
import { z } from 'zod';
import { host } from '../units.ts';

/** RFC 8314 §3.3: implicit TLS submission on 465; RFC 6409 §3.1: submission on 587 (STARTTLS, RFC 3207). */
export const RELAY_DEFAULT_PORTS = { starttls: 587, implicit: 465, none: 587 } as const;

/** A name or address that reaches this machine only: credentials to it never cross a network. */
export function isLoopbackHost(h: string): boolean {
  const a = h.toLowerCase().replace(/^\[|\]$/g, '');
  if (a === 'localhost' || a.endsWith('.localhost')) return true;
  if (isIP(a) === 4) return a.startsWith('127.');
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4mapped?.[1]) return v4mapped[1].startsWith('127.');
  return a === '::1' || a === '0:0:0:0:0:0:0:1';
}

const auth = z.strictObject({
  // RFC 4616 §2: NUL separates the PLAIN fields, and a line break would end the AUTH command
  username: z
    .string()
    .min(1)
    .max(255)
    .refine((u) => !/[\x00\r\n]/.test(u), { message: 'expected a user name without NUL or line breaks' }),
  /** File holding the password (its first line), relative to the config file; mode 0600 or 0640. */
  password_file: z.string().min(1),
});

export const relaySection = z
  .strictObject({
    host: host(),
    /** Default by tls: 587 (starttls, none), 465 (implicit). */
    port: z.number().int().min(1).max(65535).optional(),
    tls: z.enum(['starttls', 'implicit', 'none']).default('starttls'),
    /** Verify the relay's certificate (default true): against tls_ca, or the system's roots, for tls_server_name or host. */
    tls_verify: z.boolean().optional(),
    tls_ca: z.string().min(1).optional(),
    tls_server_name: host().optional(),
    auth: auth.optional(),
  })
  .superRefine((r, ctx) => {
    if (r.tls === 'none') {
      // Certificate settings without TLS would be silently unused: the admin believes the hop is verified.
      for (const key of ['tls_verify', 'tls_ca', 'tls_server_name'] as const) {
        if (r[key] !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: "takes effect only with tls: starttls or implicit (tls is 'none')" });
      }
      // RFC 4954 §4, §14: a password must not cross the network in clear; loopback never leaves the machine
      if (r.auth !== undefined && !isLoopbackHost(r.host)) {
        ctx.addIssue({ code: 'custom', path: ['auth'], message: `would send the password in clear to ${r.host}: use tls: starttls or implicit (tls: none with auth only to a loopback host)` });
      }
    } else if (r.tls_verify === false && (r.tls_ca !== undefined || r.tls_server_name !== undefined)) {
      ctx.addIssue({ code: 'custom', path: [r.tls_ca !== undefined ? 'tls_ca' : 'tls_server_name'], message: 'is used to verify the certificate, and tls_verify is false' });
    }
  })
  .transform((r) => ({
    ...r,
    port: r.port ?? RELAY_DEFAULT_PORTS[r.tls],
    tls_verify: r.tls !== 'none' && (r.tls_verify ?? true),
  }));

export type RelayConfig = z.output<typeof relaySection>;
