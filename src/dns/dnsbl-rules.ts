// The `dnsbl` rules section: DNS block lists (RFC 5782) by name, with zone, kind, return codes → symbols.
import { z } from 'zod';
import { duration, domain } from '../config/units.ts';
import { parseCidr } from '../util/cidr.ts';

const symbolName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'expected an UPPER_SNAKE symbol name');

export const dnsblListSchema = z.strictObject({
  /** The list's DNS zone, e.g. zen.spamhaus.org. */
  zone: domain(),
  enabled: z.boolean().default(true),
  /** What is looked up: the client address, the HELO name, or the MAIL FROM domain (RHSBL). */
  kind: z.enum(['ip', 'helo', 'from_domain']).default('ip'),
  ipv4: z.boolean().default(true),
  ipv6: z.boolean().default(false),
  /** Documented return codes: "127.0.0.2" or "127.0.0.4/30" → symbol. Any other answer is a list error. */
  codes: z.record(z.string(), symbolName).superRefine((codes, ctx) => {
    for (const key of Object.keys(codes)) {
      const c = parseCidr(key);
      if (!c || c.family !== 4) ctx.addIssue({ code: 'custom', path: [key], message: `expected an IPv4 address or CIDR block, found ${JSON.stringify(key)}` });
    }
  }),
  /** Fetch the TXT record of a listing as the reason (RFC 5782 §2.1). */
  txt: z.boolean().default(false),
  /** Check the RFC 5782 §5 test points at first use and every health_interval; a dead list is skipped. */
  health_check: z.boolean().default(true),
  health_interval: duration().prefault('5m'),
});
export type DnsblList = z.output<typeof dnsblListSchema>;

export const dnsblSectionSchema = z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'expected a lower-case list name'), dnsblListSchema);
export type DnsblSection = z.output<typeof dnsblSectionSchema>;
