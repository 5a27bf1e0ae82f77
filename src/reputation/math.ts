// Sender reputation arithmetic: a record is a decaying sum of past scores and a decaying message count
// (exponential decay, weight halved every half-life); its average judged against the good and bad scores,
// with a factor scaled by the distance past the threshold and by the confidence that the count gives.
import type { ReputationConfig } from '../config/sections/reputation.ts';

/** One key's history: sum of score × weight and sum of weights, both as of `at` (ms since epoch). */
export interface ReputationRecord {
  sum: number;
  count: number;
  at: number;
}

export type ReputationJudgement =
  | { kind: 'silent'; average: number; count: number }
  | { kind: 'neutral'; average: number; count: number }
  | { kind: 'good' | 'bad'; average: number; count: number; factor: number };

export type JudgeSettings = Pick<ReputationConfig, 'min_count' | 'confidence_count' | 'bad_score' | 'good_score' | 'spread'>;

/** The fraction of weight left after `ageMs` (1 for a record from the future: a clock set back). */
export function decayFactor(ageMs: number, halfLifeMs: number): number {
  return ageMs <= 0 ? 1 : Math.pow(2, -ageMs / halfLifeMs);
}

/**
 * The record as of `now`. One stamped later than now (learned while the clock was ahead, then put right) is
 * taken as of now, not grown: kept at its future stamp it would not decay until the clock got there again.
 */
export function decayed(rec: ReputationRecord, now: number, halfLifeMs: number): ReputationRecord {
  const f = decayFactor(now - rec.at, halfLifeMs);
  return { sum: rec.sum * f, count: rec.count * f, at: now };
}

/** The record with one more observation of `score` counting `weight` messages. */
export function observe(rec: ReputationRecord | undefined, score: number, weight: number, now: number, halfLifeMs: number): ReputationRecord {
  const base = rec ? decayed(rec, now, halfLifeMs) : { sum: 0, count: 0, at: now };
  return { sum: base.sum + score * weight, count: base.count + weight, at: base.at };
}

/** count / (count + half): near zero for a few messages, toward 1 for many. */
export function confidence(count: number, half: number): number {
  return count <= 0 ? 0 : count / (count + half);
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/** What the history (as of `now`) says of the next message. */
export function judge(rec: ReputationRecord, now: number, halfLifeMs: number, s: JudgeSettings): ReputationJudgement {
  const d = decayed(rec, now, halfLifeMs);
  const average = d.count > 0 ? d.sum / d.count : 0;
  const base = { average: round3(average), count: round3(d.count) };
  // the count as shown (to 3 places): three messages a moment ago are three messages
  if (base.count < s.min_count) return { kind: 'silent', ...base };
  const past = average >= s.bad_score ? average - s.bad_score : average <= s.good_score ? s.good_score - average : undefined;
  if (past === undefined) return { kind: 'neutral', ...base };
  // at the threshold itself a quarter of the strength, full at `spread` past it
  const strength = Math.min(1, 0.25 + (0.75 * past) / s.spread);
  const factor = round3(strength * confidence(d.count, s.confidence_count));
  return { kind: average >= s.bad_score ? 'bad' : 'good', factor, ...base };
}

/** The average a user report stands for: fully bad (spam) or fully good (ham). */
export function reportScore(spam: boolean, s: Pick<ReputationConfig, 'bad_score' | 'good_score' | 'spread'>): number {
  return spam ? s.bad_score + s.spread : s.good_score - s.spread;
}
