// RFC 6531 checks on the raw MAIL/RCPT bytes: non-ASCII needs SMTPUTF8 and must be UTF-8.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mailHasSmtpUtf8, refusePathEncoding } from '../../../src/smtp/eai-guard.ts';

const b = (s: string, enc: BufferEncoding = 'utf8'): Buffer => Buffer.from(s, enc);

test('SMTPUTF8 is found among the MAIL parameters only', () => {
  assert.equal(mailHasSmtpUtf8(b('MAIL FROM:<a@b> SMTPUTF8')), true);
  assert.equal(mailHasSmtpUtf8(b('MAIL FROM:<a@b> BODY=8BITMIME smtputf8 SIZE=1')), true);
  assert.equal(mailHasSmtpUtf8(b('MAIL FROM:<SMTPUTF8@b>')), false);
  assert.equal(mailHasSmtpUtf8(b('MAIL FROM:<a@b> XSMTPUTF8')), false);
});

test('ASCII paths pass; non-ASCII gets 553 5.6.7 without SMTPUTF8 and 501 when not UTF-8', () => {
  assert.equal(refusePathEncoding(b('MAIL FROM:<a@xn--bcher-kva.example>'), false, 'sender'), undefined);
  assert.equal(refusePathEncoding(b('MAIL FROM:<>'), false, 'sender'), undefined);
  assert.equal(refusePathEncoding(b('RCPT TO:<a@b> ORCPT=utf-8;j\u00f6rg@b'), false, 'recipient'), undefined, 'only the path is judged');
  assert.deepEqual(refusePathEncoding(b('MAIL FROM:<j\u00f6rg@b.example>'), false, 'sender')?.code, 553);
  assert.equal(refusePathEncoding(b('RCPT TO:<j\u00f6rg@b.example>'), false, 'recipient')?.enhanced, '5.6.7');
  assert.equal(refusePathEncoding(b('MAIL FROM:<j\u00f6rg@b.example> SMTPUTF8'), true, 'sender'), undefined);
  assert.deepEqual(refusePathEncoding(b('RCPT TO:<j\xf6rg@b.example>', 'latin1'), true, 'recipient'), { code: 501, enhanced: '5.1.3', text: 'Bad recipient address syntax: not UTF-8' });
});
