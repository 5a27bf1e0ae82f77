// A Learner (src/bayes/learner.ts) that also teaches sender reputation: a message reported by hand (moved
// into the Junk folder, quarantine release --learn) pushes its sender's keys toward spam, one moved out of
// Junk or released as ham toward ham, each report counting reputation.report_weight messages. The keys are
// those spamgate recorded on the message at DATA (X-Spamgate-Reputation, a forged one being stripped
// there) under its seal (seal.ts: a header a user wrote into a message of their own, by IMAP APPEND,
// teaches nothing); a message without them (trusted or authenticated sender, reputation off) teaches
// nothing, and copies of one delivered message (its seal's nonce) count once for each class.
// Autolearning is no report: the verdict already taught reputation its score.
import { LRUCache } from 'lru-cache';
import type { LearnOutcome, Learner, MessageClass } from '../bayes/learner.ts';
import { headerValue, parseHeaderBlock, splitHeadBody } from '../mime/headers.ts';
import { parseKeysHeader, REPUTATION_HEADER, type ReputationKey } from './keys.ts';
import type { ReportSettings, Reputation } from './open-reputation.ts';
import type { ReputationSeal } from './seal.ts';

/** The X-Spamgate-Reputation value on a message (the first such header: ours, above the client's). */
function recordedValue(raw: Buffer): string | undefined {
  const { head } = splitHeadBody(raw.subarray(0, 64 * 1024).toString('latin1'));
  return headerValue(parseHeaderBlock(head), REPUTATION_HEADER.toLowerCase());
}

/** The keys a delivered message records, unverified (`spamgate explain`: read only). */
export function recordedKeys(raw: Buffer): ReputationKey[] {
  const value = recordedValue(raw);
  return value === undefined ? [] : parseKeysHeader(value);
}

/** Delivered messages remembered as reported (by the seal's nonce), so copies of one count once. */
const REMEMBERED_REPORTS = 10_000;

export interface ReputationLearning {
  reputation: Reputation;
  seal: ReputationSeal;
  /** Whether reports teach reputation now (the check is not disabled). */
  enabled: () => boolean;
  /** The running settings (a reload's report_weight and scores apply at once). */
  settings: () => ReportSettings;
  onError: (err: Error) => void;
}

export function withReputationLearning(inner: Learner | undefined, deps: ReputationLearning): Learner {
  const { reputation, seal, enabled, onError } = deps;
  const reported = new LRUCache<string, MessageClass>({ max: REMEMBERED_REPORTS });
  const teach = async (raw: Buffer, cls: MessageClass): Promise<boolean> => {
    if (!enabled()) return false;
    const value = recordedValue(raw);
    const sealed = value === undefined ? undefined : seal.read(value);
    if (!sealed || reported.get(sealed.nonce) === cls) return false;
    reported.set(sealed.nonce, cls);
    try {
      await reputation.report(sealed.keys, cls === 'spam', deps.settings());
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
      const taught = source !== 'autolearn' && outcome !== 'already' && (await teach(raw, cls));
      return outcome ?? (taught ? 'learned' : 'unknown');
    },
    async forget(raw, source): Promise<LearnOutcome> {
      return inner ? inner.forget(raw, source) : 'unknown';
    },
  };
}
