// ESMTP parameters both ways: what the gateway takes on MAIL/RCPT (RFC 3461 §4, 555 for the rest)
// and what the next-hop client sends (xtext, only to a next hop that offers the extension).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SMTPServerAddress } from 'smtp-server';
import { readMailParameters, readRcptParameters } from '../../../src/smtp/esmtp-params.ts';
import { mailParameters, rcptParameters, xtextEncode } from '../../../src/smtp/next-hop-params.ts';
import { SmtpError } from '../../../src/smtp/smtp-error.ts';

const address = (args: Record<string, string | true>, dsn?: SMTPServerAddress['dsn']): SMTPServerAddress => ({ address: 'a@x.test', args, ...(dsn ? { dsn } : {}) });
const refusedWith = (code: number) => (err: unknown) => err instanceof SmtpError && err.code === code;

test('xtext: "+", "=", controls, space and non-ASCII bytes are hex-encoded (RFC 3461 §4)', () => {
  assert.equal(xtextEncode('abc'), 'abc');
  assert.equal(xtextEncode('a+b=c d\r'), 'a+2Bb+3Dc+20d+0D');
  assert.equal(xtextEncode('é'), '+C3+A9');
});

test('next hop parameters: DSN ones only when it offers DSN, exactly as the sender gave them', () => {
  const dsn = { ret: 'FULL' as const, envid: 'q=1', rcptDsn: { 'b@y': { notify: ['SUCCESS' as const, 'DELAY' as const], orcpt: 'rfc822;b+1@y' } } };
  const msg = Buffer.from('Subject: x\r\n\r\n\xe9\r\n', 'latin1');
  assert.equal(mailParameters(new Set(['SIZE', '8BITMIME']), msg, dsn), ` SIZE=${msg.length} BODY=8BITMIME`);
  assert.equal(mailParameters(new Set(['DSN']), msg, dsn), ' RET=FULL ENVID=q+3D1');
  assert.equal(mailParameters(new Set(['DSN']), msg, {}), '');
  assert.equal(rcptParameters(new Set(['DSN']), dsn.rcptDsn['b@y']), ' NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+2B1@y');
  assert.equal(rcptParameters(new Set(['SIZE']), dsn.rcptDsn['b@y']), '');
  assert.equal(rcptParameters(new Set(['DSN']), undefined), '');
});

test('MAIL FROM: RET and ENVID kept, a bad ENVID is 501, an unknown parameter 555', () => {
  assert.deepEqual(readMailParameters(address({ RET: 'hdrs', ENVID: 'abc', SIZE: '10', BODY: '8BITMIME' })), { smtputf8: false, body8bit: true, declaredSize: 10, ret: 'HDRS', envid: 'abc' });
  assert.deepEqual(readMailParameters(address({ AUTH: '<>', SMTPUTF8: true })), { smtputf8: true, body8bit: false });
  assert.throws(() => readMailParameters(address({ ENVID: 'x'.repeat(101) })), refusedWith(501));
  assert.throws(() => readMailParameters(address({ ENVID: 'caf\xe9' })), refusedWith(501));
  assert.throws(() => readMailParameters(address({ XFOO: '1' })), refusedWith(555));
  assert.throws(() => readMailParameters(address({ REQUIRETLS: true })), refusedWith(555), 'REQUIRETLS is not offered');
});

test('RCPT TO: NOTIFY and ORCPT kept, bad ORCPT is 501, an unknown parameter 555', () => {
  assert.equal(readRcptParameters(address({})), undefined);
  assert.deepEqual(readRcptParameters(address({ NOTIFY: 'success,failure', ORCPT: 'rfc822;b@y' }, { notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;b@y' })), { notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;b@y' });
  assert.throws(() => readRcptParameters(address({ NOTIFY: 'NEVER,DELAY' }, { notify: ['NEVER', 'DELAY'] })), refusedWith(501));
  for (const orcpt of ['rfc822', ';b@y', 'rfc 822;b@y', `rfc822;${'b'.repeat(500)}`, 'rfc822;b\xe9@y']) {
    assert.throws(() => readRcptParameters(address({ ORCPT: orcpt }, { orcpt })), refusedWith(501), orcpt);
  }
  assert.throws(() => readRcptParameters(address({ XFOO: '1' })), refusedWith(555));
});
