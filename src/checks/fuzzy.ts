// Fuzzy check (data phase): FUZZY_SPAM when a text of the message is a near-copy of reported spam (the
// option: similarity and the matched digest's short id; factor = similarity), FUZZY_ATTACHMENT when an
// attachment is byte for byte one of reported spam. Silent on an empty store and on texts too short for a
// digest; a store that fails (Redis down) is logged and stays silent.
import type { MimeLimits } from '../mime/parse.ts';
import type { FuzzyFilter } from '../fuzzy/open-fuzzy.ts';
import { parsedMail } from './content-shared.ts';
import type { Check, SymbolHit } from './types.ts';

export const FUZZY_SYMBOLS = ['FUZZY_SPAM', 'FUZZY_ATTACHMENT'] as const;

export function createFuzzyCheck(deps: { fuzzy: FuzzyFilter; limits: MimeLimits }): Check {
  return {
    outbound: true,
    name: 'fuzzy',
    phase: 'data',
    symbols: FUZZY_SYMBOLS,
    async run(ctx) {
      const view = ctx.message;
      if (!view) return [];
      let match;
      try {
        match = await deps.fuzzy.check(parsedMail(view, deps.limits));
      } catch (err) {
        ctx.log.warn('fuzzy store unavailable', { error: (err as Error).message });
        return [];
      }
      const hits: SymbolHit[] = [];
      if (match?.text) hits.push({ symbol: 'FUZZY_SPAM', factor: Math.round(match.text.similarity * 1000) / 1000, options: [match.text.similarity.toFixed(2), match.text.id] });
      if (match?.attachment) hits.push({ symbol: 'FUZZY_ATTACHMENT', options: [match.attachment.id] });
      return hits;
    },
  };
}
