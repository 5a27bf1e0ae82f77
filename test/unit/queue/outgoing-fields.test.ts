// spamgate's X-Spamgate-* namespace: a field a message arrives with is taken for forged whatever its name or case
// (and Authentication-Results in our name whatever the case of its field name, as the milter passes it); our own
// outgoing mail loses the fields on the copies for other domains, received mail keeps them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byCopy } from '../../../src/queue/upstream-router.ts';
import { messageForRemote, withoutSpamgateFields } from '../../../src/queue/outgoing-fields.ts';
import { isForgedOwnHeader } from '../../../src/smtp/data-judge.ts';
import { envelope } from './helpers.ts';

const MESSAGE = Buffer.from('X-Spamgate-Result: accept; score=0.00; id=abc\r\n\tBAYES_HAM(-1.00)[p=0.01]\r\nX-Spamgate-Reputation: ip=1.2.3.0/24; seal=x\r\nReceived: from a by b; Mon, 7 Dec 2026 00:00:00 +0000\r\nSubject: hi\r\n\r\nX-Spamgate-Result: in the body stays\r\n');

test('isForgedOwnHeader: any X-Spamgate-* name in any case, and Authentication-Results in our name in any case', () => {
  for (const name of ['X-Spamgate-Result', 'x-spamgate-verdict', 'X-SPAMGATE-Queue-ID', 'X-Spamgate-Released']) assert.equal(isForgedOwnHeader(name, 'ham', 'mx.example'), true, name);
  assert.equal(isForgedOwnHeader('X-Spamgatekeeper', 'ham', 'mx.example'), false);
  assert.equal(isForgedOwnHeader('X-Spam-Flag', 'NO', 'mx.example'), false);
  assert.equal(isForgedOwnHeader('Authentication-Results', 'mx.example; spf=pass', 'mx.example'), true);
  assert.equal(isForgedOwnHeader('Authentication-Results', 'other.example; spf=pass', 'mx.example'), false);
});

test('isForgedOwnHeader: a name with blanks before the colon (RFC 5322 §4.5.3 obsolete syntax), as an MTA may pass it to the milter', () => {
  // a downstream reader takes "Authentication-Results :" for the field itself: one in our name is forged as well
  assert.equal(isForgedOwnHeader('Authentication-Results ', 'mx.example; dkim=pass', 'mx.example'), true);
  assert.equal(isForgedOwnHeader('AUTHENTICATION-RESULTS\t', ' mx.example; dmarc=pass', 'mx.example'), true);
  assert.equal(isForgedOwnHeader('X-Spamgate-Result ', 'ham', 'mx.example'), true);
  assert.equal(isForgedOwnHeader('Authentication-Results ', 'other.example; spf=pass', 'mx.example'), false);
});

test('withoutSpamgateFields: the fields go, folded lines with them; other fields and the body stay; none: the same buffer', () => {
  const out = withoutSpamgateFields(MESSAGE).toString('latin1');
  assert.equal(out, 'Received: from a by b; Mon, 7 Dec 2026 00:00:00 +0000\r\nSubject: hi\r\n\r\nX-Spamgate-Result: in the body stays\r\n');
  const plain = Buffer.from('Subject: hi\r\n\r\nbody\r\n');
  assert.equal(withoutSpamgateFields(plain), plain);
});

test('messageForRemote: only our own outgoing mail loses the fields', () => {
  assert.equal(messageForRemote({}, MESSAGE), MESSAGE);
  assert.equal(messageForRemote({ outgoing: false }, MESSAGE), MESSAGE);
  assert.doesNotMatch(messageForRemote({ outgoing: true }, MESSAGE).toString('latin1').split('\r\n\r\n')[0] ?? '', /x-spamgate/i);
});

test('byCopy (front-of): outgoing mail in two copies, ours with the fields; received mail one copy; no isLocal: all stripped', () => {
  const isLocal = (r: string): boolean => r.endsWith('@example.org');
  const rcpts = ['a@remote.example', 'b@example.org'];
  const outgoing = byCopy({ isLocal }, { envelope: envelope({ rcptTo: rcpts, outgoing: true }), message: MESSAGE }, rcpts);
  assert.equal(outgoing.length, 2);
  assert.deepEqual(outgoing[0]?.[1], ['b@example.org']);
  assert.equal(outgoing[0]?.[0], MESSAGE);
  assert.deepEqual(outgoing[1]?.[1], ['a@remote.example']);
  assert.doesNotMatch(outgoing[1]?.[0].toString('latin1').split('\r\n\r\n')[0] ?? '', /^x-spamgate/im);
  const received = byCopy({ isLocal }, { envelope: envelope({ rcptTo: rcpts }), message: MESSAGE }, rcpts);
  assert.deepEqual(received, [[MESSAGE, rcpts]]);
  const noLocal = byCopy({}, { envelope: envelope({ rcptTo: rcpts, outgoing: true }), message: MESSAGE }, rcpts);
  assert.equal(noLocal.length, 1);
  assert.deepEqual(noLocal[0]?.[1], rcpts);
  assert.notEqual(noLocal[0]?.[0], MESSAGE);
});
