// The fuzzy settings: on by default with an empty store (nothing changes until spam is reported), bad
// ones named with file, line and key; the shipped rules define every symbol of the check.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { FUZZY_SYMBOLS } from '../../../src/checks/fuzzy.ts';
import { loadConfig, SHIPPED_RULES_DIR } from '../../../src/config/load.ts';
import { loadRuleset } from '../../../src/scoring/ruleset.ts';
import { configProblems } from '../../helpers/config-errors.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

test('defaults: on, threshold 0.7, 90 days, 100000 entries, 32 words, 1k attachments', () => {
  assert.deepEqual(loadConfig({ inline: {} }).config.fuzzy, { enabled: true, threshold: 0.7, ttl: 90 * 86_400_000, max_entries: 100_000, min_words: 32, min_attachment_size: 1024 });
  assert.deepEqual(loadConfig({ inline: { redis: { use_for: ['fuzzy'] } } }).config.redis.use_for, ['fuzzy']);
});

test('bad fuzzy settings name file, line, key and what was found', (t) => {
  const file = path.join(tempDir(t, 'spamgate-fzconfig-'), 'spamgate.yaml');
  writeFileSync(file, 'fuzzy:\n  enabled: yes please\n  threshold: 1.5\n  ttl: forever\n  max_entries: 0\n  min_words: 2\n  min_attachment_size: lots\n  shingles: 4\n');
  const problems = configProblems(() => loadConfig({ file }));
  const at = file.replace(/[.]/g, '\\.');
  for (const [line, key] of [[2, 'enabled'], [3, 'threshold'], [4, 'ttl'], [5, 'max_entries'], [6, 'min_words'], [7, 'min_attachment_size']] as const) {
    assert.match(problems, new RegExp(`${at}:${line}: fuzzy\\.${key}: `), key);
  }
  assert.match(problems, /fuzzy\.ttl: expected a duration .*found "forever"/);
  assert.match(problems, /shingles/);
});

test('the shipped rules weigh every symbol of the fuzzy check', () => {
  const ruleset = loadRuleset([SHIPPED_RULES_DIR]);
  for (const s of FUZZY_SYMBOLS) assert.ok(ruleset.symbols.has(s), s);
});
