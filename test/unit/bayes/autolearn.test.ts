// Autolearn decisions: only well past the scores, never when rules and Bayes disagree.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { decideAutolearn } from '../../../src/bayes/autolearn.ts';
import type { BayesResult } from '../../../src/bayes/classifier.ts';
import { SHIPPED_RULES_DIR } from '../../../src/config/load.ts';
import { bayesSection } from '../../../src/config/sections/filter.ts';
import { compileContentRules } from '../../../src/content/engine.ts';
import { contentRuleSchema } from '../../../src/content/rules-schema.ts';
import { loadRuleset } from '../../../src/scoring/ruleset.ts';
import { scoreHits } from '../../../src/scoring/scorer.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

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

test('a message a quarantine weight kept (VIRUS_FOUND: quarantine) is never learned as ham, whatever its low score', (t) => {
  const dir = tempDir(t, 'spamgate-autolearn-rules-');
  writeFileSync(path.join(dir, 'local.yaml'), 'symbols:\n  VIRUS_FOUND: { weight: quarantine, description: kept }\n');
  const ruleset = loadRuleset([SHIPPED_RULES_DIR, dir]);
  // a virus sent from a real (compromised) mailbox: SPF, DKIM and DMARC pass
  const passing = [{ symbol: 'SPF_PASS' }, { symbol: 'DKIM_PASS' }, { symbol: 'DMARC_PASS' }];
  const virus = scoreHits([{ symbol: 'VIRUS_FOUND', options: ['Win.Trojan.Agent'] }, ...passing], ruleset);
  assert.deepEqual([virus.action, virus.score], ['quarantine', -3]);
  assert.equal(decideAutolearn(virus, bayes('unsure'), cfg).cls, undefined);
  assert.equal(decideAutolearn(virus, undefined, cfg).cls, undefined);
  // the same message without the virus is ham as before
  assert.equal(decideAutolearn(scoreHits(passing, ruleset), bayes('unsure'), cfg).cls, 'ham');
});

test('symbols left out (sender reputation) decide no autolearning: a known-good sender\'s bonus does not make its spam ham', () => {
  const left = new Set(['REPUTATION_DOMAIN_GOOD', 'REPUTATION_IP_GOOD', 'REPUTATION_IP_BAD']);
  // content 0.5, a good domain and network −2.9: the total is under ham_score (−2), the message is not
  const spamFromGoodDomain = { score: -2.4, symbols: [{ symbol: 'CT_X', score: 0.5 }, { symbol: 'REPUTATION_DOMAIN_GOOD', score: -1.9 }, { symbol: 'REPUTATION_IP_GOOD', score: -1 }] };
  assert.equal(decideAutolearn(spamFromGoodDomain, bayes('unsure'), cfg).cls, 'ham');
  assert.equal(decideAutolearn(spamFromGoodDomain, bayes('unsure'), cfg, new Set(), left).cls, undefined);
  assert.equal(decideAutolearn({ score: 13, symbols: [{ symbol: 'CT_X', score: 11 }, { symbol: 'REPUTATION_IP_BAD', score: 2 }] }, bayes('unsure'), cfg, new Set(), left).cls, undefined);
});
