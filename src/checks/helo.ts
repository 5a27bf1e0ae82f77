// HELO/EHLO checks (RFC 5321 §4.1.1.1, §4.1.3): syntax, not fully qualified, bare IP, a name or address
// claiming to be us, an address literal that is not the client.
import { isIP } from 'node:net';
import { ipToBigInt } from '../util/cidr.ts';
import type { Check, SymbolHit } from './types.ts';
import { addressLiteral, isDomainSyntax } from './dns-common.ts';

export const HELO_SYMBOLS = ['HELO_BAD_SYNTAX', 'HELO_NOT_FQDN', 'HELO_BARE_IP', 'HELO_FORGED_SELF', 'HELO_LITERAL_MISMATCH'];

export interface HeloCheckOptions {
  /** Our host names (smtp.hostname and any other name we answer to). */
  hostnames: readonly string[];
  /** Our own addresses; the listener's local address is added per session. */
  localAddresses: readonly string[];
}

/**
 * One key per address, however it is written: RFC 5321 §4.1.3 allows the full and the compressed IPv6 forms
 * (`[IPv6:0:0:0:0:0:0:0:1]` is `[IPv6:::1]`), and hex digits in either case.
 */
function ipKey(ip: string): string {
  const parsed = ipToBigInt(ip);
  return parsed ? `${parsed.family}:${parsed.value.toString(16)}` : ip.toLowerCase();
}

export function createHeloCheck(opts: HeloCheckOptions): Check {
  const ours = new Set(opts.hostnames.map((h) => h.toLowerCase().replace(/\.$/, '')));
  const ourIps = new Set(opts.localAddresses.map(ipKey));
  return {
    name: 'helo',
    phase: 'helo',
    symbols: HELO_SYMBOLS,
    run(ctx) {
      const helo = (ctx.session.helo ?? '').trim();
      const hits: SymbolHit[] = [];
      const local = new Set([...ourIps, ipKey(ctx.session.localIp)]);
      const literal = addressLiteral(helo);
      if (literal !== undefined) {
        const key = ipKey(literal);
        if (local.has(key) && key !== ipKey(ctx.session.clientIp)) hits.push({ symbol: 'HELO_FORGED_SELF', options: [helo] });
        else if (key !== ipKey(ctx.session.clientIp)) hits.push({ symbol: 'HELO_LITERAL_MISMATCH', options: [helo, ctx.session.clientIp] });
        return hits;
      }
      if (isIP(helo)) {
        // RFC 5321 §4.1.3: an address must be written as a literal in brackets.
        hits.push({ symbol: 'HELO_BARE_IP', options: [helo] });
        if (local.has(ipKey(helo))) hits.push({ symbol: 'HELO_FORGED_SELF', options: [helo] });
        return hits;
      }
      if (!isDomainSyntax(helo)) return [{ symbol: 'HELO_BAD_SYNTAX', options: [helo.slice(0, 64)] }];
      const name = helo.toLowerCase().replace(/\.$/, '');
      // RFC 5321 §4.1.1.1: the argument is the client's fully-qualified domain name.
      if (!name.includes('.')) hits.push({ symbol: 'HELO_NOT_FQDN', options: [helo] });
      if (ours.has(name)) hits.push({ symbol: 'HELO_FORGED_SELF', options: [helo] });
      return hits;
    },
  };
}
