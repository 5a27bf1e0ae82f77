// The `dnsbl` rules section: DNS block lists (RFC 5782) by name, with zone, kind, return codes → symbols.
import { z } from 'zod';
import { duration, domain } from '../config/units.ts';
import { parseCidr } from '../util/cidr.ts';
import { isBitKey } from './dnsbl-codes.ts';

const symbolName = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'expected an UPPER_SNAKE symbol name');

/** Kinds whose subject is an address (reversed-octet names); the others look up domain names. */
export const IP_KINDS: ReadonlySet<string> = new Set(['ip', 'uri_ip']);

/** Whether a list is asked addresses (reversed) rather than names: the IP kinds, and uri_ns lists with ns_ip. */
export function asksAddresses(list: { kind: string; ns_ip?: boolean }): boolean {
  return IP_KINDS.has(list.kind) || (list.kind === 'uri_ns' && list.ns_ip === true);
}

export const dnsblListSchema = z
  .strictObject({
    /** The list's DNS zone, e.g. zen.spamhaus.org. */
    zone: domain(),
    enabled: z.boolean().default(true),
    /**
     * What is looked up: the client address, the HELO name, the MAIL FROM domain (RHSBL); in the data phase the
     * registered domains of the body's links (uri), the addresses of links to IP literals (uri_ip), the domains
     * of the header From and Reply-To (from_header), the name servers of the links' domains (uri_ns).
     */
    kind: z.enum(['ip', 'helo', 'from_domain', 'uri', 'uri_ip', 'from_header', 'uri_ns']).default('ip'),
    /** uri_ns lists: ask the addresses of the name servers (reversed, as ip lists) instead of their domains. */
    ns_ip: z.boolean().default(false),
    ipv4: z.boolean().default(true),
    ipv6: z.boolean().default(false),
    /** Documented return codes: "127.0.0.2" or "127.0.0.4/30" → symbol. Any other answer is a list error. */
    codes: z
      .record(z.string(), symbolName)
      .superRefine((codes, ctx) => {
        for (const key of Object.keys(codes)) {
          const c = parseCidr(key);
          if (!c || c.family !== 4) ctx.addIssue({ code: 'custom', path: [key], message: `expected an IPv4 address or CIDR block, found ${JSON.stringify(key)}` });
        }
      })
      .default({}),
    /** Bitmask answers (multi.surbl.org, multi.uribl.com): a bit of X in 127.0.0.X → symbol; see dnsbl-codes.ts. */
    bits: z
      .record(z.string(), symbolName)
      .superRefine((bits, ctx) => {
        for (const key of Object.keys(bits)) {
          if (!isBitKey(key)) ctx.addIssue({ code: 'custom', path: [key], message: `expected one bit of the last octet (1, 2, 4, 8, 16, 32, 64 or 128), found ${JSON.stringify(key)}` });
        }
      })
      .default({}),
    /** uri lists: the domains of e-mail addresses in the body (mailto: links and bare addresses) count too. */
    emails: z.boolean().default(false),
    /** Domain lists: the name the health check expects listed, instead of RFC 5782's TEST (test.surbl.org for SURBL). */
    test_point: domain().optional(),
    /** Fetch the TXT record of a listing as the reason (RFC 5782 §2.1). */
    txt: z.boolean().default(false),
    /** Check the RFC 5782 §5 test points at first use and every health_interval; a dead list is skipped. */
    health_check: z.boolean().default(true),
    health_interval: duration().prefault('5m'),
  })
  .superRefine((list, ctx) => {
    if (!Object.keys(list.codes).length && !Object.keys(list.bits).length) ctx.addIssue({ code: 'custom', path: ['codes'], message: 'expected return codes: codes, bits, or both' });
    if (list.emails && list.kind !== 'uri') ctx.addIssue({ code: 'custom', path: ['emails'], message: `emails applies to uri lists only, found kind ${list.kind}` });
    if (list.ns_ip && list.kind !== 'uri_ns') ctx.addIssue({ code: 'custom', path: ['ns_ip'], message: `ns_ip applies to uri_ns lists only, found kind ${list.kind}` });
    if (list.test_point !== undefined && asksAddresses(list)) ctx.addIssue({ code: 'custom', path: ['test_point'], message: `test_point applies to domain lists only, found kind ${list.kind}` });
  });
export type DnsblList = z.output<typeof dnsblListSchema>;

export const dnsblSectionSchema = z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'expected a lower-case list name'), dnsblListSchema);
export type DnsblSection = z.output<typeof dnsblSectionSchema>;

/** Every symbol a list's answers can map to. */
export function listSymbols(list: DnsblList): string[] {
  return [...new Set([...Object.values(list.codes), ...Object.values(list.bits)])];
}
