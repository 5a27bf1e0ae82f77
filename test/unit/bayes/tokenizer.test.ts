// Tokenizer word trimming (table-driven, no regex per word) and the config/classifier default cutoffs agreeing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { textTokens, tokenFamily } from '../../../src/bayes/tokenizer.ts';

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

test('token families: links, reader-visible text, everything else is header evidence', () => {
  assert.equal(tokenFamily('url:example.com'), 'url');
  assert.equal(tokenFamily('viagra'), 'body');
  assert.equal(tokenFamily('subject:free'), 'body');
  assert.equal(tokenFamily('html:font'), 'body');
  assert.equal(tokenFamily('email:example.com'), 'body');
  assert.equal(tokenFamily('skip:a20'), 'body');
  assert.equal(tokenFamily('hdr:list-id'), 'header');
  assert.equal(tokenFamily('received:ip:10.1.2'), 'header');
  assert.equal(tokenFamily('list-post:skip:a30'), 'header');
  assert.equal(tokenFamily('from:name:alert'), 'header');
  assert.equal(tokenFamily('x_priority:high'), 'header');
  assert.equal(tokenFamily('18:51:26'), 'body');
  assert.equal(tokenFamily('extutils::makemaker'), 'body');
});
