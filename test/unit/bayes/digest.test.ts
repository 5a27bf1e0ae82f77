// Learned-message identity: trace fields added in transit do not make another message; a delivered copy
// is learned with the tokens of the message as judged at DATA, so relearning and forgetting it subtract
// exactly what was added; a message learned under the earlier raw-bytes digest is still recognised.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BayesLearner, messageDigest, messageDigestKeepingEnd, rawDigest, withoutOwnTrace } from '../../../src/bayes/bayes-learner.ts';
import { MemoryTokenStore } from '../../../src/bayes/memory-store.ts';
import { tokenize } from '../../../src/bayes/tokenizer.ts';
import { parseMail } from '../../../src/mime/parse.ts';

const original = Buffer.from('Received: from relay.example by mx.example; Sun, 22 Nov 2026 00:00:00 +0000\r\nFrom: a@example.org\r\nSubject: hello\r\n there\r\nMessage-ID: <1@example.org>\r\n\r\nbody line\r\n');
const delivered = Buffer.concat([
  Buffer.from('Return-Path: <a@example.org>\r\nDelivered-To: postmaster@localhost\r\nX-Spamgate-Result: junk; score=13; id=abc;\r\n\tCT_TEST(13)\r\nAuthentication-Results: mx.test; spf=pass\r\nReceived-SPF: pass\r\nReceived: from client by mx.test with ESMTP id abc; Sun, 22 Nov 2026 00:00:01 +0000\r\n'),
  original,
]);

test('trace fields, folding and line ends do not change the digest; content does', () => {
  assert.equal(messageDigest(delivered), messageDigest(original));
  assert.equal(messageDigest(Buffer.from(original.toString('latin1').replace(/\r\n/g, '\n'))), messageDigest(original));
  assert.equal(messageDigest(Buffer.concat([Buffer.from('From MAILER-DAEMON Thu Jan  1 00:00:00 2024\n'), original])), messageDigest(original));
  assert.notEqual(messageDigest(Buffer.from(original.toString('latin1').replace('body line', 'other body'))), messageDigest(original));
  assert.notEqual(messageDigest(Buffer.from(original.toString('latin1').replace('Subject: hello', 'Subject: hullo'))), messageDigest(original));
  assert.notEqual(rawDigest(delivered), rawDigest(original), 'the earlier digest saw trace fields');
});

test('the trace block spamgate put on top is left out of learning; other messages are untouched', () => {
  assert.deepEqual(withoutOwnTrace(delivered), original);
  assert.deepEqual(withoutOwnTrace(original), original, 'its own Received fields stay');
  const foreign = Buffer.concat([Buffer.from('Return-Path: <a@example.org>\r\nDelivered-To: x@example.org\r\n'), original]);
  assert.deepEqual(withoutOwnTrace(foreign), foreign, 'not delivered by spamgate: unchanged');
  const tagged = Buffer.concat([Buffer.from('X-Spamgate-Result: accept\r\n\r\n'), Buffer.from('body')]);
  assert.deepEqual(withoutOwnTrace(tagged), tagged, 'no Received in the block: unchanged');
});

test('learn one copy, forget another: the token counts go back to nothing', async () => {
  const store = new MemoryTokenStore();
  const learner = new BayesLearner({ store, tokenize: (raw) => tokenize(parseMail(raw)) });
  assert.equal(await learner.learn(original, 'spam', 'autolearn'), 'learned');
  const size = store.size;
  assert.equal(await learner.learn(delivered, 'ham', 'junk_folder'), 'relearned');
  assert.equal(store.size, size, 'no token of the trace block was added');
  assert.equal(await learner.forget(delivered, 'manual'), 'forgotten');
  assert.deepEqual(await store.totals(), { spam: 0, ham: 0 });
  assert.equal(store.size, 0);
});

test('a message learned under the earlier digest is recognised, relearned and forgotten', async () => {
  const store = new MemoryTokenStore();
  const tok = (raw: Buffer): string[] => tokenize(parseMail(raw));
  // as an earlier version stored it
  await store.update({ tokens: tok(original), cls: 'spam', delta: 1, digest: rawDigest(original) });
  const learner = new BayesLearner({ store, tokenize: tok });
  assert.equal(await learner.learn(original, 'spam', 'manual'), 'already');
  assert.equal(await learner.learn(original, 'ham', 'manual'), 'relearned');
  assert.deepEqual(await store.totals(), { spam: 0, ham: 1 });
  assert.equal(await store.learnedAs(rawDigest(original)), undefined, 'the old digest is cleared');
  assert.equal(await learner.learn(delivered, 'ham', 'junk_folder'), 'already', 'the delivered copy is the same message');
  assert.equal(await learner.forget(delivered, 'manual'), 'forgotten');
  assert.deepEqual(await store.totals(), { spam: 0, ham: 0 });
  assert.equal((await store.getMany(['body']))[0], undefined);
});

test('the same message from a file, from an mbox (blank line before the next From) and as delivered (final line break added) is one', async () => {
  const noFinalBreak = Buffer.from(original.toString('latin1').replace(/\r\n$/, ''));
  const inMbox = Buffer.concat([original, Buffer.from('\n')]);
  assert.equal(messageDigest(inMbox), messageDigest(original));
  assert.equal(messageDigest(noFinalBreak), messageDigest(original));
  assert.notEqual(messageDigest(Buffer.concat([original, Buffer.from('more\n')])), messageDigest(original));
  // learned by the previous version (body end kept as it was): still recognised
  const store = new MemoryTokenStore();
  const tok = (raw: Buffer): string[] => tokenize(parseMail(raw));
  await store.update({ tokens: tok(inMbox), cls: 'spam', delta: 1, digest: messageDigestKeepingEnd(inMbox) });
  const learner = new BayesLearner({ store, tokenize: tok });
  assert.equal(await learner.learn(inMbox, 'spam', 'manual'), 'already');
  assert.equal(await learner.learn(original, 'spam', 'manual'), 'learned', 'the old digest of the mbox copy differed from the file copy');
  assert.equal(await learner.forget(inMbox, 'manual'), 'forgotten');
});

test('line breaks are trimmed from the end only: a body of blank lines with text after them keeps them', () => {
  const head = 'From: a@example.org\r\nSubject: blank\r\n\r\n';
  const blanks = '\r\n'.repeat(50_000);
  const textAfter = messageDigest(Buffer.from(`${head}${blanks}x\r\n`));
  assert.notEqual(textAfter, messageDigest(Buffer.from(`${head}x\r\n`)));
  assert.equal(messageDigest(Buffer.from(`${head}${blanks}x${blanks}`)), textAfter);
  assert.equal(messageDigest(Buffer.from(`${head}${blanks}`)), messageDigest(Buffer.from(head)));
});
