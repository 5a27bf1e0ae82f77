// RFC 3461 DSN requests through the queue: which notices the sender gets (NOTIFY), what they return
// (RET), what they echo (ENVID, ORCPT), what a next hop is told, and spool files from before DSN support.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { buildDsn, type DsnInput } from '../../../src/queue/dsn.ts';
import { inheritedRequest, wantsNotice } from '../../../src/queue/dsn-policy.ts';
import { encodeHeader } from '../../../src/queue/spool-format.ts';
import { envelope, message, queueRig, T0 } from './helpers.ts';

const MIN = 60_000;
const BODY_MARKER = 'BODY-MARKER-7f3a';
const original = message('dsn', `${BODY_MARKER}\r\n`);

function dsnInput(over: Partial<DsnInput> = {}): DsnInput {
  return {
    kind: 'failure',
    hostname: 'gw.test',
    queueId: 'q1',
    envelope: envelope({ rcptTo: ['b@dest.test'], envid: 'env-1', rcptDsn: { 'b@dest.test': { notify: ['FAILURE'], orcpt: 'rfc822;B@Dest.Test' } } }),
    recipients: [{ recipient: 'b@dest.test', action: 'failed', reply: { code: 550, enhanced: '5.1.1', text: 'no such user' } }],
    original,
    now: T0,
    ...over,
  };
}

test('buildDsn: RET=HDRS returns the headers only, RET=FULL the whole message; ENVID and ORCPT come back', () => {
  const hdrs = buildDsn(dsnInput({ envelope: { ...dsnInput().envelope, ret: 'HDRS' } })).message.toString('latin1');
  assert.match(hdrs, /^Content-Type: text\/rfc822-headers$/m);
  assert.match(hdrs, /^Subject: dsn$/m);
  assert.ok(!hdrs.includes(BODY_MARKER), 'no body with RET=HDRS');
  assert.doesNotMatch(hdrs, /message\/rfc822/);
  // RFC 3464 §2.2.1 and §2.3.1.
  assert.match(hdrs, /^Original-Envelope-Id: env-1$/m);
  assert.match(hdrs, /^Original-Recipient: rfc822;B@Dest\.Test\r\nFinal-Recipient: rfc822; b@dest\.test\r\nAction: failed\r\nStatus: 5\.1\.1$/m);

  const full = buildDsn(dsnInput({ envelope: { ...dsnInput().envelope, ret: 'FULL' } })).message.toString('latin1');
  assert.match(full, /^Content-Type: message\/rfc822$/m);
  assert.doesNotMatch(full, /text\/rfc822-headers/);
  assert.ok(full.includes(`Subject: dsn\r\nMessage-ID: <dsn@origin.test>\r\n\r\n${BODY_MARKER}\r\n\r\n--`), 'the message whole, then the closing boundary');

  const unasked = buildDsn(dsnInput({ envelope: envelope({ rcptTo: ['b@dest.test'] }) })).message.toString('latin1');
  assert.ok(!unasked.includes(BODY_MARKER), 'no RET: headers only, as before DSN support');
  assert.doesNotMatch(unasked, /Original-(Recipient|Envelope-Id)/);
});

test('buildDsn: success and delay notices return headers only even with RET=FULL; a DSN asks for no DSN', () => {
  const env = { ...dsnInput().envelope, ret: 'FULL' as const };
  const success = buildDsn(dsnInput({ kind: 'success', envelope: env, recipients: [{ recipient: 'b@dest.test', action: 'relayed', reply: { code: 250, text: 'ok' }, remoteMta: 'mx.dest.test' }] }));
  const text = success.message.toString('latin1');
  assert.match(text, /^Subject: Successful Mail Delivery Report$/m);
  assert.match(text, /^Action: relayed\r\nStatus: 2\.0\.0\r\nRemote-MTA: dns; mx\.dest\.test$/m);
  assert.ok(!text.includes(BODY_MARKER), 'RFC 3461 §4.3: RET applies to failures only');
  const delay = buildDsn(dsnInput({ kind: 'delay', envelope: env, recipients: [{ recipient: 'b@dest.test', action: 'delayed', reply: { code: 451, text: 'later' } }], expiresAt: T0 + MIN }));
  assert.ok(!delay.message.toString('latin1').includes(BODY_MARKER));
  // RFC 3461 §6.1: null reverse path, no RET, NOTIFY=NEVER.
  assert.deepEqual([success.envelope.mailFrom, success.envelope.rcptTo, success.envelope.ret], ['', ['sender@origin.test'], undefined]);
  assert.deepEqual(success.envelope.rcptDsn, { 'sender@origin.test': { notify: ['NEVER'] } });
});

test('wantsNotice: NEVER silences, a list is exact, no NOTIFY means failure and delay; aliases pass requests on', () => {
  const env = envelope({
    rcptDsn: { never: { notify: ['NEVER'] }, succ: { notify: ['SUCCESS'] }, fd: { notify: ['FAILURE', 'DELAY'] }, orcptOnly: { orcpt: 'rfc822;x@y' } },
  });
  const table = ['never', 'succ', 'fd', 'orcptOnly', 'absent'].map((r) => [r, wantsNotice(env, r, 'failure'), wantsNotice(env, r, 'delay'), wantsNotice(env, r, 'success')]);
  assert.deepEqual(table, [
    ['never', false, false, false],
    ['succ', false, false, true],
    ['fd', true, true, false],
    ['orcptOnly', true, true, false],
    ['absent', true, true, false],
  ]);
  // RFC 3461 §5.2.7: one target keeps NOTIFY; several lose SUCCESS (the alias reports "expanded").
  const alias = envelope({ rcptDsn: { 'team@x.test': { notify: ['SUCCESS', 'FAILURE'] }, 'solo@x.test': { notify: ['SUCCESS'] } } });
  assert.deepEqual(inheritedRequest(alias, 'team@x.test', 1), { notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;team@x.test' });
  assert.deepEqual(inheritedRequest(alias, 'team@x.test', 3), { notify: ['FAILURE'], orcpt: 'rfc822;team@x.test' });
  assert.deepEqual(inheritedRequest(alias, 'solo@x.test', 2), { notify: ['NEVER'], orcpt: 'rfc822;solo@x.test' });
});

test('NOTIFY=NEVER and NOTIFY without FAILURE get no bounce; the others get one, RET=HDRS', async (t) => {
  const rig = await queueRig(t);
  for (const r of ['never@dest.test', 'success-only@dest.test', 'plain@dest.test', 'failure@dest.test']) rig.sink.rule({ stage: 'rcpt', rcpt: r, code: 550, text: '5.1.1 no such user' });
  const rcptDsn = { 'never@dest.test': { notify: ['NEVER' as const] }, 'success-only@dest.test': { notify: ['SUCCESS' as const] }, 'failure@dest.test': { notify: ['FAILURE' as const] } };
  await rig.spool.enqueue(envelope({ rcptTo: Object.keys(rcptDsn).concat('plain@dest.test'), rcptDsn, ret: 'HDRS' }), original);
  await rig.scheduler.runDue();
  assert.equal(rig.scheduler.size(), 0);
  const bounces = rig.sink.messages.filter((m) => m.mailFrom === '');
  assert.equal(bounces.length, 1);
  const finals = [...(bounces[0]?.raw.toString('latin1') ?? '').matchAll(/^Final-Recipient: rfc822; (\S+)$/gm)].map((m) => m[1]);
  assert.deepEqual(finals, ['failure@dest.test', 'plain@dest.test']);
  assert.ok(!bounces[0]?.raw.toString('latin1').includes(BODY_MARKER));

  // Only NEVER recipients failing: no bounce at all.
  rig.sink.rule({ stage: 'rcpt', rcpt: 'never2@dest.test', code: 550 });
  await rig.spool.enqueue(envelope({ rcptTo: ['never2@dest.test'], rcptDsn: { 'never2@dest.test': { notify: ['NEVER'] } } }), original);
  await rig.scheduler.runDue();
  assert.equal(rig.scheduler.size(), 0);
  assert.equal(rig.sink.messages.filter((m) => m.mailFrom === '').length, 1, 'still the one bounce');
});

test('NOTIFY=DELAY alone: a delay warning and no bounce; NOTIFY=FAILURE alone: a bounce and no warning', async (t) => {
  const rig = await queueRig(t, { queue: { delay_warning: '30m', max_age: '2h', retry_max: '20m' } });
  for (const r of ['d@dest.test', 'f@dest.test']) rig.sink.rule({ stage: 'rcpt', rcpt: r, code: 451, text: '4.2.0 busy' });
  await rig.spool.enqueue(envelope({ rcptTo: ['d@dest.test', 'f@dest.test'], rcptDsn: { 'd@dest.test': { notify: ['DELAY'] }, 'f@dest.test': { notify: ['FAILURE'] } } }), original);
  await rig.scheduler.runDue();
  for (let i = 0; i < 20 && rig.scheduler.size() > 0; i++) {
    rig.clock.advance(20 * MIN);
    await rig.scheduler.runDue();
  }
  assert.equal(rig.scheduler.size(), 0);
  const notices = rig.sink.messages.map((m) => m.raw.toString('latin1'));
  assert.equal(notices.length, 2, 'one warning, one bounce');
  const [warning, bounce] = notices;
  assert.match(warning ?? '', /^Final-Recipient: rfc822; d@dest\.test\r\nAction: delayed$/m);
  assert.doesNotMatch(warning ?? '', /f@dest\.test\r\nAction/);
  assert.match(bounce ?? '', /^Final-Recipient: rfc822; f@dest\.test\r\nAction: failed$/m);
  assert.doesNotMatch(bounce ?? '', /d@dest\.test\r\nAction/);
});

const DSN_ENVELOPE = envelope({
  rcptTo: ['b@dest.test', 'c@dest.test'],
  ret: 'HDRS',
  envid: 'id+1=2 x',
  rcptDsn: { 'b@dest.test': { notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;b+tag=1@dest.test' } },
});

test('a next hop that offers DSN gets RET, ENVID, NOTIFY and ORCPT (xtext) and owes the success notice', async (t) => {
  const rig = await queueRig(t, { sink: { dsn: true } });
  await rig.spool.enqueue(DSN_ENVELOPE, original);
  await rig.scheduler.runDue();
  assert.equal(rig.sink.messages.length, 1, 'no success notice from us');
  const got = rig.sink.messages[0];
  assert.deepEqual(got?.mailParams, { SIZE: String(original.length), RET: 'HDRS', ENVID: 'id+1=2 x' });
  assert.deepEqual(got?.rcptParams, { 'b@dest.test': { NOTIFY: 'SUCCESS,FAILURE', ORCPT: 'rfc822;b+tag=1@dest.test' }, 'c@dest.test': {} });
});

test('a next hop without DSN gets no DSN parameters; NOTIFY=SUCCESS gets a "relayed" notice (LMTP: "delivered")', async (t) => {
  for (const lmtp of [false, true]) {
    const rig = await queueRig(t, { sink: { lmtp } });
    await rig.spool.enqueue(DSN_ENVELOPE, original);
    await rig.scheduler.runDue();
    await rig.sink.waitForMessages(2);
    const [delivered, notice] = rig.sink.messages;
    assert.deepEqual(delivered?.mailParams, { SIZE: String(original.length) });
    assert.deepEqual(delivered?.rcptParams, { 'b@dest.test': {}, 'c@dest.test': {} });
    assert.equal(notice?.mailFrom, '');
    const text = notice?.raw.toString('latin1') ?? '';
    assert.match(text, /^Subject: Successful Mail Delivery Report$/m);
    assert.match(text, /^Original-Envelope-Id: id\+1=2 x$/m);
    assert.match(text, new RegExp(`^Original-Recipient: rfc822;b\\+tag=1@dest\\.test\\r\\nFinal-Recipient: rfc822; b@dest\\.test\\r\\nAction: ${lmtp ? 'delivered' : 'relayed'}\\r\\nStatus: 2\\.`, 'm'));
    assert.doesNotMatch(text, /c@dest\.test\r\nAction/, 'c@ did not ask');
  }
});

test('spool files written before DSN support load, deliver and bounce as before', async (t) => {
  const id = `${T0.toString(36).padStart(9, '0')}-00001-abcdef`;
  const old = { mailFrom: 'sender@origin.test', rcptTo: ['ok@dest.test', 'bad@dest.test'], sessionId: 'old1', clientIp: '192.0.2.1', receivedAt: T0, verdict: { action: 'accept', score: 0, junkRecipients: [] } };
  const rig = await queueRig(t, {
    sink: { dsn: true },
    beforeOpen: async (dir, sink) => {
      sink.rule({ stage: 'rcpt', rcpt: 'bad@dest.test', code: 550, text: '5.1.1 no such user' });
      await mkdir(path.join(dir, 'msg'), { recursive: true });
      // Written byte for byte as the previous version did (SGQ1, JSON envelope without ret/rcptDsn).
      const json = JSON.stringify(old);
      await writeFile(path.join(dir, 'msg', `${id}.msg`), Buffer.concat([Buffer.from(`SGQ1 ${Buffer.byteLength(json)}\n${json}\n`), original]));
      assert.ok(encodeHeader(envelope()).toString().startsWith('SGQ1 '), 'same framing as today');
    },
  });
  await rig.scheduler.runDue();
  assert.equal(rig.scheduler.size(), 0);
  const [delivered, bounce] = rig.sink.messages;
  assert.deepEqual(delivered?.rcptTo, ['ok@dest.test']);
  assert.deepEqual(delivered?.mailParams, { SIZE: String(original.length) }, 'no DSN parameters invented');
  assert.deepEqual(delivered?.rcptParams, { 'ok@dest.test': {} });
  assert.equal(bounce?.mailFrom, '');
  const text = bounce?.raw.toString('latin1') ?? '';
  assert.match(text, /^Final-Recipient: rfc822; bad@dest\.test\r\nAction: failed$/m);
  assert.doesNotMatch(text, /Original-Recipient|Original-Envelope-Id/);
  assert.ok(!text.includes(BODY_MARKER), 'headers only, as before');
  assert.deepEqual(bounce?.rcptParams, { 'sender@origin.test': { NOTIFY: 'NEVER' } }, 'RFC 3461 §6.1');
});

test('a long multi-line reply is cut so every line of the notice stays under 998 octets (RFC 5322 §2.1.1)', () => {
  const text = Array.from({ length: 20 }, (_, i) => `line ${i} ${'explanation '.repeat(35)}`).join('\r\n');
  for (const global of [false, true]) {
    const env = global ? { ...dsnInput().envelope, smtputf8: true, rcptTo: ['jörg@dest.test'] } : { ...dsnInput().envelope, rcptTo: [`${'b'.repeat(64)}@${'d'.repeat(60)}.${'e'.repeat(60)}.${'f'.repeat(60)}.test`] };
    // a long (valid) address takes its share of the line too
    const recipient = global ? 'jörg@dest.test' : `${'b'.repeat(64)}@${'d'.repeat(60)}.${'e'.repeat(60)}.${'f'.repeat(60)}.test`;
    const reply = { code: 550, enhanced: '5.7.1', text: global ? text.replace(/explanation/g, 'Erklärung') : text };
    const dsn = buildDsn(dsnInput({ envelope: env, recipients: [{ recipient, action: 'failed', reply }] })).message;
    const lines = dsn.toString('latin1').split('\r\n');
    assert.ok(lines.every((l) => l.length <= 998), `longest line ${Math.max(...lines.map((l) => l.length))} octets`);
    assert.match(dsn.toString('utf8'), /^Diagnostic-Code: X-Spamgate; 550 5\.7\.1 line 0 .* \[\.\.\.\]$/m);
  }
});

test('Diagnostic-Code is of type smtp only for the reply of a remote MTA (RFC 3464 §2.3.6), and Remote-MTA names an address as a literal', () => {
  const reply = { code: 550, enhanced: '5.1.1', text: 'no such user' };
  const cases = [
    { remoteMta: 'mx.dest.test', mta: /^Remote-MTA: dns; mx\.dest\.test\r\nDiagnostic-Code: smtp; 550 5\.1\.1 no such user$/m },
    { remoteMta: '127.0.0.1', mta: /^Remote-MTA: dns; \[127\.0\.0\.1\]\r\nDiagnostic-Code: smtp; /m },
    { remoteMta: '2001:db8::25', mta: /^Remote-MTA: dns; \[IPv6:2001:db8::25\]\r\nDiagnostic-Code: smtp; /m },
    { remoteMta: undefined, mta: /^Status: 5\.1\.1\r\nDiagnostic-Code: X-Spamgate; 550 5\.1\.1 no such user$/m },
  ];
  for (const c of cases) {
    const recipient = { recipient: 'rcpt@dest.test', action: 'failed' as const, reply, ...(c.remoteMta ? { remoteMta: c.remoteMta } : {}) };
    const text = buildDsn(dsnInput({ recipients: [recipient] })).message.toString('utf8');
    assert.match(text, c.mta, c.remoteMta ?? 'local');
  }
});

test('buildDsn: a notice about our own outgoing mail returns it without X-Spamgate-* fields (its sender may be at another domain)', () => {
  const withFields = Buffer.concat([Buffer.from('X-Spamgate-Result: accept; score=1.00; id=sess1\r\n\tBAYES_HAM(-1.00)[p=0.01]\r\nx-spamgate-reputation: ip=1.2.3.0/24\r\n', 'latin1'), original]);
  for (const ret of ['FULL', 'HDRS'] as const) {
    const outgoing = buildDsn(dsnInput({ original: withFields, envelope: { ...dsnInput().envelope, ret, outgoing: true } })).message.toString('latin1');
    assert.doesNotMatch(outgoing, /^x-spamgate-(result|reputation):/im, ret);
    assert.match(outgoing, /^Subject: dsn$/m, ret);
    // received mail: returned as it came to us (unchanged)
    const received = buildDsn(dsnInput({ original: withFields, envelope: { ...dsnInput().envelope, ret } })).message.toString('latin1');
    assert.match(received, /^X-Spamgate-Result: accept; score=1\.00; id=sess1$/m, ret);
  }
});
