// The envelope facts a spamc request does not carry (client address, HELO, MAIL FROM), read from the message
// itself — only where that is safe: the topmost Received field, which the MTA handing the message to spamc
// wrote (Postfix, Sendmail, Exim, spamgate; spamass-milter writes one in the MTA's form), and a Return-Path
// above it (written at final delivery, as procmail sees the message). A field in another form, an address that
// is not public (loopback, private, link-local, our trusted networks: an internal hop, not the sender) or no
// Received field at all: nothing is taken, and the checks that need the facts do not run.
import { isIP } from 'node:net';
import type { HeaderField } from '../checks/types.ts';
import { CidrSet, ipText, ipToBigInt, unwrapIpv4 } from '../util/cidr.ts';

export interface EnvelopeFacts {
  clientIp: string;
  clientHostname?: string;
  helo?: string;
  /** The reverse path; undefined when the message does not say. */
  mailFrom?: string;
}

/** Not the sender's MTA: an internal hop (RFC 1918, RFC 4193, loopback, link-local, CGNAT, unspecified). */
const INTERNAL = new CidrSet(['0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16', '::/128', '::1/128', 'fc00::/7', 'fe80::/10']);

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*\.?$/;

/**
 * "from HELO (RDNS [IP])" (Postfix, Sendmail, spamgate), "from RDNS ([IP] helo=HELO)", "from RDNS ([IP])" and
 * "from [IP] (helo=HELO)" (Exim), with "(envelope-from <addr>)" (Exim) after them.
 */
export function parseReceived(value: string): EnvelopeFacts | undefined {
  const m = /^\s*from\s+(\S+)\s+\(([^()]*)/i.exec(value);
  if (!m) return undefined;
  const first = m[1] ?? '';
  const comment = m[2] ?? '';
  const literal = /^\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]$/;
  const inComment = /\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]/i.exec(comment);
  const written = inComment?.[1] ?? literal.exec(first)?.[1];
  const parsed = written && isIP(written) !== 0 ? ipToBigInt(written) : undefined;
  if (!parsed) return undefined;
  // an IPv4 client written as IPv6 (mapped in any spelling, or behind the NAT64 prefix) is that IPv4 address: so
  // the internal and trusted ranges below see it, and the checks get the address they look up
  const ip = ipText(unwrapIpv4(parsed));
  const heloInComment = /(?:^|\s)helo=(\S+)/i.exec(comment)?.[1];
  const beforeBracket = comment.slice(0, inComment?.index ?? 0).trim().split(/\s+/)[0] ?? '';
  let helo: string | undefined;
  let rdns: string | undefined;
  if (heloInComment !== undefined || (literal.test(first) && !inComment)) {
    // Exim: the first word is the verified host name (or the address), the HELO name is in the comment
    helo = heloInComment;
    rdns = literal.test(first) ? undefined : first;
  } else if (comment.trim().startsWith('[')) {
    // "from NAME ([IP])": Exim (NAME verified and given as HELO) or Sendmail (no reverse name): NAME as HELO only
    helo = first;
  } else {
    helo = first;
    rdns = beforeBracket && beforeBracket !== 'unknown' && NAME.test(beforeBracket) ? beforeBracket : undefined;
  }
  const sender = /\(envelope-from\s+<([^<>\s]*)>\)/i.exec(value)?.[1];
  return {
    clientIp: ip,
    ...(rdns && NAME.test(rdns) ? { clientHostname: rdns.replace(/\.$/, '').toLowerCase() } : {}),
    ...(helo && helo.length <= 255 && (NAME.test(helo) || literal.test(helo)) ? { helo } : {}),
    ...(sender !== undefined ? { mailFrom: sender } : {}),
  };
}

/** The facts of the topmost Received field (and a Return-Path above it), when they name a public client. */
export function envelopeFromHeaders(headers: readonly HeaderField[], trusted: CidrSet): EnvelopeFacts | undefined {
  let returnPath: string | undefined;
  for (const h of headers) {
    const name = h.name.toLowerCase();
    if (name === 'return-path') {
      returnPath ??= /^\s*<([^<>\s]*)>\s*$/.exec(h.value)?.[1];
      continue;
    }
    // the fields a local delivery puts on top of the MTA's Received
    if (name === 'delivered-to' || name === 'x-original-to') continue;
    if (name !== 'received') return undefined;
    const facts = parseReceived(h.value);
    if (!facts || INTERNAL.has(facts.clientIp) || trusted.has(facts.clientIp)) return undefined;
    const mailFrom = returnPath ?? facts.mailFrom;
    return { ...facts, ...(mailFrom !== undefined ? { mailFrom } : {}) };
  }
  return undefined;
}
