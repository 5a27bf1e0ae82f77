// Recipient verification at RCPT (full-stack mode): unknown local users are refused before DATA,
// so spamgate never accepts mail it would have to bounce (no backscatter). SRS addresses at the SRS domain are
// judged by their hash, age and sender instead of the user directory.
import type { Srs } from '../mailhost/srs-setup.ts';
import type { RecipientDirectory } from '../mailhost/types.ts';
import { isLocalDomain, parseAddress } from '../smtp/address.ts';
import type { Check, SymbolHit } from './types.ts';

export const RECIPIENT_SYMBOLS = ['RCPT_UNKNOWN_USER', 'RCPT_ALIAS_LOOP', 'RCPT_SRS_INVALID', 'RCPT_SRS_NOT_BOUNCE'] as const;

/**
 * localDomains: the snapshot's local_domains (those its relay check takes from anyone). A transaction begun before a
 * reload that removed a domain is judged by them to its end, while the user directory already left the domain:
 * its recipients there are refused as unknown (such a reload leaves no user or alias at the domain), never let
 * through unverified to be sent on by MX.
 */
export function createRecipientCheck(directory: RecipientDirectory, srs?: Pick<Srs, 'handles' | 'checkRecipient'>, localDomains?: ReadonlySet<string>): Check {
  return {
    name: 'recipient',
    phase: 'rcpt',
    symbols: RECIPIENT_SYMBOLS,
    skipTrusted: false,
    run(ctx): SymbolHit[] {
      const rcpt = parseAddress(ctx.rcpt ?? '');
      // A bare <postmaster> (RFC 5321 §4.5.1) is let through by the relay check and routed by the mail host.
      if (rcpt.trick || rcpt.literal || rcpt.domain === '') return [];
      if (!directory.isLocalDomain(rcpt.domain)) return localDomains && isLocalDomain(rcpt.domain, localDomains) ? [{ symbol: 'RCPT_UNKNOWN_USER', options: [rcpt.address] }] : [];
      if (srs?.handles(rcpt.address)) {
        const r = srs.checkRecipient(rcpt.address, ctx.envelope.mailFrom);
        if (r.kind === 'ok') return [];
        return [{ symbol: r.reason === 'not-bounce' ? 'RCPT_SRS_NOT_BOUNCE' : 'RCPT_SRS_INVALID', options: [r.reason] }];
      }
      const resolution = directory.resolve(rcpt.address);
      if (resolution.kind === 'unknown') return [{ symbol: 'RCPT_UNKNOWN_USER', options: [rcpt.address] }];
      if (resolution.kind === 'loop') return [{ symbol: 'RCPT_ALIAS_LOOP', options: [resolution.detail] }];
      return [];
    },
  };
}
