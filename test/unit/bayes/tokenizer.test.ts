// Tokenizer word trimming (table-driven, no regex per word) and the config/classifier default cutoffs agreeing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CLASSIFIER } from '../../../src/bayes/classifier.ts';
import { textTokens } from '../../../src/bayes/tokenizer.ts';
import { bayesSection } from '../../../src/config/sections/filter.ts';

const words = (text: string, pairs = false): string[] => {
  const out: string[] = [];
  textTokens(text, '', (t) => out.push(t), pairs);
  return out;
};

test('words are lower-cased and trimmed of surrounding punctuation and spaces, inner punctuation kept', () => {
  assert.deepEqual(words('"Hello," (World)... *FREE* [offer]; e-mail\u00a0you\'re {x} `code`'), ['hello', 'world', 'free', 'offer', 'e-mail', "you're", 'code']);
  assert.deepEqual(words('$100! cost?'), ['$100!', 'cost?']);
  assert.deepEqual(words('...  ,, ab'), []);
});

test('long words are summarised; pairs join adjacent words', () => {
  assert.deepEqual(words('a'.repeat(25)), ['skip:a20']);
  assert.deepEqual(words('cheap pills now', true), ['cheap', 'pills', 'cheap pills', 'now', 'pills now']);
});

test('config defaults match the classifier defaults', () => {
  const cfg = bayesSection.parse({});
  assert.equal(cfg.spam_cutoff, DEFAULT_CLASSIFIER.spamCutoff);
  assert.equal(cfg.ham_cutoff, DEFAULT_CLASSIFIER.hamCutoff);
});
