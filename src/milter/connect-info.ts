// Reads the milter's CONNECT, MAIL and RCPT packets: the client (host name, family, port, address) and an
// envelope address with its ESMTP parameters, as the SMTP gateway's envelope code takes them.
import type { SMTPServerAddress } from 'smtp-server';
import { firstCString, splitCStrings } from './protocol.ts';

export interface MilterClient {
  /** The name the MTA found for the client ("unknown" or "[addr]" when none): absent then. */
  hostname?: string;
  family: 'inet' | 'inet6' | 'local' | 'unknown';
  port: number;
  address: string;
}

/** SMFIC_CONNECT: hostname NUL, family byte ('4', '6', 'L', 'U'), then (not for 'U') a 2-byte port and the address NUL. */
export function parseConnect(data: Buffer): MilterClient | undefined {
  const nul = data.indexOf(0);
  if (nul < 0 || nul + 1 >= data.length) return undefined;
  const hostname = clientName(data.subarray(0, nul).toString('latin1'));
  const fam = String.fromCharCode(data[nul + 1] ?? 0);
  const withName = (c: MilterClient): MilterClient => (hostname ? { ...c, hostname } : c);
  if (fam === 'U') return withName({ family: 'unknown', port: 0, address: '' });
  if (!['4', '6', 'L'].includes(fam) || nul + 4 > data.length) return undefined;
  const port = data.readUInt16BE(nul + 2);
  // an address is short (IPv6 with a zone included): a longer text is no address, and is not kept whole
  const address = firstCString(data.subarray(nul + 4), 255).replace(/^IPv6:/i, '');
  return withName({ family: fam === '4' ? 'inet' : fam === '6' ? 'inet6' : 'local', port, address });
}

/**
 * The client's name as the MTA reports it (CONNECT, macro client_name), or undefined when it found none ("unknown",
 * "[addr]") or the text can be no DNS name (over 253 octets and a final dot, a space or control character): it goes
 * into log lines, trace fields and the checks, as the SMTP listener's name from its own DNS lookup does.
 */
export function clientName(name: string | undefined): string | undefined {
  if (!name || name === 'unknown' || name.startsWith('[')) return undefined;
  return name.length <= 254 && /^[\x21-\x7e]+$/.test(name) ? name : undefined;
}

/** Keywords the gateway's envelope code knows at MAIL; others (the MTA's business) are not passed on. */
const MAIL_KEYWORDS = new Set(['SIZE', 'BODY', 'SMTPUTF8', 'RET', 'ENVID']);

/** SMFIC_MAIL / SMFIC_RCPT: "<address>" then "KEY=value" arguments, each NUL-terminated. */
export function parseEnvelopeAddress(data: Buffer, mail: boolean): SMTPServerAddress | undefined {
  const [first, ...rest] = splitCStrings(data);
  if (first === undefined) return undefined;
  const address = first.trim().replace(/^<(.*)>$/s, '$1');
  if (/[\x00-\x1f<>]/.test(address) || address.length > 512) return undefined;
  if (!mail) return { address, args: false };
  const args: Record<string, string | true> = {};
  for (const arg of rest) {
    const eq = arg.indexOf('=');
    const key = (eq < 0 ? arg : arg.slice(0, eq)).toUpperCase();
    if (MAIL_KEYWORDS.has(key)) args[key] = eq < 0 ? true : arg.slice(eq + 1);
  }
  return { address, args: Object.keys(args).length ? (args as SMTPServerAddress['args']) : false };
}
