// Content rules check (data phase): header/body/rawbody/uri/mime rules from rules/*.yaml, then meta rules
// over everything hit so far, including the Bayes and look-alike symbols of the same message.
import type { ContentEngine } from '../content/engine.ts';
import type { MimeLimits } from '../mime/parse.ts';
import { MEMO_RULES, memoHits, parsedMail } from './content-shared.ts';
import type { Check, CheckContext, SymbolHit } from './types.ts';

export interface ContentRulesDeps {
  engine: ContentEngine;
  limits: MimeLimits;
  /** The other content checks' run(): memoised per message, so calling them here computes them once. */
  siblings?: readonly Check[];
  timeoutMs?: number;
}

export function createContentRulesCheck(deps: ContentRulesDeps): Check {
  return {
    outbound: true,
    name: 'content_rules',
    phase: 'data',
    symbols: deps.engine.symbols,
    ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
    async run(ctx) {
      const view = ctx.message;
      if (!view) return [];
      const own = await memoHits(view, MEMO_RULES, () => deps.engine.match(parsedMail(view, deps.limits)));
      if (deps.engine.metas.length === 0) return own;
      const siblings = await Promise.all((deps.siblings ?? []).map((c) => siblingRun(c, ctx)));
      return [...own, ...deps.engine.matchMeta([...ctx.hitsSoFar, ...siblings.flat(), ...own])];
    },
  };
}

async function siblingRun(check: Check, ctx: CheckContext): Promise<SymbolHit[]> {
  try {
    return await check.run(ctx);
  } catch {
    return [];
  }
}
