// The milter protocol's reply encoding: SMFIR_REPLYCODE as Postfix checks it (milter8.c: a 4xx or 5xx code,
// then an enhanced status code of the same class, or the milter is disabled for the session) and reads it
// ("%%" is one "%").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replyCode } from '../../../src/milter/protocol.ts';

const text = (b: Buffer): string => b.subarray(5, b.length - 1).toString('latin1');

test('SMFIR_REPLYCODE: the enhanced status code takes the class of the reply code', () => {
  assert.equal(text(replyCode(550, '5.7.1', 'Rejected')), '550 5.7.1 Rejected');
  assert.equal(text(replyCode(451, '5.7.1', 'Try later')), '451 4.7.1 Try later');
  assert.equal(text(replyCode(554, '4.3.0', 'No')), '554 5.3.0 No');
  assert.equal(text(replyCode(550, '', 'No code')), '550 5.0.0 No code');
  assert.equal(text(replyCode(550, 'x.y.z', 'Bad code')), '550 5.0.0 Bad code');
  // a code the protocol cannot carry (Postfix takes only 4xx and 5xx) is a local error
  assert.equal(text(replyCode(250, '2.0.0', 'Ok')), '451 4.3.0 Ok');
});

test('SMFIR_REPLYCODE: "%" doubled and never cut in half by the length bound', () => {
  assert.equal(text(replyCode(550, '5.7.1', '100% spam')), '550 5.7.1 100%% spam');
  const long = text(replyCode(550, '5.7.1', `a${'%'.repeat(300)}`));
  assert.ok(!/(^|[^%])(%%)*%$/.test(long), 'no lone "%" at the end');
  assert.ok(long.length <= 820);
});
