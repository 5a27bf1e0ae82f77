// Bayes check (data phase): BAYES_SPAM / BAYES_HAM scaled by how far the probability is past the cutoff
// (towards the method's full-weight point),
// BAYES_UNSURE (weight 0) in between; silent until enough of both classes is learned. A shared (Redis)
// token store that does not answer is BAYES_UNAVAILABLE (redis.on_error tempfail; skip stays silent).
import type { BayesResult, ClassifierOptions } from '../bayes/classifier.ts';
import type { Bayes } from '../bayes/open-bayes.ts';
import type { MimeLimits } from '../mime/parse.ts';
import { RedisUnavailableError } from '../redis/connection.ts';
import { MEMO_BAYES, memoHits, parsedMail } from './content-shared.ts';
import type { Check, SymbolHit } from './types.ts';

export const BAYES_SYMBOLS = ['BAYES_SPAM', 'BAYES_HAM', 'BAYES_UNSURE', 'BAYES_UNAVAILABLE'] as const;
/** Key of the BayesResult in CheckContext.results (for autolearn). */
export const BAYES_RESULT_KEY = 'bayes';

/** The classifier's verdict bands: cutoffs, and where each symbol reaches full weight. */
export type BayesBands = Pick<ClassifierOptions, 'spamCutoff' | 'hamCutoff' | 'spamFullAt' | 'hamFullAt'>;

/**
 * Symbol hits for a classification: the factor is 0.5 at the cutoff, rising linearly to 1 at the band's
 * full-weight point (at certainty when that point is not past the cutoff, e.g. a cutoff set above it).
 */
export function bayesHits(result: BayesResult, bands: BayesBands): SymbolHit[] {
  if (result.status !== 'scored') return [];
  const p = result.probability;
  // the probability, then the chi-square verdict of the header, body and link clues alone (those present):
  // "p=0.9950 header=0.000 body=1.000" says list-like headers were outweighed by a spammy body
  const options = [`p=${p.toFixed(4)}`, ...result.groups.flatMap((g) => (g.group === 'all' || g.clues === 0 ? [] : [`${g.group}=${g.chiSquare.toFixed(3)}`]))];
  const factor = (past: number, span: number): number => Math.round((0.5 + 0.5 * Math.min(1, past / Math.max(1e-9, span))) * 1000) / 1000;
  if (result.verdict === 'spam') {
    const full = bands.spamFullAt > bands.spamCutoff ? bands.spamFullAt : 1;
    return [{ symbol: 'BAYES_SPAM', factor: factor(p - bands.spamCutoff, full - bands.spamCutoff), options }];
  }
  if (result.verdict === 'ham') {
    const full = bands.hamFullAt < bands.hamCutoff ? bands.hamFullAt : 0;
    return [{ symbol: 'BAYES_HAM', factor: factor(bands.hamCutoff - p, bands.hamCutoff - full), options }];
  }
  return [{ symbol: 'BAYES_UNSURE', options }];
}

export function createBayesCheck(deps: { bayes: Bayes; limits: MimeLimits }): Check {
  const bands = deps.bayes.classifier.opts;
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
        return bayesHits(result, bands);
      });
    },
  };
}
