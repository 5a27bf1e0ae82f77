// Autolearn decisions: only well past the scores, never when rules and Bayes disagree.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideAutolearn } from '../../../src/bayes/autolearn.ts';
import type { BayesResult } from '../../../src/bayes/classifier.ts';
import { bayesSection } from '../../../src/config/sections/filter.ts';

const cfg = bayesSection.parse({}).autolearn;
const bayes = (verdict: 'spam' | 'ham' | 'unsure'): BayesResult => ({ status: 'scored', probability: verdict === 'spam' ? 0.99 : verdict === 'ham' ? 0.01 : 0.5, verdict, clues: [], tokens: 10, method: 'evidence', groups: [] });

test('autolearn spam and ham past the scores; Bayes own score is left out; disagreement blocks', () => {
  assert.equal(decideAutolearn({ score: 14, symbols: [{ symbol: 'CT_X', score: 14 }] }, bayes('unsure'), cfg).cls, 'spam');
  assert.equal(decideAutolearn({ score: 14, symbols: [{ symbol: 'BAYES_SPAM', score: 5 }, { symbol: 'CT_X', score: 9 }] }, bayes('spam'), cfg).cls, undefined);
  assert.equal(decideAutolearn({ score: 14, symbols: [{ symbol: 'CT_X', score: 14 }] }, bayes('ham'), cfg).cls, undefined);
  assert.equal(decideAutolearn({ score: -3, symbols: [{ symbol: 'DKIM_OK', score: -3 }] }, bayes('ham'), cfg).cls, 'ham');
  assert.equal(decideAutolearn({ score: -3, symbols: [{ symbol: 'DKIM_OK', score: -3 }] }, bayes('spam'), cfg).cls, undefined);
  assert.equal(decideAutolearn({ score: 3, symbols: [] }, undefined, cfg).cls, undefined);
  assert.equal(decideAutolearn({ score: 30, symbols: [] }, undefined, { ...cfg, enabled: false }).cls, undefined);
});
