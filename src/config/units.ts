// Config value types shared by every section: durations, byte sizes, CIDR lists, listen addresses.
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseNameServer } from '../dns/servers.ts';
import { parseCidr } from '../util/cidr.ts';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** Parses "250ms", "30s", "5m", "4h", "5d"; a bare number means seconds. Returns ms or undefined. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value * 1000;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(value);
  if (!m || m[1] === undefined) return undefined;
  return Math.round(Number(m[1]) * (DURATION_UNITS[(m[2] ?? 's').toLowerCase()] ?? 1000));
}

/** Parses "512k", "25MB", "1g"; a bare number means bytes. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?b?)?\s*$/i.exec(value);
  if (!m || m[1] === undefined) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase() || 'b';
  const mult = SIZE_UNITS[unit];
  return mult === undefined ? undefined : Math.round(Number(m[1]) * mult);
}

/** Longest delay a Node.js timer takes (2^31-1 ms, about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A duration in the config, held as milliseconds. */
export const duration = () =>
  z.unknown().transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 30s, 5m, 4h, 5d (or seconds as a number), found ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return ms;
  });

/**
 * A duration that arms a timer: at most MAX_TIMER_MS (Node fires longer ones immediately), and above
 * zero unless `allowZero` (a zero timeout would either fire at once or, on sockets, switch it off).
 */
export const timer = (allowZero = false) =>
  duration().superRefine((ms, ctx) => {
    if (ms > MAX_TIMER_MS) ctx.addIssue({ code: 'custom', message: 'expected a duration of at most 24d (the longest timer Node.js can arm)' });
    else if (!allowZero && ms <= 0) ctx.addIssue({ code: 'custom', message: 'expected a duration above zero' });
  });

/** A size in the config, held as bytes. */
export const size = () =>
  z.unknown().transform((v, ctx) => {
    const bytes = parseSize(v);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a size such as 512k, 25MB, 1g (or bytes as a number), found ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return bytes;
  });

/** A list of IPv4/IPv6 CIDR blocks (a bare address means a single host). */
export const cidrList = () =>
  z.array(z.string()).superRefine((list, ctx) => {
    list.forEach((entry, i) => {
      if (!parseCidr(entry)) ctx.addIssue({ code: 'custom', path: [i], message: `expected an IPv4 or IPv6 address or CIDR block, found ${JSON.stringify(entry)}` });
    });
  });

export const port = () => z.number().int().min(0).max(65535);

const HOSTNAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** An address to listen on or connect to: an IPv4/IPv6 address or a host name (resolved by the system). */
export const host = () =>
  z.string().refine((h) => isIP(h) !== 0 || HOSTNAME_RE.test(h), { message: 'expected an IP address or a host name' });

export const listen = (defaultHost: string, defaultPort: number) =>
  z.strictObject({ host: host().default(defaultHost), port: port().default(defaultPort) }).prefault({});

/** A DNS server: "ip", "ip:port" or "[ipv6]:port". */
export const nameServer = () =>
  z.string().refine((s) => parseNameServer(s) !== undefined, { message: 'expected a name server as "ip", "ip:port" or "[ipv6]:port"' });

/** A domain name, lower-cased, without trailing dot. */
const DOMAIN_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

export const domain = () =>
  z
    .string()
    .regex(DOMAIN_NAME, 'expected a domain name')
    .transform((d) => d.toLowerCase().replace(/\.$/, ''));

/** A domain name, or `.domain` for every subdomain of it (as Postfix's transport_maps write it). */
export const domainOrSubdomains = () =>
  z
    .string()
    .refine((d) => DOMAIN_NAME.test(d.replace(/^\./, '')), 'expected a domain name, or .domain for its subdomains')
    .transform((d) => d.toLowerCase().replace(/\.$/, ''));

/** A PEM certificate and key pair; both or neither. `section` names it in the error ("imap.tls"). */
export const tlsFiles = (section: string) =>
  z
    .strictObject({ cert: z.string().min(1).optional(), key: z.string().min(1).optional() })
    .prefault({})
    .refine((t) => (t.cert === undefined) === (t.key === undefined), { message: `${section}.cert and ${section}.key must be given together` });

/** An optional implicit-TLS listener (like 993/995); it needs a certificate. */
export const tlsListen = () => z.strictObject({ host: host().default('127.0.0.1'), port: port() }).optional();

/** A rate: at most `limit` events per sliding `window`. */
export const rateRule = () =>
  z.strictObject({
    limit: z.number().int().positive(),
    window: duration().refine((ms) => ms > 0, { message: 'expected a window above zero' }),
  });

/** Printable text on one line (it goes into a report and a mail header). */
export const oneLine = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => /^[\x20-\x7e]+$/.test(s), { message: 'expected printable ASCII on one line' });
