// A Learner (src/bayes/learner.ts) that also teaches the fuzzy store: spam reported by hand (the Junk
// folder, train) adds the message's digests, ham (moved out of Junk, quarantine release --learn) removes
// what it matches. Autolearning keeps the Bayes learner alone: a score is no report. While the running
// configuration has the store switched off (`fuzzy.enabled: false` by reload) only Bayes learns.
import type { LearnOutcome, Learner } from '../bayes/learner.ts';
import type { FuzzyFilter } from './open-fuzzy.ts';

export function withFuzzyLearning(bayes: Learner | undefined, fuzzy: FuzzyFilter, enabled: () => boolean, onError: (err: Error) => void): Learner {
  const teach = async (raw: Buffer, spam: boolean): Promise<void> => {
    if (!enabled()) return;
    try {
      await (spam ? fuzzy.addSpam(raw) : fuzzy.remove(raw));
    } catch (err) {
      onError(err as Error);
    }
  };
  return {
    async learn(raw, cls, source) {
      if (source !== 'autolearn') await teach(raw, cls === 'spam');
      if (bayes) return bayes.learn(raw, cls, source);
      // Bayes off: the fuzzy store learned, 'learned' says so; unless it is switched off too (nothing learned)
      return source !== 'autolearn' && enabled() ? 'learned' : 'unknown';
    },
    async forget(raw, source): Promise<LearnOutcome> {
      return bayes ? bayes.forget(raw, source) : 'unknown';
    },
  };
}
