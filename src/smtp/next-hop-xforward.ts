// XFORWARD (https://www.postfix.org/XFORWARD_README.html): the client a message came
// from, told to a next hop that trusts us with it, so its logs and Received field name that client and not
// spamgate. Only the attributes the next hop lists after XFORWARD in its EHLO reply are sent.
import type { QueueEnvelope } from '../queue/types.ts';
import { xtextEncode } from './next-hop-params.ts';

/** The original SMTP client of a message (as spamgate saw it, after PROXY/XCLIENT). */
export interface ClientOrigin {
  addr: string;
  port?: number;
  /** Host name, when known (XCLIENT NAME, else forward-confirmed reverse DNS); sent as [UNAVAILABLE] otherwise or when it is no host name. */
  name?: string;
  helo?: string;
  proto: 'SMTP' | 'ESMTP';
}

/** The origin recorded with a message received over SMTP; a notice spamgate wrote itself has none. */
export function originOf(envelope: Pick<QueueEnvelope, 'clientIp' | 'client'>): ClientOrigin | undefined {
  const c = envelope.client;
  if (!c || !envelope.clientIp) return undefined;
  return {
    addr: envelope.clientIp,
    proto: c.esmtp ? 'ESMTP' : 'SMTP',
    ...(c.port ? { port: c.port } : {}),
    ...(c.name ? { name: c.name } : {}),
    ...(c.helo ? { helo: c.helo } : {}),
  };
}

/** The command line limit of XFORWARD servers (longer attribute lists are split over several commands). */
const MAX_LINE = 512;
/** Postfix refuses the whole XFORWARD command ("501 … attribute value too long") for a value over 255 octets. */
const MAX_VALUE = 255;

/**
 * A host name as Postfix's valid_hostname() takes one: dot-separated labels of letters, digits, '-' and '_'
 * (none empty, none over 63, none starting or ending with '-'), 255 octets at most, and not all digits and dots.
 * A PTR answer may hold any octets (spaces, '=', CR LF, 8-bit, a '.' inside a label) and its owner may confirm
 * it forward too; such a "name" is no host name, and is told as [UNAVAILABLE] (as Postfix names such a client unknown).
 */
export function isHostName(name: string): boolean {
  if (name.length === 0 || name.length > 255 || /^[0-9.]+$/.test(name)) return false;
  return name.split('.').every((l) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l));
}

/** The name without a trailing root dot, when it is a host name. */
function hostNameOf(name: string | undefined): string | undefined {
  const n = name?.replace(/\.$/, '');
  return n !== undefined && isHostName(n) ? n : undefined;
}

/** KEY=xtext, the value shortened (never an xtext escape cut in two) so that it fits a line of its own. */
function attribute(key: string, value: string): string {
  if (value === '[UNAVAILABLE]') return `${key}=${value}`;
  const room = Math.min(MAX_VALUE, MAX_LINE - 'XFORWARD '.length - key.length - 1);
  let v = value;
  let encoded = xtextEncode(v);
  while (encoded.length > room && v.length > 0) {
    v = v.slice(0, -1);
    encoded = xtextEncode(v);
  }
  return `${key}=${encoded}`;
}

/**
 * The XFORWARD commands for one transaction (sent before MAIL FROM: the next hop forgets them when the
 * transaction ends), each line within MAX_LINE. Values are xtext; an IPv6 address is written "IPV6:…".
 */
export function xforwardCommands(offered: ReadonlySet<string>, origin: ClientOrigin): string[] {
  const attrs: [string, string][] = [
    ['ADDR', origin.addr.includes(':') ? `IPV6:${origin.addr}` : origin.addr],
    ['PORT', origin.port ? String(origin.port) : '[UNAVAILABLE]'],
    ['PROTO', origin.proto],
    ['SOURCE', 'REMOTE'],
    ['NAME', hostNameOf(origin.name) ?? '[UNAVAILABLE]'],
    ['HELO', origin.helo ?? '[UNAVAILABLE]'],
  ];
  const lines: string[] = [];
  let line = '';
  for (const [key, value] of attrs) {
    if (!offered.has(key)) continue;
    const item = attribute(key, value);
    if (line && line.length + 1 + item.length > MAX_LINE) {
      lines.push(line);
      line = '';
    }
    line = line ? `${line} ${item}` : `XFORWARD ${item}`;
  }
  if (line) lines.push(line);
  return lines;
}
