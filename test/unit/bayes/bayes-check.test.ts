// The Bayes check's symbols: BAYES_SPAM / BAYES_HAM with the probability as option and a factor from 0.5
// at the cutoff to 1 at the method's full-weight point, BAYES_UNSURE between, nothing while the classifier
// is silent.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { BayesResult } from '../../../src/bayes/classifier.ts';
import { runOffline } from '../../../src/bayes/cli-support.ts';
import { openBayes } from '../../../src/bayes/open-bayes.ts';
import { groupEvidence } from '../../../src/bayes/combiner.ts';
import { BAYES_RESULT_KEY, bayesHits, createBayesCheck } from '../../../src/checks/bayes.ts';
import { bayesSection } from '../../../src/config/sections/filter.ts';
import { DEFAULT_MIME_LIMITS } from '../../../src/mime/parse.ts';

const CHI = { spamCutoff: 0.6, hamCutoff: 0.2, spamFullAt: 1, hamFullAt: 0 };
const EVIDENCE = { spamCutoff: 0.9, hamCutoff: 0.2, spamFullAt: 0.99, hamFullAt: 0.01 };
const scored = (probability: number, verdict: 'spam' | 'unsure' | 'ham'): BayesResult => ({ status: 'scored', probability, verdict, clues: [], tokens: 1, method: 'evidence', groups: [] });

test('symbols carry the probability as option and scale their factor past the cutoff', () => {
  assert.deepEqual(bayesHits(scored(1, 'spam'), CHI), [{ symbol: 'BAYES_SPAM', factor: 1, options: ['p=1.0000'] }]);
  assert.deepEqual(bayesHits(scored(0.6, 'spam'), CHI), [{ symbol: 'BAYES_SPAM', factor: 0.5, options: ['p=0.6000'] }]);
  assert.deepEqual(bayesHits(scored(0.8, 'spam'), CHI), [{ symbol: 'BAYES_SPAM', factor: 0.75, options: ['p=0.8000'] }]);
  assert.deepEqual(bayesHits(scored(0, 'ham'), CHI), [{ symbol: 'BAYES_HAM', factor: 1, options: ['p=0.0000'] }]);
  assert.deepEqual(bayesHits(scored(0.1, 'ham'), CHI), [{ symbol: 'BAYES_HAM', factor: 0.75, options: ['p=0.1000'] }]);
  assert.deepEqual(bayesHits(scored(0.4, 'unsure'), CHI), [{ symbol: 'BAYES_UNSURE', options: ['p=0.4000'] }]);
  assert.deepEqual(bayesHits({ status: 'silent', reason: 'x', learned: { spam: 0, ham: 0 } }, CHI), []);
  // evidence bands: full weight at 0.99 / 0.01, half way between there and the cutoff
  assert.deepEqual(bayesHits(scored(0.995, 'spam'), EVIDENCE)[0]?.factor, 1);
  assert.deepEqual(bayesHits(scored(0.945, 'spam'), EVIDENCE)[0]?.factor, 0.75);
  assert.deepEqual(bayesHits(scored(0.9, 'spam'), EVIDENCE)[0]?.factor, 0.5);
  assert.deepEqual(bayesHits(scored(0.105, 'ham'), EVIDENCE)[0]?.factor, 0.75);
  assert.deepEqual(bayesHits(scored(0.005, 'ham'), EVIDENCE)[0]?.factor, 1);
  // a cutoff set past the full-weight point: full weight only at certainty
  assert.deepEqual(bayesHits(scored(0.9975, 'spam'), { ...EVIDENCE, spamCutoff: 0.995 })[0]?.factor, 0.75);
  // options: the probability, then each present clue group's own chi-square verdict
  const clue = (token: string, prob: number) => ({ token, prob, spam: 0, ham: 0 });
  const clues = [clue('hdr:list-id', 0.001), clue('list-post:x', 0.002), clue('viagra', 0.999), clue('pills', 0.998)];
  const mixed: BayesResult = { status: 'scored', probability: 0.995, verdict: 'spam', tokens: 4, method: 'evidence', clues, groups: groupEvidence(clues) };
  assert.deepEqual(bayesHits(mixed, EVIDENCE)[0]?.options, ['p=0.9950', 'header=0.000', 'body=1.000']);
  assert.deepEqual(bayesHits(scored(0.995, 'spam'), { ...EVIDENCE, spamCutoff: 0.99 })[0]?.factor, 0.75, 'a cutoff at the full-weight point');
  assert.deepEqual(bayesHits(scored(0.0025, 'ham'), { ...EVIDENCE, hamCutoff: 0.005 })[0]?.factor, 0.75, 'ham side: full weight at 0');
  assert.deepEqual(bayesHits(scored(0.005, 'ham'), { ...EVIDENCE, hamCutoff: 0.01 })[0]?.factor, 0.75, 'a ham cutoff at the full-weight point');
});

test('the check is silent until the minimum of both classes is learned, then emits BAYES_SPAM', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-bcheck-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bayes = openBayes({ dataDir: dir, config: bayesSection.parse({ min_spam: 2, min_ham: 2, use_shipped_model: false, save_delay: 0 }) });
  t.after(() => bayes.close());
  const check = createBayesCheck({ bayes, limits: DEFAULT_MIME_LIMITS });
  const msg = (i: number, spam: boolean): Buffer =>
    Buffer.from(spam ? `Subject: pills ${i}\r\n\r\ncheap viagra pills pharmacy ${i}\r\n` : `Subject: meeting ${i}\r\n\r\nproject agenda parser review ${i}\r\n`);
  const probe = msg(99, true);
  await bayes.learner.learn(msg(1, true), 'spam', 'manual');
  await bayes.learner.learn(msg(2, true), 'spam', 'manual');
  await bayes.learner.learn(msg(1, false), 'ham', 'manual');
  const before = await runOffline([check], probe);
  assert.deepEqual(before.hits, [], 'one ham short of the minimum: no symbol');
  assert.equal((before.results.get(BAYES_RESULT_KEY) as BayesResult).status, 'silent');
  await bayes.learner.learn(msg(2, false), 'ham', 'manual');
  const after = await runOffline([check], probe);
  assert.equal(after.hits.length, 1);
  assert.equal(after.hits[0]?.symbol, 'BAYES_SPAM');
  assert.match(after.hits[0]?.options?.[0] ?? '', /^p=0\.9\d{3}|^p=1\.0000$/);
  assert.ok((after.hits[0]?.factor ?? 0) > 0.5);
});
