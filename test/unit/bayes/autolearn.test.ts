// Autolearn decisions: only well past the scores, never when rules and Bayes disagree.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideAutolearn } from '../../../src/bayes/autolearn.ts';
import type { BayesResult } from '../../../src/bayes/classifier.ts';
import { bayesSection } from '../../../src/config/sections/filter.ts';
import { compileContentRules } from '../../../src/content/engine.ts';
import { contentRuleSchema } from '../../../src/content/rules-schema.ts';

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

test('meta rules on Bayes symbols, directly or through other meta rules, count with Bayes for autolearn', () => {
  const rule = (symbol: string, expr: string) => contentRuleSchema.parse({ symbol, description: symbol, weight: 1, type: 'meta', expr });
  const engine = compileContentRules([rule('M_ON', 'BAYES_SPAM && DKIM_OK'), rule('M_THROUGH', 'M_ON || DKIM_OK'), rule('M_NOT', 'DKIM_OK')], new Set(['BAYES_SPAM', 'DKIM_OK']));
  assert.deepEqual([...engine.bayesDerived].sort(), ['M_ON', 'M_THROUGH']);
  const verdict = { score: 14, symbols: [{ symbol: 'M_THROUGH', score: 13 }, { symbol: 'M_NOT', score: 1 }] };
  assert.equal(decideAutolearn(verdict, bayes('spam'), cfg).cls, 'spam', 'without the set, the meta counts as a rule');
  assert.equal(decideAutolearn(verdict, bayes('spam'), cfg, engine.bayesDerived).cls, undefined);
});
