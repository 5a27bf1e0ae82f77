// RFC 6533 notices for SMTPUTF8 messages (message/global-delivery-status, message/global(-headers),
// utf-8 address types, sent with SMTPUTF8) and the queue.return_full_max_size limit on RET=FULL.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configSchema } from '../../../src/config/schema.ts';
import { buildDsn, DEFAULT_RETURN_FULL_MAX_BYTES, type DsnInput } from '../../../src/queue/dsn.ts';
import { inheritedRequest } from '../../../src/queue/dsn-policy.ts';
import { envelope, queueRig, T0 } from './helpers.ts';

const BODY_MARKER = 'BODY-MARKER-u8u8';
const utf8Message = Buffer.from(`From: <jörg@origin.test>\r\nTo: <gøne@dest.test>\r\nSubject: Grüße\r\nMessage-ID: <u8@origin.test>\r\n\r\n${BODY_MARKER} ünïcode\r\n`, 'utf8');
const u8env = envelope({ mailFrom: 'jörg@origin.test', rcptTo: ['gøne@dest.test'], smtputf8: true, rcptDsn: { 'gøne@dest.test': { notify: ['FAILURE'], orcpt: 'utf-8;gøne+x@dest.test' } } });

function input(over: Partial<DsnInput> = {}): DsnInput {
  return {
    kind: 'failure',
    hostname: 'gw.test',
    queueId: 'q1',
    envelope: u8env,
    recipients: [{ recipient: 'gøne@dest.test', action: 'failed', reply: { code: 550, enhanced: '5.1.1', text: 'no such user' } }],
    original: utf8Message,
    now: T0,
    ...over,
  };
}

test('an SMTPUTF8 message gets an RFC 6533 notice: global report, utf-8 addresses, message/global-headers', () => {
  const dsn = buildDsn(input({ envelope: { ...u8env, ret: 'HDRS' } }));
  const text = dsn.message.toString('utf8');
  assert.match(text, /^Content-Type: multipart\/report; report-type=global-delivery-status; boundary=/m);
  assert.match(text, /^To: <jörg@origin\.test>$/m, 'RFC 6532: the address as it is');
  assert.match(text, /^Content-Type: text\/plain; charset=utf-8\r\nContent-Description: Notification\r\nContent-Transfer-Encoding: 8bit$/m);
  assert.match(text, /^Content-Type: message\/global-delivery-status\r\nContent-Description: Delivery report\r\nContent-Transfer-Encoding: 8bit$/m);
  // RFC 6533 §3: utf-8-addr-unitext keeps the UTF-8 and escapes "+" (not a QCHAR).
  assert.match(text, /^Original-Recipient: utf-8; gøne\\x\{2B\}x@dest\.test\r\nFinal-Recipient: utf-8; gøne@dest\.test\r\nAction: failed\r\nStatus: 5\.1\.1$/m);
  assert.match(text, /^Content-Type: message\/global-headers\r\nContent-Description: Undelivered message headers\r\nContent-Transfer-Encoding: 8bit\r\n\r\nFrom: <jörg@origin\.test>/m);
  assert.match(text, /^Subject: Grüße$/m);
  assert.ok(!text.includes(BODY_MARKER), 'RET=HDRS: headers only');
  assert.doesNotMatch(text, /message\/delivery-status|text\/rfc822-headers|message\/rfc822/);
  assert.deepEqual([dsn.envelope.mailFrom, dsn.envelope.rcptTo, dsn.envelope.smtputf8], ['', ['jörg@origin.test'], true]);

  const full = buildDsn(input({ envelope: { ...u8env, ret: 'FULL' } })).message.toString('utf8');
  assert.match(full, /^Content-Type: message\/global\r\nContent-Description: Undelivered message\r\nContent-Transfer-Encoding: 8bit$/m);
  assert.ok(full.includes(`${BODY_MARKER} ünïcode\r\n`), 'RET=FULL: the message whole');
});

test('ASCII addresses without SMTPUTF8 keep the RFC 3464 notice; a non-ASCII address alone makes it global', () => {
  const plain = buildDsn(input({ envelope: envelope({ rcptTo: ['b@dest.test'] }), recipients: [{ recipient: 'b@dest.test', action: 'failed', reply: { code: 550, text: 'no' } }], original: Buffer.from('Subject: x\r\n\r\nbody\r\n') }));
  const text = plain.message.toString('latin1');
  assert.match(text, /report-type=delivery-status;/);
  assert.match(text, /^Content-Type: message\/delivery-status$/m);
  assert.equal(plain.envelope.smtputf8, undefined);
  const noFlag = buildDsn(input({ envelope: { ...u8env, smtputf8: undefined } }));
  assert.equal(noFlag.envelope.smtputf8, true, 'non-ASCII addresses need SMTPUTF8 all the same');
  assert.match(noFlag.message.toString('utf8'), /^Content-Type: message\/global-delivery-status/m);
  // An alias with a non-ASCII name becomes a utf-8 ORCPT for its targets (RFC 6533 §3).
  assert.deepEqual(inheritedRequest(envelope(), 'tëam@x.test', 2), { orcpt: 'utf-8;tëam@x.test' });
});

test('through the queue: the SMTPUTF8 message and its bounce both go with SMTPUTF8 to a next hop that offers it', async (t) => {
  const rig = await queueRig(t);
  rig.sink.rule({ stage: 'rcpt', rcpt: 'gøne@dest.test', code: 550, text: '5.1.1 no such user' });
  await rig.spool.enqueue({ ...u8env, rcptTo: ['ok@dest.test', 'gøne@dest.test'] }, utf8Message);
  await rig.scheduler.runDue();
  await rig.sink.waitForMessages(2);
  const [copy, bounce] = rig.sink.messages;
  assert.equal(copy?.mailParams.SMTPUTF8, true, 'RFC 6531: the message goes on with SMTPUTF8');
  assert.deepEqual([bounce?.mailFrom, bounce?.rcptTo, bounce?.mailParams.SMTPUTF8], ['', ['jörg@origin.test'], true]);
  assert.match(bounce?.raw.toString('utf8') ?? '', /^Final-Recipient: utf-8; gøne@dest\.test$/m);
});

test('queue.return_full_max_size: default 10 MiB; a RET=FULL message above the limit comes back as headers', async (t) => {
  assert.equal(configSchema.parse({}).queue.return_full_max_size, DEFAULT_RETURN_FULL_MAX_BYTES);
  assert.equal(DEFAULT_RETURN_FULL_MAX_BYTES, 10 * 1024 * 1024);
  assert.equal(configSchema.parse({ queue: { return_full_max_size: '2k' } }).queue.return_full_max_size, 2048);
  assert.throws(() => configSchema.parse({ queue: { return_full_max_size: 'lots' } }), /expected a size/);

  const rig = await queueRig(t, { queue: { return_full_max_size: '1k' } });
  rig.sink.rule({ stage: 'rcpt', rcpt: 'gone@dest.test', code: 550, text: '5.1.1 no such user' });
  const small = Buffer.from(`Subject: small\r\n\r\n${BODY_MARKER}\r\n`);
  const big = Buffer.from(`Subject: big\r\n\r\n${BODY_MARKER}\r\n${'x'.repeat(1100)}\r\n`);
  for (const msg of [small, big]) await rig.spool.enqueue(envelope({ rcptTo: ['gone@dest.test'], ret: 'FULL' }), msg);
  await rig.scheduler.runDue();
  await rig.sink.waitForMessages(2);
  const bySubject = (s: string): string => rig.sink.messages.map((m) => m.raw.toString('latin1')).find((r) => r.includes(`Subject: ${s}\r\n`)) ?? '';
  assert.match(bySubject('small'), /^Content-Type: message\/rfc822$/m);
  assert.ok(bySubject('small').includes(BODY_MARKER), 'within the limit: whole');
  assert.match(bySubject('big'), /^Content-Type: text\/rfc822-headers$/m);
  assert.ok(!bySubject('big').includes(BODY_MARKER), 'over the limit: headers only');
});
