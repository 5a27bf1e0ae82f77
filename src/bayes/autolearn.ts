// Autolearn after scoring: learn messages well past the thresholds, never one where the rules and Bayes
// disagree (as SpamAssassin's autolearn: the Bayes symbols' own score is left out of the decision, and so is
// the score of meta rules built on them, which would otherwise let Bayes confirm itself; so are the symbols
// of history such as sender reputation (SpamAssassin's noautolearn TxRep): a history that taught Bayes
// would come back as Bayes' score, and then as history again).
import type { BayesConfig } from '../config/sections/filter.ts';
import type { Logger } from '../util/logger.ts';
import type { BayesResult } from './classifier.ts';
import type { LearnOutcome, Learner, MessageClass } from './learner.ts';

export interface ScoredLike {
  score: number;
  /** weight: a number, or a policy (`quarantine`) that decides whatever the score. */
  symbols: readonly { symbol: string; score: number; weight?: number | string }[];
}

/**
 * The class to autolearn as, or undefined (with the reason) when the message is not clear enough. `bayesDerived`:
 * meta symbols that refer to Bayes symbols, counted with them; `leftOut`: other symbols that never decide it.
 */
export function decideAutolearn(
  verdict: ScoredLike,
  bayes: BayesResult | undefined,
  cfg: BayesConfig['autolearn'],
  bayesDerived: ReadonlySet<string> = new Set(),
  leftOut: ReadonlySet<string> = new Set(),
): { cls?: MessageClass; reason: string } {
  if (!cfg.enabled) return { reason: 'disabled' };
  const bayesPart = verdict.symbols.filter((s) => s.symbol.startsWith('BAYES_') || bayesDerived.has(s.symbol) || leftOut.has(s.symbol)).reduce((a, s) => a + s.score, 0);
  const rules = verdict.score - bayesPart;
  const bayesVerdict = bayes?.status === 'scored' ? bayes.verdict : undefined;
  if (rules >= cfg.spam_score) return bayesVerdict === 'ham' ? { reason: 'rules say spam, Bayes says ham' } : { cls: 'spam', reason: `rules score ${rules.toFixed(1)}` };
  // a message a policy weight kept (VIRUS_FOUND: quarantine) was judged by that symbol, not its score: a virus from
  // a real mailbox passes SPF, DKIM and DMARC, and must not teach Bayes that its words are ham
  if (rules <= cfg.ham_score && verdict.symbols.some((s) => typeof s.weight === 'string')) return { reason: 'kept by a policy weight' };
  if (rules <= cfg.ham_score) return bayesVerdict === 'spam' ? { reason: 'rules say ham, Bayes says spam' } : { cls: 'ham', reason: `rules score ${rules.toFixed(1)}` };
  return { reason: 'between autolearn scores' };
}

export interface Autolearner {
  /** Call after scoring an accepted message; learns in the background-safe serial queue of the learner. */
  maybeLearn(raw: Buffer, verdict: ScoredLike, bayes: BayesResult | undefined, bayesDerived?: ReadonlySet<string>): Promise<LearnOutcome | undefined>;
}

export function createAutolearner(deps: { learner: Learner; config: BayesConfig; log: Logger; leftOut?: ReadonlySet<string> }): Autolearner {
  return {
    async maybeLearn(raw, verdict, bayes, bayesDerived) {
      const d = decideAutolearn(verdict, bayes, deps.config.autolearn, bayesDerived, deps.leftOut);
      if (!d.cls) return undefined;
      try {
        const outcome = await deps.learner.learn(raw, d.cls, 'autolearn');
        deps.log.debug('autolearn', { class: d.cls, outcome, reason: d.reason });
        return outcome;
      } catch (err) {
        deps.log.warn('autolearn failed', { err });
        return undefined;
      }
    },
  };
}
