// A Learner (src/bayes/learner.ts) that also teaches sender reputation: a message reported by hand (moved
// into the Junk folder, quarantine release --learn) pushes its sender's keys toward spam, one moved out of
// Junk or released as ham toward ham, each report counting reputation.report_weight messages. The keys are
// those spamgate recorded on the message at DATA (X-Spamgate-Reputation, a forged one being stripped
// there); a message without them (trusted or authenticated sender, reputation off) teaches nothing.
// Autolearning is no report: the verdict already taught reputation its score.
import type { LearnOutcome, Learner } from '../bayes/learner.ts';
import { headerValue, parseHeaderBlock, splitHeadBody } from '../mime/headers.ts';
import { parseKeysHeader, REPUTATION_HEADER, type ReputationKey } from './keys.ts';
import type { Reputation } from './open-reputation.ts';

/** The keys spamgate recorded on a delivered message (the first such header: ours, above the client's). */
export function recordedKeys(raw: Buffer): ReputationKey[] {
  const { head } = splitHeadBody(raw.subarray(0, 64 * 1024).toString('latin1'));
  const value = headerValue(parseHeaderBlock(head), REPUTATION_HEADER.toLowerCase());
  return value === undefined ? [] : parseKeysHeader(value);
}

export function withReputationLearning(inner: Learner | undefined, reputation: Reputation, enabled: () => boolean, onError: (err: Error) => void): Learner {
  const teach = async (raw: Buffer, spam: boolean): Promise<boolean> => {
    if (!enabled()) return false;
    const keys = recordedKeys(raw);
    if (keys.length === 0) return false;
    try {
      await reputation.report(keys, spam);
      return true;
    } catch (err) {
      onError(err as Error);
      return false;
    }
  };
  return {
    async learn(raw, cls, source) {
      const outcome = inner ? await inner.learn(raw, cls, source) : undefined;
      // the same report again (Bayes knew it as this class) counts once
      const taught = source !== 'autolearn' && outcome !== 'already' && (await teach(raw, cls === 'spam'));
      return outcome ?? (taught ? 'learned' : 'unknown');
    },
    async forget(raw, source): Promise<LearnOutcome> {
      return inner ? inner.forget(raw, source) : 'unknown';
    },
  };
}
