// The shipped reputation weights are modest: both bad histories together at full strength stay under the
// rewrite_subject and junk thresholds (a sender's bad day must not file its clean mail as spam for weeks) (a first-time sender has none at all), and a known-good domain's bonus outweighs no virus nor reject symbol.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REPUTATION_SYMBOLS } from '../../../src/checks/reputation.ts';
import { SHIPPED_RULES_DIR } from '../../../src/config/load.ts';
import { loadRuleset } from '../../../src/scoring/ruleset.ts';
import { scoreHits } from '../../../src/scoring/scorer.ts';

const ruleset = loadRuleset([SHIPPED_RULES_DIR]);

test('every reputation symbol is defined; both bad ones together leave a clean message untagged and out of Junk; good ones are bonuses', () => {
  for (const s of REPUTATION_SYMBOLS) assert.equal(typeof ruleset.symbols.get(s)?.weight, 'number', s);
  // a domain sending from its own network carries both keys: a bad day there marks both
  const both = scoreHits([{ symbol: 'REPUTATION_IP_BAD' }, { symbol: 'REPUTATION_DOMAIN_BAD' }], ruleset);
  assert.ok(both.score < (ruleset.thresholds.rewrite_subject ?? Infinity) - 0.5, `${both.score}`);
  assert.ok(both.score < (ruleset.thresholds.junk ?? Infinity) - 1.5, `${both.score}`);
  assert.ok(scoreHits([{ symbol: 'REPUTATION_IP_GOOD' }, { symbol: 'REPUTATION_DOMAIN_GOOD' }], ruleset).score < 0);
});

test('a known-good domain at full strength does not outweigh a virus or a relay refusal', () => {
  const good = [{ symbol: 'REPUTATION_DOMAIN_GOOD' }, { symbol: 'REPUTATION_IP_GOOD' }];
  assert.equal(scoreHits([...good, { symbol: 'VIRUS_FOUND', options: ['Eicar-Test-Signature'] }], ruleset).action, 'reject');
  assert.equal(scoreHits([...good, { symbol: 'RELAY_DENIED' }], ruleset).action, 'reject');
  // nor does it turn a message at the reject threshold (15) plus its size into a pass: it costs at most 3
  assert.ok(scoreHits(good, ruleset).score >= -3);
});
