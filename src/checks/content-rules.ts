// Content rules checks (data phase): header/body/rawbody/uri/mime rules from rules/*.yaml, and the meta
// rules, which run late: after every other data-phase check, over all the symbols the message has hit
// (earlier phases, Bayes, look-alike, DKIM/DMARC and the content rules alike).
import type { ContentEngine } from '../content/engine.ts';
import type { MimeLimits } from '../mime/parse.ts';
import { MEMO_RULES, memoHits, parsedMail } from './content-shared.ts';
import type { Check } from './types.ts';

/** Results key: the meta symbols that stand on Bayes (autolearn leaves their score out with Bayes' own). */
export const BAYES_DERIVED_KEY = 'bayes_derived';

export interface ContentRulesDeps {
  engine: ContentEngine;
  limits: MimeLimits;
  timeoutMs?: number;
}

export function createContentRulesCheck(deps: ContentRulesDeps): Check {
  return {
    outbound: true,
    name: 'content_rules',
    phase: 'data',
    symbols: deps.engine.rules.map((r) => r.symbol),
    ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
    run(ctx) {
      const view = ctx.message;
      if (!view) return [];
      return memoHits(view, MEMO_RULES, () => deps.engine.match(parsedMail(view, deps.limits)));
    },
  };
}

/** Meta rules: a late check, so ctx.hitsSoFar holds the hits of the whole message (all phases). */
export function createContentMetaCheck(deps: Pick<ContentRulesDeps, 'engine'>): Check {
  return {
    outbound: true,
    name: 'content_meta',
    phase: 'data',
    late: true,
    symbols: deps.engine.metas.map((m) => m.symbol),
    run(ctx) {
      ctx.results.set(BAYES_DERIVED_KEY, deps.engine.bayesDerived);
      return deps.engine.matchMeta(ctx.hitsSoFar);
    },
  };
}
