// ESMTP parameters both ways: what the gateway takes on MAIL/RCPT (RFC 3461 §4, 555 for the rest)
// and what the next-hop client sends (xtext, only to a next hop that offers the extension), and the
// RFC 6533 utf-8 address type both ways.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SMTPServerAddress } from 'smtp-server';
import { readMailParameters, readRcptParameters } from '../../../src/smtp/esmtp-params.ts';
import { mailParameters, rcptParameters, smtpUtf8Refusal, xtextEncode } from '../../../src/smtp/next-hop-params.ts';
import { SmtpError } from '../../../src/smtp/smtp-error.ts';
import { decodeUtf8Addr, encodeUtf8AddrUnitext, encodeUtf8AddrXtext } from '../../../src/smtp/utf8-addr.ts';

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
  // the limit is on the xtext value that goes on to the next hop: "=" is "+3D" there
  assert.equal(readMailParameters(address({ ENVID: `${'='.repeat(33)}x` })).envid, `${'='.repeat(33)}x`);
  assert.throws(() => readMailParameters(address({ ENVID: '='.repeat(34) })), refusedWith(501));
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
  // the limit is on the value as it goes on (xtext): "=" is "+3D" there
  const fits = `rfc822;${'='.repeat(163)}@y`;
  assert.equal(readRcptParameters(address({ ORCPT: fits }, { orcpt: fits }))?.orcpt, fits);
  const over = `rfc822;${'='.repeat(164)}@y`;
  assert.throws(() => readRcptParameters(address({ ORCPT: over }, { orcpt: over })), refusedWith(501), 'encoded past 500');
  assert.throws(() => readRcptParameters(address({ XFOO: '1' })), refusedWith(555));
});

test('ORCPT rfc822 with UTF-8 octets in xtext, as a widespread MTA sends it, is taken as the utf-8 address', () => {
  // "rfc822;j+C3+B6rg@example.org" on the wire; smtp-server hands over one character per decoded octet
  const orcpt = 'rfc822;j\xc3\xb6rg@example.org';
  for (const smtputf8 of [true, false]) assert.deepEqual(readRcptParameters(address({ ORCPT: orcpt }, { orcpt }), smtputf8), { orcpt: 'utf-8;jörg@example.org' });
  assert.equal(rcptParameters(new Set(['DSN']), { orcpt: 'utf-8;jörg@example.org' }), ' ORCPT=utf-8;j\\x{F6}rg@example.org', 'goes on in the RFC 6533 form');
  // not UTF-8, a control character, or another address type: still malformed
  for (const bad of ['rfc822;j\xc3rg@example.org', 'rfc822;j\xc2\x85rg@example.org', 'x-other;j\xc3\xb6rg@example.org']) {
    assert.throws(() => readRcptParameters(address({ ORCPT: bad }, { orcpt: bad }), true), refusedWith(501), bad);
  }
});

test('ORCPT utf-8 type (RFC 6533 §3): xtext form always, unitext with SMTPUTF8, 553 without, 501 when malformed', () => {
  const rcpt = (orcpt: string, smtputf8: boolean) => readRcptParameters(address({ ORCPT: orcpt }, { orcpt }), smtputf8);
  assert.deepEqual(rcpt('utf-8;j\\x{F6}rg\\x{2B}1@example.org', false), { orcpt: 'utf-8;jörg+1@example.org' });
  assert.deepEqual(rcpt('UTF-8;j\\x{F6}rg@example.org', true), { orcpt: 'utf-8;jörg@example.org' });
  assert.deepEqual(rcpt('utf-8;jörg@exämple.org', true), { orcpt: 'utf-8;jörg@exämple.org' });
  assert.deepEqual(rcpt('utf-8;用户\\x{1F600}@例子.测试', true), { orcpt: 'utf-8;用户😀@例子.测试' });
  assert.throws(() => rcpt('utf-8;jörg@example.org', false), (err: unknown) => err instanceof SmtpError && err.code === 553 && err.enhanced === '5.6.7');
  for (const bad of [
    'utf-8;j\\x{f6}rg@x.test', // lower-case hex
    'utf-8;j\\x{41}rg@x.test', // an ASCII letter escaped
    'utf-8;j\\x{00F6}rg@x.test', // leading zero
    'utf-8;j\\x{D800}@x.test', // surrogate
    'utf-8;j\\x{110000}@x.test', // past Unicode
    'utf-8;j\\x{F6rg@x.test', // unterminated
    'utf-8;a+b@x.test', // "+" is not a QCHAR
    'utf-8;a b@x.test', // space
    'utf-8;nobody', // not a mailbox
    'utf-8;@x.test',
    'rfc822;jörg@x.test', // rfc822 stays ASCII
  ]) {
    assert.throws(() => rcpt(bad, true), refusedWith(501), bad);
  }
});

test('utf-8 addresses round-trip; the next hop gets SMTPUTF8 when offered and ORCPT as utf-8-addr-xtext', () => {
  const mailbox = 'jörg+1 x\\y=@例子.测试';
  assert.equal(encodeUtf8AddrXtext(mailbox), 'j\\x{F6}rg\\x{2B}1\\x{20}x\\x{5C}y\\x{3D}@\\x{4F8B}\\x{5B50}.\\x{6D4B}\\x{8BD5}');
  assert.equal(encodeUtf8AddrUnitext(mailbox), 'jörg\\x{2B}1\\x{20}x\\x{5C}y\\x{3D}@例子.测试');
  assert.equal(decodeUtf8Addr(encodeUtf8AddrXtext(mailbox), false), mailbox);
  assert.equal(decodeUtf8Addr(encodeUtf8AddrUnitext(mailbox), true), mailbox);
  assert.equal(decodeUtf8Addr(encodeUtf8AddrUnitext(mailbox), false), undefined, 'unitext needs SMTPUTF8');
  const msg = Buffer.from('Subject: x\r\n\r\nx\r\n');
  assert.equal(mailParameters(new Set(['SMTPUTF8']), msg, { smtputf8: true }), ' SMTPUTF8');
  assert.equal(mailParameters(new Set(['SIZE']), msg, { smtputf8: true }), ` SIZE=${msg.length}`, 'not offered: not sent');
  assert.equal(mailParameters(new Set(['SMTPUTF8']), msg, {}), '');
  assert.equal(rcptParameters(new Set(['DSN']), { orcpt: 'utf-8;jörg+1@x.test' }), ' ORCPT=utf-8;j\\x{F6}rg\\x{2B}1@x.test');
});

test('smtpUtf8Refusal: non-ASCII addresses 553 5.6.7, UTF-8 header fields 550 5.6.9, a UTF-8 body alone passes', () => {
  const msg = (head: string, body = 'ascii body'): Buffer => Buffer.from(`${head}\r\n\r\n${body}\r\n`, 'utf8');
  assert.equal(smtpUtf8Refusal('jörg@example.org', ['a@example.net'], msg('Subject: x'))?.enhanced, '5.6.7');
  assert.equal(smtpUtf8Refusal('a@example.org', ['a@exämple.net'], msg('Subject: x'))?.code, 553);
  const header = smtpUtf8Refusal('a@example.org', ['b@example.net'], msg('Subject: Grüße'));
  assert.deepEqual([header?.code, header?.enhanced], [550, '5.6.9']);
  assert.equal(smtpUtf8Refusal('a@example.org', ['b@example.net'], msg('Subject: plain', 'Grüße im Text')), undefined);
  assert.equal(smtpUtf8Refusal('', ['b@example.net'], msg('Subject: plain')), undefined);
  assert.equal(smtpUtf8Refusal('a@example.org', ['b@example.net'], Buffer.from('\r\nGrüße, no header fields\r\n')), undefined);
  assert.equal(smtpUtf8Refusal('a@example.org', ['b@example.net'], Buffer.from('Subject: Grüße\n\nLF only\n'))?.enhanced, '5.6.9');
});
