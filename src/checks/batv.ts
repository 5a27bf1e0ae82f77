// BATV at RCPT (draft-levine-smtp-batv-01 §4.2): a bounce (MAIL FROM:<>) to a signed domain must come to a
// tagged address whose tag is ours and unexpired; the tag was removed before the checks ran (the recipient is
// the plain address) and ctx.rcptAsGiven holds it as the client wrote it. A bad, expired or unreadable tag is
// BATV_INVALID, no tag BATV_UNSIGNED_BOUNCE (weights in rules/batv.yaml). Mail with a sender is not judged:
// replies to an envelope sender are delivered, the tag removed.
import type { Batv } from '../batv/batv.ts';
import { isSrsLocalPart } from '../mailhost/srs.ts';
import { parseAddress } from '../smtp/address.ts';
import type { Check, SymbolHit } from './types.ts';

export const BATV_SYMBOLS = ['BATV_INVALID', 'BATV_UNSIGNED_BOUNCE'] as const;

export function createBatvCheck(batv: Batv): Check {
  return {
    name: 'batv',
    phase: 'rcpt',
    symbols: BATV_SYMBOLS,
    run(ctx): SymbolHit[] {
      if (ctx.envelope.mailFrom !== '') return [];
      const given = ctx.rcptAsGiven ?? ctx.rcpt ?? '';
      const rcpt = parseAddress(given);
      if (rcpt.trick || rcpt.literal || rcpt.domain === '' || !batv.signs(rcpt.domain)) return [];
      const r = batv.readRecipient(rcpt.address);
      // about this recipient only: its score must not judge a genuine bounce to a tag beside it (lists.ts does so too)
      const about = ctx.rcpt !== undefined ? { rcpt: ctx.rcpt } : {};
      if (r.kind === 'tagged' && r.check.kind === 'valid') {
        batv.count('valid');
        return [];
      }
      if (r.kind === 'tagged' || r.kind === 'malformed') {
        batv.count('invalid');
        return [{ symbol: 'BATV_INVALID', options: [r.kind === 'tagged' && r.check.kind === 'invalid' ? r.check.reason : 'malformed'], ...about }];
      }
      // RFC 5321 §4.5.1: postmaster takes mail from anyone, null sender included; it is never a tagged sender.
      if (rcpt.local.toLowerCase() === 'postmaster') return [];
      // An SRS address (the sender of a forward) is never tagged: a bounce to it carries the SRS hash and age,
      // which the SRS rules (recipient check) judge; it is no unsigned BATV bounce.
      if (isSrsLocalPart(rcpt.local)) return [];
      batv.count('unsigned');
      return batv.unsignedBounces === 'score' ? [{ symbol: 'BATV_UNSIGNED_BOUNCE', ...about }] : [];
    },
  };
}
