// Bayes check (data phase): BAYES_SPAM / BAYES_HAM scaled by how far the probability is past the cutoff,
// BAYES_UNSURE (weight 0) in between; silent until enough of both classes is learned. A shared (Redis)
// token store that does not answer is BAYES_UNAVAILABLE (redis.on_error tempfail; skip stays silent).
import type { BayesResult } from '../bayes/classifier.ts';
import type { Bayes } from '../bayes/open-bayes.ts';
import type { MimeLimits } from '../mime/parse.ts';
import { RedisUnavailableError } from '../redis/connection.ts';
import { MEMO_BAYES, memoHits, parsedMail } from './content-shared.ts';
import type { Check, SymbolHit } from './types.ts';

export const BAYES_SYMBOLS = ['BAYES_SPAM', 'BAYES_HAM', 'BAYES_UNSURE', 'BAYES_UNAVAILABLE'] as const;
/** Key of the BayesResult in CheckContext.results (for autolearn). */
export const BAYES_RESULT_KEY = 'bayes';

/** Symbol hits for a classification: factor 0.5 at the cutoff rising to 1 at certainty. */
export function bayesHits(result: BayesResult, spamCutoff: number, hamCutoff: number): SymbolHit[] {
  if (result.status !== 'scored') return [];
  const p = result.probability;
  const options = [`p=${p.toFixed(4)}`];
  const round = (f: number): number => Math.round(f * 1000) / 1000;
  if (result.verdict === 'spam') return [{ symbol: 'BAYES_SPAM', factor: round(0.5 + 0.5 * Math.min(1, (p - spamCutoff) / Math.max(1e-9, 1 - spamCutoff))), options }];
  if (result.verdict === 'ham') return [{ symbol: 'BAYES_HAM', factor: round(0.5 + 0.5 * Math.min(1, (hamCutoff - p) / Math.max(1e-9, hamCutoff))), options }];
  return [{ symbol: 'BAYES_UNSURE', options }];
}

export function createBayesCheck(deps: { bayes: Bayes; limits: MimeLimits }): Check {
  const { spamCutoff, hamCutoff } = deps.bayes.classifier.opts;
  return {
    outbound: true,
    name: 'bayes',
    phase: 'data',
    symbols: BAYES_SYMBOLS,
    async run(ctx) {
      const view = ctx.message;
      if (!view) return [];
      return memoHits(view, MEMO_BAYES, async () => {
        let result: BayesResult;
        try {
          result = await deps.bayes.classifyMail(parsedMail(view, deps.limits));
        } catch (err) {
          if (!(err instanceof RedisUnavailableError)) throw err;
          ctx.log.warn('bayes token store unavailable', { error: err.message });
          return [{ symbol: 'BAYES_UNAVAILABLE', options: [err.store] }];
        }
        ctx.results.set(BAYES_RESULT_KEY, result);
        return bayesHits(result, spamCutoff, hamCutoff);
      });
    },
  };
}
