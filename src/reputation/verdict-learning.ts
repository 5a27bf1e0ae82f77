// What a judged message teaches sender reputation: its final score without the reputation symbols' own
// part (history never feeds on itself) and without one user's own sender lists (alice's allowance or block is her
// opinion, and the sender's history judges everyone's mail), under the keys the check found (none for trusted or authenticated
// clients: the check does not run for them). Accepted messages come by onVerdict, refused at DATA by
// onFinal with their verdict: a refusal after DATA has a final score and is the plainest evidence of spam.
// Refusals before DATA have no score and teach nothing.
import { REPUTATION_SYMBOLS, reputationKeysOf } from '../checks/reputation.ts';
import { USER_LIST_SYMBOLS } from '../checks/user-lists.ts';
import type { Verdict } from '../scoring/scorer.ts';
import type { Logger } from '../util/logger.ts';
import type { Reputation } from './open-reputation.ts';

const OWN: ReadonlySet<string> = new Set([...REPUTATION_SYMBOLS, ...USER_LIST_SYMBOLS]);

/** The score the message would have had without the reputation symbols and the per-user list symbols. */
export function scoreWithoutReputation(verdict: Pick<Verdict, 'score' | 'symbols'>): number {
  const own = verdict.symbols.filter((s) => OWN.has(s.symbol)).reduce((sum, s) => sum + s.score, 0);
  return Math.round((verdict.score - own) * 1000) / 1000;
}

export function verdictLearner(reputation: Reputation, enabled: () => boolean, log: Logger) {
  return (verdict: Verdict, results: ReadonlyMap<string, unknown>): void => {
    if (!enabled()) return;
    const keys = reputationKeysOf(results);
    if (keys.length === 0) return;
    reputation.learn(keys, scoreWithoutReputation(verdict)).catch((err: unknown) => log.warn('reputation not learned', { error: (err as Error).message }));
  };
}
