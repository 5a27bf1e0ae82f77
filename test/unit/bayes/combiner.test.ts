// Evidence combiner: clues grouped by token family, the per-group measures, the shipped model's direction
// (more spam evidence never lowers the probability) and the logistic fit used to build it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CUTOFFS } from '../../../src/bayes/classifier.ts';
import { SHIPPED_COMBINER } from '../../../src/bayes/combiner-weights.ts';
import { applyCombiner, evidenceFeatures, FEATURE_COUNT, GROUP_FEATURES, groupEvidence } from '../../../src/bayes/combiner.ts';
import { fitLogistic } from '../../../src/bayes/fit-combiner.ts';

const clues = (n: number, prob: number, prefix = ''): { token: string; prob: number }[] =>
  Array.from({ length: n }, (_, i) => ({ token: `${prefix}w${i}`, prob }));
const shipped = (c: { token: string; prob: number }[]): number => applyCombiner(SHIPPED_COMBINER, evidenceFeatures(c));
const { spam: SPAM_AT, ham: HAM_AT } = DEFAULT_CUTOFFS.evidence;

test('clues are grouped by token family: header, body (with subject and HTML), links', () => {
  const groups = groupEvidence([...clues(3, 0.001, 'hdr:'), ...clues(2, 0.999), ...clues(1, 0.99, 'subject:'), ...clues(1, 0.99, 'url:')]);
  assert.deepEqual(groups.map((g) => [g.group, g.clues]), [['all', 7], ['header', 3], ['body', 3], ['url', 1]]);
  assert.ok((groups[1]?.chiSquare ?? 1) < 0.01, 'header evidence is hammy');
  assert.ok((groups[2]?.chiSquare ?? 0) > 0.99, 'body evidence is spammy');
});

test('features: six measures per group, all zero for a group without clues', () => {
  const x = evidenceFeatures(clues(4, 0.999, 'hdr:'));
  assert.equal(x.length, FEATURE_COUNT);
  const n = GROUP_FEATURES.length;
  assert.ok(x.slice(0, n).some((v) => v !== 0), 'all');
  assert.ok(x.slice(n, 2 * n).some((v) => v !== 0), 'header');
  assert.deepEqual(x.slice(2 * n), new Array(2 * n).fill(0), 'body and url have no clues');
  // clues: log1p(4); strong spam: log1p(4); strong ham: 0
  assert.equal(x[n + 2], Math.log1p(4));
  assert.equal(x[n + 3], Math.log1p(4));
  assert.equal(x[n + 4], 0);
});

test('shipped combiner: unanimous evidence reaches the cutoffs, none stays unsure', () => {
  assert.ok(shipped(clues(10, 0.99)) >= SPAM_AT, String(shipped(clues(10, 0.99))));
  assert.ok(shipped(clues(10, 0.01)) <= HAM_AT, String(shipped(clues(10, 0.01))));
  const none = shipped([]);
  assert.ok(none > HAM_AT && none < SPAM_AT, String(none));
});

test('shipped combiner: one weight per feature; balanced evidence stays unsure however many clues', () => {
  assert.equal(SHIPPED_COMBINER.weights.length, FEATURE_COUNT);
  for (const prefix of ['', 'hdr:', 'url:']) {
    for (const n of [5, 50, 400, 3000]) {
      const p = shipped([...clues(n, 0.999, `${prefix}s`), ...clues(n, 0.001, `${prefix}h`)]);
      assert.ok(p > HAM_AT && p < SPAM_AT, `${prefix || 'body'} ${n}+${n}: ${p}`);
    }
  }
});

test('shipped combiner: turning ham clues into spam clues never lowers the probability', () => {
  for (const prefix of ['', 'hdr:', 'url:']) {
    let last = 0;
    for (let k = 0; k <= 30; k++) {
      const p = shipped([...clues(k, 0.995, `${prefix}s`), ...clues(30 - k, 0.005, `${prefix}h`)]);
      assert.ok(p >= last - 1e-12, `${prefix || 'body'}: ${k} spam clues gave ${p} < ${last}`);
      last = p;
    }
    assert.ok(last >= SPAM_AT, `${prefix || 'body'}: all spam gave ${last}`);
  }
});

test('logistic fit separates a separable set and returns weights on raw (unscaled) features', () => {
  // feature 0 carries the class (offset and scaled, to exercise the folded standardisation); the rest is noise
  const rows = Array.from({ length: 60 }, (_, i) => {
    const spam = i % 2 === 0;
    const x = Array.from({ length: FEATURE_COUNT }, (_, j) => (j === 0 ? 100 + (spam ? 5 : -5) + (i % 3) : ((i * 7 + j * 13) % 10) / 10));
    return { x, spam };
  });
  const model = fitLogistic(rows);
  assert.equal(model.weights.length, FEATURE_COUNT);
  for (const r of rows) assert.equal(applyCombiner(model, r.x) >= 0.5, r.spam);
  assert.ok((model.weights[0] ?? 0) > 0);
});
