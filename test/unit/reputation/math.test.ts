// Sender reputation arithmetic: exponential decay by half-life, the average, the confidence, and the
// judgement (silent under min_count, a quarter at the threshold, full past spread, scaled by confidence).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { confidence, decayFactor, decayed, judge, observe, reportScore } from '../../../src/reputation/math.ts';

const DAY = 86_400_000;
const HALF = 30 * DAY;
const S = { min_count: 3, confidence_count: 10, bad_score: 6, good_score: 1, spread: 4 };

test('decay halves the weight every half-life; a record from the future is not grown', () => {
  assert.equal(decayFactor(HALF, HALF), 0.5);
  assert.equal(decayFactor(2 * HALF, HALF), 0.25);
  assert.equal(decayFactor(-DAY, HALF), 1);
  const rec = { sum: 40, count: 4, at: 0 };
  assert.deepEqual(decayed(rec, HALF, HALF), { sum: 20, count: 2, at: HALF });
});

test('observe decays to now, then adds score × weight; the average is unchanged by decay alone', () => {
  let r = observe(undefined, 10, 1, 0, HALF);
  r = observe(r, 10, 1, 0, HALF);
  assert.deepEqual(r, { sum: 20, count: 2, at: 0 });
  r = observe(r, 0, 1, HALF, HALF);
  // 2 old messages halved (sum 10, count 1) + one of 0
  assert.deepEqual(r, { sum: 10, count: 2, at: HALF });
  assert.equal(judge({ sum: 100, count: 10, at: 0 }, HALF, HALF, S).average, 10);
});

test('confidence: near zero for few messages, a half at confidence_count, toward one', () => {
  assert.equal(confidence(0, 10), 0);
  assert.equal(confidence(10, 10), 0.5);
  assert.ok(confidence(1000, 10) > 0.99);
});

test('judge: silent under min_count, neutral between the thresholds, bad/good scaled by distance and confidence', () => {
  assert.equal(judge({ sum: 20, count: 2, at: 0 }, 0, HALF, S).kind, 'silent');
  assert.equal(judge({ sum: 30, count: 10, at: 0 }, 0, HALF, S).kind, 'neutral');
  const atThreshold = judge({ sum: 60, count: 10, at: 0 }, 0, HALF, S);
  assert.deepEqual(atThreshold, { kind: 'bad', average: 6, count: 10, factor: 0.125 });
  const far = judge({ sum: 200, count: 10, at: 0 }, 0, HALF, S);
  assert.deepEqual(far, { kind: 'bad', average: 20, count: 10, factor: 0.5 });
  const good = judge({ sum: -30, count: 10, at: 0 }, 0, HALF, S);
  assert.deepEqual(good, { kind: 'good', average: -3, count: 10, factor: 0.5 });
  // more history: more confidence, a larger factor for the same average
  const many = judge({ sum: 2000, count: 100, at: 0 }, 0, HALF, S);
  assert.ok(many.kind === 'bad' && many.factor > 0.9);
  // the same history, two half-lives old: its count is a quarter, under min_count for a small one
  assert.equal(judge({ sum: 200, count: 10, at: 0 }, 2 * HALF, HALF, S).kind, 'silent');
});

test('a report stands for a fully bad or fully good average', () => {
  assert.equal(reportScore(true, S), 10);
  assert.equal(reportScore(false, S), -3);
});

test('a record stamped in the future (the clock was once ahead) is re-dated to now and decays from there', () => {
  const YEAR = 365 * DAY;
  // learned while the clock said next year, then the clock was put right
  let r = observe({ sum: 1200, count: 100, at: YEAR }, 12, 1, 0, HALF);
  assert.equal(r.at, 0);
  // one half-life of real time later, half the weight is gone
  assert.equal(decayed(r, HALF, HALF).count, 101 / 2);
  r = { sum: 1200, count: 100, at: YEAR };
  assert.equal(judge(r, 3 * HALF, HALF, S).count, 100);
  assert.equal(decayed(r, 0, HALF).at, 0);
});
