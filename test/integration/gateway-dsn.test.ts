// Delivery status notifications (RFC 3461 / RFC 3464) end to end over real sockets: python smtplib
// sends RET/ENVID/NOTIFY/ORCPT, the gateway keeps them through the spool and passes them to a next
// hop that offers DSN, or honours them itself: bounces, success notices, RET, and the 501/555 replies;
// RFC 6533 notices for SMTPUTF8 mail and utf-8 ORCPTs; notices of inline mode counted in metrics.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { runPython } from '../helpers/python.ts';
import { startSink, type SinkMessage, type SinkServer } from '../helpers/sink-server.ts';
import { SmtpWire } from '../helpers/smtp-wire.ts';

const BODY_MARKER = 'BODY-MARKER-51c2';
const MSG = `From: a@remote.example\r\nTo: user@relay.example\r\nSubject: dsn test\r\n\r\n${BODY_MARKER}\r\n`;

interface Send {
  from: string;
  mailOptions?: string[];
  rcpts: { to: string; options?: string[] }[];
  message?: string;
}

/** python3 smtplib with per-recipient RCPT options; returns whether DSN was offered and every reply code. */
const SEND = `
import smtplib, json, sys
spec = json.loads(sys.argv[2])
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='client.test.example')
s.ehlo()
out = {'dsn': s.has_extn('dsn'), 'rcpt': []}
out['mail'] = s.mail(spec['from'], spec.get('mailOptions', []))[0]
for r in spec['rcpts']:
    out['rcpt'].append(s.rcpt(r['to'], r.get('options', []))[0])
code, msg = s.data(spec['message'].encode('utf-8'))
out['data'] = [code, msg.decode()]
s.quit()
print(json.dumps(out))
`;

async function send(port: number, spec: Send): Promise<{ dsn: boolean; mail: number; rcpt: number[]; data: [number, string]; queueId: string }> {
  const out = await runPython<{ dsn: boolean; mail: number; rcpt: number[]; data: [number, string] }>(SEND, [String(port), JSON.stringify({ message: MSG, ...spec })]);
  return { ...out, queueId: /queued as (\S+)/.exec(out.data[1])?.[1] ?? '' };
}

function frontOf(upstreamPort: number): Record<string, unknown> {
  return {
    mode: 'front-of',
    local_domains: ['relay.example'],
    delivery: { upstream: { host: '127.0.0.1', port: upstreamPort } },
    queue: { retry_initial: '200ms', retry_max: '400ms', scan_interval: '100ms' },
  };
}

/** Waits for a log line (the queue logs each message it finishes). */
async function logged(gw: RunningGateway, msg: string, id: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!gw.logs.some((l) => l.msg === msg && l.id === id)) {
    if (Date.now() > deadline) throw new Error(`no "${msg}" logged for ${id}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const notices = (sink: SinkServer): SinkMessage[] => sink.messages.filter((m) => m.mailFrom === '');
const text = (m: SinkMessage | undefined): string => m?.raw.toString('latin1') ?? '';

test('EHLO offers DSN on the MX and submission listeners', async (t) => {
  const gw = await startGateway(t);
  for (const port of [gw.smtpPort, gw.submissionPort ?? 0]) {
    const { wire } = await SmtpWire.open(port);
    t.after(() => wire.close());
    const ehlo = await wire.command('EHLO client.test.example');
    assert.ok(ehlo.lines.some((l) => l.slice(4) === 'DSN'), ehlo.lines.join('\n'));
  }
});

test('RET, ENVID, NOTIFY and ORCPT from smtplib reach a next hop that offers DSN; we send no notice', async (t) => {
  const sink = await startSink({ dsn: true });
  t.after(() => sink.close());
  const gw = await startGateway(t, frontOf(sink.port));
  const r = await send(gw.smtpPort, {
    from: 'a@remote.example',
    mailOptions: ['RET=HDRS', 'ENVID=abc+2B1'],
    rcpts: [{ to: 'b@relay.example', options: ['NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;b@relay.example'] }, { to: 'c@relay.example' }],
  });
  assert.deepEqual([r.dsn, r.mail, r.rcpt, r.data[0]], [true, 250, [250, 250], 250]);
  await logged(gw, 'message done', r.queueId);
  assert.equal(sink.messages.length, 1, 'the message and nothing else');
  const got = sink.messages[0];
  assert.equal(got?.mailParams.RET, 'HDRS');
  assert.equal(got?.mailParams.ENVID, 'abc+1', 'xtext decoded, kept, encoded again');
  assert.deepEqual(got?.rcptParams, { 'b@relay.example': { NOTIFY: 'SUCCESS,FAILURE', ORCPT: 'rfc822;b@relay.example' }, 'c@relay.example': {} });
});

test('a next hop without DSN: no DSN parameters to it, and NOTIFY=SUCCESS gets a "relayed" notice', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, frontOf(sink.port));
  const r = await send(gw.smtpPort, {
    from: 'a@remote.example',
    mailOptions: ['ENVID=env-42'],
    rcpts: [{ to: 'b@relay.example', options: ['NOTIFY=SUCCESS', 'ORCPT=rfc822;B@relay.example'] }, { to: 'c@relay.example' }],
  });
  assert.equal(r.data[0], 250);
  await sink.waitForMessages(2);
  const copy = sink.messages.find((m) => m.mailFrom === 'a@remote.example');
  assert.equal(copy?.mailParams.ENVID, undefined);
  assert.deepEqual(copy?.rcptParams, { 'b@relay.example': {}, 'c@relay.example': {} });
  const [notice, ...more] = notices(sink);
  assert.equal(more.length, 0);
  assert.deepEqual(notice?.rcptTo, ['a@remote.example']);
  const report = text(notice);
  assert.match(report, /^Subject: Successful Mail Delivery Report$/m);
  assert.match(report, /^Original-Envelope-Id: env-42$/m);
  assert.match(report, /^Original-Recipient: rfc822;B@relay\.example\r\nFinal-Recipient: rfc822; b@relay\.example\r\nAction: relayed\r\nStatus: 2\.\d\.\d\r\nRemote-MTA: dns; \[127\.0\.0\.1\]$/m);
  assert.doesNotMatch(report, /c@relay\.example\r\nAction/, 'c@ did not ask for it');
});

test('bounces honour NOTIFY and RET: NEVER gets none, RET=HDRS returns headers, RET=FULL the message', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  for (const r of ['never@relay.example', 'gone@relay.example']) sink.rule({ stage: 'rcpt', rcpt: r, code: 550, text: '5.1.1 no such user' });
  const gw = await startGateway(t, frontOf(sink.port));
  const hdrs = await send(gw.smtpPort, {
    from: 'sender@remote.example',
    mailOptions: ['RET=HDRS'],
    rcpts: [{ to: 'never@relay.example', options: ['NOTIFY=NEVER'] }, { to: 'gone@relay.example' }, { to: 'user@relay.example' }],
  });
  assert.equal(hdrs.data[0], 250);
  await logged(gw, 'message done', hdrs.queueId);
  await sink.waitForMessages(2); // user@'s copy, then the bounce, which goes out through the queue after it
  const [first] = notices(sink);
  assert.equal(notices(sink).length, 1);
  const finals = [...text(first).matchAll(/^Final-Recipient: rfc822; (\S+)$/gm)].map((m) => m[1]);
  assert.deepEqual(finals, ['gone@relay.example'], 'never@ asked for no notice');
  assert.match(text(first), /^Content-Type: text\/rfc822-headers$/m);
  assert.match(text(first), /^Subject: dsn test$/m);
  assert.ok(!text(first).includes(BODY_MARKER), 'RET=HDRS: headers only');

  const full = await send(gw.smtpPort, { from: 'sender@remote.example', mailOptions: ['RET=FULL'], rcpts: [{ to: 'gone@relay.example', options: ['NOTIFY=FAILURE'] }] });
  await logged(gw, 'message done', full.queueId);
  await sink.waitForMessages(3);
  const second = notices(sink)[1];
  assert.match(text(second), /^Content-Type: message\/rfc822$/m);
  assert.ok(text(second).includes(`Subject: dsn test\r\n\r\n${BODY_MARKER}\r\n`), 'RET=FULL: the message whole');

  const never = await send(gw.smtpPort, { from: 'sender@remote.example', rcpts: [{ to: 'never@relay.example', options: ['NOTIFY=NEVER'] }] });
  await logged(gw, 'message done', never.queueId);
  assert.equal(notices(sink).length, 2, 'no bounce for NOTIFY=NEVER');
  assert.ok(!gw.logs.some((l) => l.msg === 'bounce queued' && l.id === never.queueId));
});

const ZONES = {
  'remote.example': [{ MX: [10, 'mx.remote.example'] as [number, string] }],
  'mx.remote.example': [{ A: '127.0.0.1' }],
};

test('full stack: NOTIFY=SUCCESS local delivery sends "delivered", an alias "expanded"; MX hops get the parameters', async (t) => {
  const sink = await startSink({ dsn: true });
  t.after(() => sink.close());
  const gw = await startGateway(t, { aliases: { 'team@localhost': ['postmaster@localhost', 'carol@remote.example'] }, outbound: { port: sink.port } }, { zones: ZONES });
  const direct = await send(gw.smtpPort, {
    from: 'alice@remote.example',
    mailOptions: ['ENVID=direct-1'],
    rcpts: [
      { to: 'postmaster@localhost', options: ['NOTIFY=SUCCESS', 'ORCPT=rfc822;PM@localhost'] },
      { to: 'bob@remote.example', options: ['NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;bob@remote.example'] },
    ],
  });
  assert.equal(direct.data[0], 250);
  await sink.waitForMessages(2, 20_000);
  const bobCopy = sink.messages.find((m) => m.rcptTo.includes('bob@remote.example'));
  assert.equal(bobCopy?.mailParams.ENVID, 'direct-1');
  assert.deepEqual(bobCopy?.rcptParams['bob@remote.example'], { NOTIFY: 'SUCCESS,FAILURE', ORCPT: 'rfc822;bob@remote.example' });
  const delivered = notices(sink)[0];
  assert.deepEqual(delivered?.rcptTo, ['alice@remote.example'], 'the notice goes to the sender by MX');
  assert.deepEqual(delivered?.rcptParams['alice@remote.example'], { NOTIFY: 'NEVER' });
  assert.match(text(delivered), /^Original-Envelope-Id: direct-1$/m);
  assert.match(text(delivered), /^Original-Recipient: rfc822;PM@localhost\r\nFinal-Recipient: rfc822; postmaster@localhost\r\nAction: delivered\r\nStatus: 2\.0\.0$/m);
  assert.doesNotMatch(text(delivered), /bob@remote\.example\r\nAction/, 'bob\'s MX offers DSN: his notice is not ours');
  const inbox = path.join(gw.dataDir, 'mail', 'localhost', 'postmaster', 'Maildir');
  assert.equal(['new', 'cur'].reduce((n, d) => n + readdirSync(path.join(inbox, d)).length, 0), 1, 'delivered into the Maildir');

  const alias = await send(gw.smtpPort, { from: 'alice@remote.example', rcpts: [{ to: 'team@localhost', options: ['NOTIFY=SUCCESS,FAILURE'] }] });
  assert.equal(alias.data[0], 250);
  await sink.waitForMessages(4, 20_000);
  const carol = sink.messages.find((m) => m.rcptTo.includes('carol@remote.example'));
  // RFC 3461 §5.2.7.3: the members inherit NOTIFY without SUCCESS and the alias as ORCPT.
  assert.deepEqual(carol?.rcptParams['carol@remote.example'], { NOTIFY: 'FAILURE', ORCPT: 'rfc822;team@localhost' });
  const expanded = notices(sink)[1];
  assert.match(text(expanded), /^Final-Recipient: rfc822; team@localhost\r\nAction: expanded\r\nStatus: 2\.0\.0$/m);
});

test('malformed DSN parameters get 501, unknown ones 555, and the session goes on', async (t) => {
  const gw = await startGateway(t);
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  assert.equal((await wire.command('EHLO client.test.example')).code, 250);
  const codes: Array<[string, number]> = [];
  for (const line of [
    'MAIL FROM:<a@remote.example> RET=SOME',
    `MAIL FROM:<a@remote.example> ENVID=${'x'.repeat(101)}`,
    'MAIL FROM:<a@remote.example> XFOO=1',
    'MAIL FROM:<a@remote.example> RET=HDRS ENVID=ok-1',
    'RCPT TO:<postmaster@localhost> NOTIFY=BOGUS',
    'RCPT TO:<postmaster@localhost> NOTIFY=NEVER,SUCCESS',
    'RCPT TO:<postmaster@localhost> ORCPT=no-semicolon',
    'RCPT TO:<postmaster@localhost> XFOO=1',
    'RCPT TO:<postmaster@localhost> NOTIFY=FAILURE ORCPT=rfc822;postmaster@localhost',
  ]) {
    const reply = await wire.command(line);
    codes.push([line.slice(0, 60), reply.code]);
    if (reply.code >= 500) assert.match(reply.text, /^5\.5\.4 /, line);
  }
  assert.deepEqual(
    codes.map(([, c]) => c),
    [501, 501, 555, 250, 501, 501, 501, 555, 250],
    JSON.stringify(codes),
  );
  assert.equal((await wire.command('DATA')).code, 354);
  const done = await wire.command(`Subject: after errors\r\n\r\nstill here\r\n.`);
  assert.equal(done.code, 250, done.text);
  assert.deepEqual(gw.transactions().at(-1)?.rcpts, ['postmaster@localhost']);
});

test('SMTPUTF8: the message and its RFC 6533 bounce go on with SMTPUTF8; a utf-8 ORCPT comes back', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  sink.rule({ stage: 'rcpt', rcpt: 'gone@relay.example', code: 550, text: '5.1.1 no such user' });
  const gw = await startGateway(t, frontOf(sink.port));
  const r = await send(gw.smtpPort, {
    from: 'jörg@remote.example',
    mailOptions: ['SMTPUTF8', 'RET=HDRS'],
    rcpts: [{ to: 'gone@relay.example', options: ['ORCPT=utf-8;gøne@relay.example'] }, { to: 'user@relay.example' }],
    message: `From: jörg@remote.example\r\nTo: user@relay.example\r\nSubject: Grüße\r\n\r\n${BODY_MARKER}\r\n`,
  });
  assert.deepEqual([r.mail, r.rcpt, r.data[0]], [250, [250, 250], 250]);
  await logged(gw, 'message done', r.queueId);
  await sink.waitForMessages(2); // the copy and the notice
  const copy = sink.messages.find((m) => m.mailFrom === 'jörg@remote.example');
  assert.equal(copy?.mailParams.SMTPUTF8, true, 'RFC 6531: relayed with SMTPUTF8');
  const [notice, ...more] = notices(sink);
  assert.equal(more.length, 0);
  assert.deepEqual([notice?.rcptTo, notice?.mailParams.SMTPUTF8], [['jörg@remote.example'], true]);
  const report = notice?.raw.toString('utf8') ?? '';
  assert.match(report, /report-type=global-delivery-status;/);
  assert.match(report, /^Content-Type: message\/global-delivery-status$/m);
  assert.match(report, /^Original-Recipient: utf-8; gøne@relay\.example\r\nFinal-Recipient: rfc822; gone@relay\.example\r\nAction: failed$/m);
  assert.match(report, /^Content-Type: message\/global-headers$/m);
  assert.match(report, /^Subject: Grüße$/m);
  assert.ok(!report.includes(BODY_MARKER), 'RET=HDRS');
});

test('SMTPUTF8 mail to a next hop without SMTPUTF8: UTF-8 headers fail with 5.6.9 and a notice, never downgraded; all-ASCII goes on', async (t) => {
  const sink = await startSink({ smtputf8: false });
  t.after(() => sink.close());
  const gw = await startGateway(t, frontOf(sink.port));
  const needs = await send(gw.smtpPort, {
    from: 'a@remote.example',
    mailOptions: ['SMTPUTF8'],
    rcpts: [{ to: 'user@relay.example' }],
    message: `From: a@remote.example\r\nTo: user@relay.example\r\nSubject: Grüße\r\n\r\n${BODY_MARKER}\r\n`,
  });
  const ascii = await send(gw.smtpPort, {
    from: 'b@remote.example',
    mailOptions: ['SMTPUTF8'],
    rcpts: [{ to: 'user@relay.example' }],
    message: `From: b@remote.example\r\nTo: user@relay.example\r\nSubject: plain\r\n\r\nGrüße im Text\r\n`,
  });
  assert.deepEqual([needs.data[0], ascii.data[0]], [250, 250]);
  await logged(gw, 'message done', needs.queueId);
  await logged(gw, 'message done', ascii.queueId);
  await sink.waitForMessages(2);
  assert.equal(sink.messages.filter((m) => m.mailFrom === 'a@remote.example').length, 0, 'not sent to a hop that cannot take it');
  const passed = sink.messages.find((m) => m.mailFrom === 'b@remote.example');
  assert.ok(passed, 'ASCII headers and addresses: delivered without SMTPUTF8');
  assert.equal(passed.mailParams.SMTPUTF8, undefined);
  const [notice, ...more] = notices(sink);
  assert.equal(more.length, 0);
  assert.deepEqual(notice?.rcptTo, ['a@remote.example']);
  assert.match(text(notice), /^Status: 5\.6\.9$/m);
  assert.doesNotMatch(text(notice), /^Remote-MTA:/m, 'spamgate refused it, not the next hop');
  assert.match(text(notice), /does not offer SMTPUTF8/);
});

test('8-bit mail to a next hop without 8BITMIME goes as 7-bit quoted-printable; 8-bit header fields fail with 5.6.3', async (t) => {
  const sink = await startSink({ eightBitMime: false, smtputf8: false });
  t.after(() => sink.close());
  const gw = await startGateway(t, frontOf(sink.port));
  const body = await send(gw.smtpPort, {
    from: 'a@remote.example',
    rcpts: [{ to: 'user@relay.example' }],
    message: `From: a@remote.example\r\nTo: user@relay.example\r\nSubject: eight bit\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße, ${BODY_MARKER}\r\n`,
  });
  const header = await send(gw.smtpPort, {
    from: 'b@remote.example',
    rcpts: [{ to: 'user@relay.example' }],
    message: `From: b@remote.example\r\nTo: user@relay.example\r\nSubject: Grüße\r\n\r\nGrüße\r\n`,
  });
  assert.deepEqual([body.data[0], header.data[0]], [250, 250]);
  await logged(gw, 'message done', body.queueId);
  await logged(gw, 'message done', header.queueId);
  await sink.waitForMessages(2);
  const copy = sink.messages.find((m) => m.mailFrom === 'a@remote.example');
  assert.ok(copy, 'the 8-bit body was converted and sent');
  assert.ok(!copy.raw.some((b) => b > 127), 'nothing 8-bit on the wire');
  assert.equal(copy.mailParams.BODY, undefined);
  assert.match(text(copy), /^Content-Transfer-Encoding: quoted-printable$/m);
  assert.match(text(copy), /^Gr=C3=BC=C3=9Fe, BODY-MARKER-51c2$/m);
  assert.equal(sink.messages.filter((m) => m.mailFrom === 'b@remote.example').length, 0);
  const [notice, ...more] = notices(sink);
  assert.equal(more.length, 0);
  assert.deepEqual(notice?.rcptTo, ['b@remote.example']);
  assert.match(text(notice), /^Status: 5\.6\.3$/m);
  assert.doesNotMatch(text(notice), /^Remote-MTA:/m, 'spamgate refused it, not the next hop');
});

test('ORCPT utf-8: xtext form with or without SMTPUTF8, unitext only with it (else 553 5.6.7), malformed 501', async (t) => {
  const gw = await startGateway(t);
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  const replies: Array<[number, string]> = [];
  for (const line of [
    'MAIL FROM:<a@remote.example>',
    'RCPT TO:<postmaster@localhost> ORCPT=utf-8;p\\x{F8}stmaster@localhost',
    'RCPT TO:<postmaster@localhost> ORCPT=utf-8;pøstmaster@localhost',
    'RCPT TO:<postmaster@localhost> ORCPT=utf-8;p\\x{f8}stmaster@localhost',
    'RSET',
    'MAIL FROM:<a@remote.example> SMTPUTF8',
    'RCPT TO:<postmaster@localhost> ORCPT=utf-8;pøstmaster@localhost',
    'RCPT TO:<postmaster@localhost> ORCPT=rfc822;pøstmaster@localhost',
    'RCPT TO:<postmaster@localhost> ORCPT=utf-8;pøstmaster',
  ]) {
    const reply = await wire.command(line);
    replies.push([reply.code, reply.code >= 500 ? reply.text.slice(0, 5) : '']);
  }
  assert.deepEqual(replies, [
    [250, ''],
    [250, ''],
    [553, '5.6.7'],
    [501, '5.5.4'],
    [250, ''],
    [250, ''],
    [250, ''],
    [501, '5.5.4'],
    [501, '5.5.4'],
  ]);
});

test('ORCPT rfc822 with UTF-8 octets in xtext (as a widespread MTA sends it) is accepted and goes on as utf-8', async (t) => {
  // Refused with 501, the sending MTA bounced the recipient: mail from an SMTPUTF8 sender to a non-ASCII address was lost.
  const sink = await startSink({ dsn: true });
  t.after(() => sink.close());
  const gw = await startGateway(t, { mode: 'front-of', delivery: { upstream: { host: '127.0.0.1', port: sink.port } } });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  assert.equal((await wire.command('MAIL FROM:<a@remote.example> SMTPUTF8')).code, 250);
  const rcpt = await wire.command('RCPT TO:<pøstmaster@localhost> NOTIFY=FAILURE ORCPT=rfc822;p+C3+B8stmaster@localhost');
  assert.equal(rcpt.code, 250, rcpt.text);
  assert.equal((await wire.command('DATA')).code, 354);
  assert.equal((await wire.command('Subject: x\r\n\r\nbody\r\n.')).code, 250);
  await sink.waitForMessages(1);
  assert.deepEqual(sink.messages[0]?.rcptParams['pøstmaster@localhost'], { NOTIFY: 'FAILURE', ORCPT: 'utf-8;p\\x{F8}stmaster@localhost' });
});

test('inline mode: a notice for a recipient the next hop refused is counted in spamgate_bounces_total', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  sink.rule({ stage: 'rcpt', rcpt: 'gone@relay.example', code: 550, text: '5.1.1 no such user' });
  const gw = await startGateway(t, { ...frontOf(sink.port), delivery: { mode: 'inline', upstream: { host: '127.0.0.1', port: sink.port } } });
  const r = await send(gw.smtpPort, { from: 'a@remote.example', rcpts: [{ to: 'gone@relay.example' }, { to: 'user@relay.example' }] });
  assert.equal(r.data[0], 250, "the upstream's reply for the accepted recipient");
  assert.ok(gw.logs.some((l) => l.msg === 'bounce queued'));
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort}/metrics`)).text();
  assert.match(metrics, /^spamgate_bounces_total\{kind="failure"\} 1$/m);
  await sink.waitForMessages(2);
  assert.equal(notices(sink).length, 1, 'the notice itself goes out through the queue');
});
