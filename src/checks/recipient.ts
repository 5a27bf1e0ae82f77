// Recipient verification at RCPT (full-stack mode): unknown local users are refused before DATA,
// so spamgate never accepts mail it would have to bounce (no backscatter).
import type { RecipientDirectory } from '../mailhost/types.ts';
import { parseAddress } from '../smtp/address.ts';
import type { Check, SymbolHit } from './types.ts';

export function createRecipientCheck(directory: RecipientDirectory): Check {
  return {
    name: 'recipient',
    phase: 'rcpt',
    symbols: ['RCPT_UNKNOWN_USER', 'RCPT_ALIAS_LOOP'],
    skipTrusted: false,
    run(ctx): SymbolHit[] {
      const rcpt = parseAddress(ctx.rcpt ?? '');
      // A bare <postmaster> (RFC 5321 §4.5.1) is let through by the relay check and routed by the mail host.
      if (rcpt.trick || rcpt.literal || rcpt.domain === '' || !directory.isLocalDomain(rcpt.domain)) return [];
      const resolution = directory.resolve(rcpt.address);
      if (resolution.kind === 'unknown') return [{ symbol: 'RCPT_UNKNOWN_USER', options: [rcpt.address] }];
      if (resolution.kind === 'loop') return [{ symbol: 'RCPT_ALIAS_LOOP', options: [resolution.detail] }];
      return [];
    },
  };
}
