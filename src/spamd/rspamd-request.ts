// The envelope of an rspamd-protocol HTTP scan, from its request headers (rspamd's "protocol" documentation:
// IP, Helo, From, Rcpt (one per recipient), User, Hostname, Queue-Id, Deliver-To). Unlike spamc, the MTA states
// the client and the sender, so the connect, HELO and MAIL checks run on them as on the SMTP listener. A value
// that is not what its header names (no IP address, a HELO with blanks) is a 400, not a guess. Pass, Settings
// and Settings-ID are read by rspamd only: spamgate ignores them and applies its own rules.
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { ipText, ipToBigInt, unwrapIpv4 } from '../util/cidr.ts';
import type { EnvelopeFacts } from './envelope.ts';
import { splitUnquoted } from '../util/split-unquoted.ts';

export interface RspamdEnvelope {
  /** undefined: no IP header, so no connect, HELO or MAIL checks. */
  facts: EnvelopeFacts | undefined;
  rcpts: string[];
  /** The User header: the client authenticated as this user. */
  user?: string;
  deliverTo?: string;
  queueId?: string;
}

const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*\.?$/;
const LITERAL = /^\[(?:IPv6:)?[0-9A-Fa-f:.]+\]$/;
/** At most this many recipients are taken (SMTP's minimum is 100, RFC 5321 §4.5.3.1.8). */
export const MAX_RCPTS = 1000;

/** An address as rspamd clients send it: "<a@b>" or "a@b"; "<>" (a bounce) is the empty reverse path. */
function address(raw: string): string | undefined {
  const v = raw.trim();
  const inner = /^<([^<>]*)>$/.exec(v)?.[1] ?? v;
  // a quoted local part may hold blanks (Exim quotes it so in its Rcpt lines: <"john doe"@example.com>)
  if (inner.length > 254 || /[<>\x00-\x1f\x7f]/.test(inner) || /\s/.test(inner.replace(/^"(?:[^"\\]|\\.)*"(?=@)/, '""'))) return undefined;
  return inner;
}

const one = (h: IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** The envelope, or the reason the headers are not one. `distinct`: each header's values apart (Rcpt repeats). */
export function readEnvelope(headers: IncomingHttpHeaders, distinct: Record<string, string[] | undefined>): RspamdEnvelope | { error: string } {
  const ipRaw = one(headers, 'ip')?.trim();
  let facts: EnvelopeFacts | undefined;
  if (ipRaw !== undefined && ipRaw !== '') {
    const bare = ipRaw.replace(/^\[(?:IPv6:)?|\]$/gi, '');
    const parsed = isIP(bare) !== 0 ? ipToBigInt(bare) : undefined;
    if (!parsed) return { error: `IP header is not an IP address: ${printable(ipRaw)}` };
    facts = { clientIp: ipText(unwrapIpv4(parsed)) };
    const helo = one(headers, 'helo')?.trim();
    if (helo !== undefined && helo !== '') {
      if (helo.length > 255 || !(HOST.test(helo) || LITERAL.test(helo))) return { error: `Helo header is not a host name: ${printable(helo)}` };
      facts.helo = helo;
    }
    const host = one(headers, 'hostname')?.trim().toLowerCase();
    // rspamd: "unknown" when the MTA found no reverse name
    if (host && host !== 'unknown' && host.length <= 255 && HOST.test(host)) facts.clientHostname = host.replace(/\.$/, '');
  }
  const fromRaw = one(headers, 'from');
  if (fromRaw !== undefined) {
    const from = address(fromRaw);
    if (from === undefined) return { error: `From header is not an address: ${printable(fromRaw)}` };
    if (facts) facts.mailFrom = from;
  }
  const rcpts: string[] = [];
  // one Rcpt header per recipient (rspamc, Exim, Haraka); a comma-separated list is taken too
  for (const v of (distinct.rcpt ?? []).flatMap((list) => splitUnquoted(list, ','))) {
    if (v.trim() === '') continue;
    const a = address(v);
    if (a === undefined || a === '') return { error: `Rcpt header is not an address: ${printable(v)}` };
    rcpts.push(a);
  }
  if (rcpts.length > MAX_RCPTS) return { error: `more than ${MAX_RCPTS} Rcpt headers` };
  const user = one(headers, 'user')?.trim();
  const deliverTo = one(headers, 'deliver-to')?.trim();
  const queueId = one(headers, 'queue-id')?.trim();
  return {
    facts,
    rcpts,
    ...(user ? { user: user.slice(0, 254) } : {}),
    ...(deliverTo ? { deliverTo: deliverTo.slice(0, 254) } : {}),
    ...(queueId ? { queueId: queueId.slice(0, 100) } : {}),
  };
}

export function printable(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
}
