// The SMTP front line over real sockets: dialogue, extensions, limits and byte-exact acceptance.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ManualClock } from '../../src/util/clock.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { run, runPython } from '../helpers/python.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';

/** A gateway in front of a sink: what it accepts is what the next hop receives, byte for byte. */
async function gatewayWithSink(t: TestContext, config: Record<string, unknown> = {}): Promise<{ gw: RunningGateway; sink: SinkServer }> {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, { mode: 'front-of', delivery: { upstream: { host: '127.0.0.1', port: sink.port } }, ...config });
  return { gw, sink };
}

/** Body of a relayed message below the headers spamgate prepended (everything after our Received). */
function originalPart(message: Buffer): Buffer {
  const text = message.toString('latin1');
  const at = text.indexOf('Received: from ');
  const end = text.indexOf('\r\n', text.indexOf('+0000', at));
  return message.subarray(end + 2);
}

test('EHLO advertises the extensions and VRFY/EXPN are disabled', async (t) => {
  const gw = await startGateway(t, { smtp: { max_message_size: 1000 } });
  const { wire, greeting } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  assert.equal(greeting.code, 220);
  assert.match(greeting.text, /mx\.test\.example ESMTP/);
  const ehlo = await wire.command('EHLO client.test.example');
  assert.equal(ehlo.code, 250);
  const keywords = ehlo.lines.map((l) => l.slice(4));
  for (const k of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'DSN', 'SIZE 1000']) assert.ok(keywords.includes(k), `missing ${k}: ${keywords}`);
  assert.ok(!keywords.some((k) => k.startsWith('STARTTLS')), 'no STARTTLS without a certificate');
  assert.equal((await wire.command('VRFY postmaster')).code, 252);
  assert.equal((await wire.command('EXPN staff')).code, 502);
  assert.equal((await wire.command('NOOP')).code, 250);
  const bogus = await wire.command('FROB nicate');
  assert.equal(bogus.code, 500);
  assert.equal((await wire.command('NOOP')).code, 250, 'session goes on after a bad command');
  assert.equal((await wire.command('QUIT')).code, 221);
});

test('DATA and RSET take no argument (501 5.5.4); WIZ, SHELL and KILL are unknown commands (500)', async (t) => {
  const { gw, sink } = await gatewayWithSink(t);
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  const rset = await wire.command('RSET everything');
  assert.deepEqual([rset.code, rset.text], [501, '5.5.4 Syntax: RSET']);
  const data = await wire.command('DATA now');
  assert.deepEqual([data.code, data.text], [501, '5.5.4 Syntax: DATA'], 'no 354: the lines that follow are not taken as the message');
  for (const verb of ['WIZ secret', 'SHELL', 'KILL']) assert.deepEqual((await wire.command(verb)).code, 500, verb);
  // the transaction is still open; trailing blanks are no argument
  assert.equal((await wire.command('DATA ')).code, 354);
  assert.equal((await wire.command('Subject: x\r\n\r\nbody\r\n.')).code, 250);
  assert.equal((await wire.command('RSET ')).code, 250);
  await sink.waitForMessages(1);
  assert.deepEqual(sink.messages[0]?.rcptTo, ['postmaster@localhost']);
});

test('EHLO again with another name: the message carries the helo checks of the name in force, not of an earlier one', async (t) => {
  const { gw, sink } = await gatewayWithSink(t, { smtp: { trusted_networks: [] } });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  // RFC 5321 §4.1.4: EHLO (or HELO) again resets the session; each MAIL runs the helo checks for the name then given
  for (const helo of ['bad_name!', 'first.test.example']) {
    assert.equal((await wire.command(`EHLO ${helo}`)).code, 250);
    assert.equal((await wire.command('MAIL FROM:<>')).code, 250);
    assert.equal((await wire.command('RSET')).code, 250);
  }
  assert.equal((await wire.command('EHLO second.test.example')).code, 250);
  for (const line of ['MAIL FROM:<>', 'RCPT TO:<postmaster@localhost>', 'DATA']) assert.ok((await wire.command(line)).code < 400, line);
  assert.equal((await wire.command('Subject: x\r\n\r\nbody\r\n.')).code, 250);
  await sink.waitForMessages(1);
  const head = (sink.messages[0]?.raw.toString('latin1') ?? '').split('\r\n\r\n')[0] ?? '';
  assert.doesNotMatch(head, /HELO_BAD_SYNTAX/, 'the first name\'s syntax error is not held against the second');
  assert.doesNotMatch(head, /first\.test\.example/, 'nothing about the second name');
  assert.match(head, /Received: from second\.test\.example /);
});

test('a quoted local part may hold dots anywhere (RFC 5321 §4.1.2 Quoted-string); unquoted, ".." stays a syntax error', async (t) => {
  const { gw } = await gatewayWithSink(t);
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  assert.equal((await wire.command('MAIL FROM:<"john..doe"@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<u..v@localhost>')).code, 501);
  assert.equal((await wire.command('RCPT TO:<".first.last."@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  assert.equal((await wire.command('Subject: q\r\n\r\nhi\r\n.')).code, 250);
  const tx = gw.transactions().at(-1);
  assert.deepEqual([tx?.from, tx?.rcpts], ['"john..doe"@remote.example', ['".first.last."@localhost']]);
});

test('python smtplib delivers several transactions on one connection, with RSET between', async (t) => {
  const { gw, sink } = await gatewayWithSink(t);
  const result = await runPython<{ codes: number[] }>(
    `
import smtplib, json, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='client.test.example')
codes = []
s.ehlo()
for i in range(3):
    r = s.sendmail('sender@remote.example', ['postmaster@localhost'], 'Subject: n%d\\r\\n\\r\\nbody %d\\r\\n' % (i, i))
    codes.append(len(r))
s.mail('a@remote.example'); s.rcpt('postmaster@localhost')
codes.append(s.rset()[0])
codes.append(s.noop()[0])
s.quit()
print(json.dumps({'codes': codes}))
`,
    [String(gw.smtpPort)],
  );
  assert.deepEqual(result.codes, [0, 0, 0, 250, 250]);
  await sink.waitForMessages(3);
  const msgs = sink.messages;
  assert.equal(msgs.length, 3);
  assert.deepEqual(msgs.map((m) => m.rcptTo), [['postmaster@localhost'], ['postmaster@localhost'], ['postmaster@localhost']]);
  const header = msgs[0]?.raw.toString('latin1') ?? '';
  assert.match(header, /^X-Spamgate-Result: accept; score=/);
  assert.match(header, /Received: from client\.test\.example \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test\.example \(spamgate\) with ESMTP id /);
  const tx = gw.transactions();
  assert.equal(tx.length, 3);
  assert.equal(tx[0]?.client_ip, '127.0.0.1');
  assert.equal(tx[0]?.helo, 'client.test.example');
  assert.match(String(tx[0]?.reply), /^250 2\.0\.0 Ok: queued as /);
});

test('dot-stuffing, 8-bit and SMTPUTF8 bodies reach the next hop byte for byte', async (t) => {
  const { gw, sink } = await gatewayWithSink(t);
  const body = Buffer.concat([
    Buffer.from('Subject: =?UTF-8?B?w6nDqA==?=\r\nFrom: ü@bücher.example\r\n\r\n', 'utf8'),
    Buffer.from('.leading dot\r\n..two dots\r\n.\tdot tab\r\n', 'latin1'),
    Buffer.from([0xc3, 0xa9, 0x80, 0xff, 0x0d, 0x0a]),
    Buffer.from('last line\r\n', 'latin1'),
  ]);
  // Dot-stuff per RFC 5321 §4.5.2 before sending.
  const stuffed = Buffer.from(body.toString('latin1').replace(/^\./gm, '..'), 'latin1');
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  assert.equal((await wire.command('MAIL FROM:<ü@bücher.example> SMTPUTF8 BODY=8BITMIME')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  wire.write(stuffed);
  const reply = await wire.command('.');
  assert.equal(reply.code, 250, reply.text);
  await sink.waitForMessages(1);
  const msg = sink.messages[0];
  assert.ok(msg);
  assert.equal(msg.mailFrom, 'ü@bücher.example');
  const stored = originalPart(msg.raw);
  assert.ok(stored.equals(body), `stored bytes differ:\n${stored.toString('hex')}\n${body.toString('hex')}`);
});

test('SIZE above the limit is refused at MAIL and oversize DATA with 552', async (t) => {
  const { gw, sink } = await gatewayWithSink(t, { smtp: { max_message_size: 2048 } });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  const big = await wire.command('MAIL FROM:<a@remote.example> SIZE=999999');
  assert.equal(big.code, 552);
  assert.match(big.text, /^5\.3\.4 /);
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  wire.write('Subject: big\r\n\r\n' + 'x'.repeat(70).concat('\r\n').repeat(100));
  const r = await wire.command('.');
  assert.equal(r.code, 552);
  assert.match(r.text, /^5\.3\.4 /);
  assert.equal((await wire.command('NOOP')).code, 250);
  assert.equal(gw.transactions().at(-1)?.reply, '552 5.3.4', 'the refusal is logged');
  assert.equal(sink.messages.length, 0);
  // Bare LFs count as the CRLFs they become: 1,500 bytes sent, 2,244 kept, over the 2,048 offered.
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  wire.write('Subject: lf\n\n' + 'x\n'.repeat(742) + 'x\r\n');
  const lf = await wire.command('.');
  assert.equal(lf.code, 552);
  assert.match(lf.text, /^5\.3\.4 .*bare line breaks counted as CRLF/);
  assert.equal((await wire.command('NOOP')).code, 250, 'the session goes on');
  assert.equal(sink.messages.length, 0);
});

test('pipelined commands get replies in order', async (t) => {
  const gw = await startGateway(t, { smtp: { trusted_networks: [] } });
  const wire = await SmtpWire.connect(gw.smtpPort);
  t.after(() => wire.close());
  await wire.read();
  await wire.command('EHLO client.test.example');
  wire.write('MAIL FROM:<a@remote.example>\r\nRCPT TO:<postmaster@localhost>\r\nRCPT TO:<nobody@elsewhere.example>\r\nDATA\r\n');
  assert.equal((await wire.read()).code, 250);
  assert.equal((await wire.read()).code, 250);
  assert.equal((await wire.read()).code, 554);
  assert.equal((await wire.read()).code, 354);
  wire.write('Subject: p\r\n\r\nhi\r\n.\r\nQUIT\r\n');
  assert.equal((await wire.read()).code, 250);
  assert.equal((await wire.read()).code, 221);
});

test('recipients per message are limited with 452 4.5.3', async (t) => {
  const { gw } = await gatewayWithSink(t, { smtp: { max_recipients: 2 } });
  const { replies } = await sendMessage(gw.smtpPort, 'a@remote.example', ['postmaster@localhost', 'abuse@localhost', 'third@localhost'], 'Subject: x\r\n\r\nx\r\n');
  const rcptCodes = replies.slice(2, 5).map((r) => r.code);
  assert.deepEqual(rcptCodes, [250, 250, 452]);
  assert.match(replies[4]?.text ?? '', /^4\.5\.3 /);
});

test('past the recipient limit the 452s do not end the session: the accepted recipients get the message (RFC 5321 §4.5.3.1.10)', async (t) => {
  const { gw, sink } = await gatewayWithSink(t, { smtp: { max_recipients: 3, max_bad_commands: 5 } });
  // smtplib sends every RCPT, then DATA for the accepted ones, as RFC 5321 §4.5.3.1.10 asks of a client
  const result = await runPython<{ refused: Record<string, number>; noop: number }>(
    `
import smtplib, json, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='client.test.example')
rcpts = ['u%d@localhost' % i for i in range(12)]
refused = s.sendmail('sender@remote.example', rcpts, 'Subject: many\\r\\n\\r\\nbody\\r\\n')
noop = s.noop()[0]
s.quit()
print(json.dumps({'refused': {k: v[0] for k, v in refused.items()}, 'noop': noop}))
`,
    [String(gw.smtpPort)],
  );
  assert.deepEqual(Object.values(result.refused), new Array<number>(9).fill(452));
  assert.equal(result.noop, 250, 'the session goes on');
  await sink.waitForMessages(1);
  assert.deepEqual(sink.messages[0]?.rcptTo, ['u0@localhost', 'u1@localhost', 'u2@localhost']);
});

test('greylisted recipients are not errors: a first attempt to many recipients is not cut with 421, the retry takes them all', async (t) => {
  // Counted, the deferrals of a message to more recipients than max_bad_commands ended its session with 421:
  // the recipients after the cut were never seen (no triplet), so each retry got only that many further.
  const sink = await startSink();
  t.after(() => sink.close());
  const clock = new ManualClock(Date.now());
  const gw = await startGateway(
    t,
    { mode: 'front-of', delivery: { upstream: { host: '127.0.0.1', port: sink.port } }, smtp: { trusted_networks: [], max_bad_commands: 3 }, greylist: { enabled: true, delay: '5m', min_score: -100 } },
    { clock },
  );
  const rcpts = ['postmaster@localhost', 'abuse@localhost', 'r3@localhost', 'r4@localhost', 'r5@localhost', 'r6@localhost'];
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
  for (const r of rcpts) assert.equal((await wire.command(`RCPT TO:<${r}>`)).code, 451, r);
  assert.equal((await wire.command('RSET')).code, 250, 'the session goes on');
  clock.advance(6 * 60_000);
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
  for (const r of rcpts) assert.equal((await wire.command(`RCPT TO:<${r}>`)).code, 250, r);
  assert.equal((await wire.command('DATA')).code, 354);
  assert.equal((await wire.command('Subject: grey\r\n\r\nbody\r\n.')).code, 250);
  await sink.waitForMessages(1, 10_000);
  assert.deepEqual(sink.messages[0]?.rcptTo, rcpts);
});

test('Received names the client by its forward-confirmed reverse DNS name, as other MTAs do; an unconfirmed name is left out', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const zones = { '1.0.0.127.in-addr.arpa': [{ PTR: 'client.example.org' }], 'client.example.org': [{ A: '127.0.0.1' }], '2.0.0.127.in-addr.arpa': [{ PTR: 'liar.example.org' }], 'liar.example.org': [{ A: '192.0.2.1' }] };
  const gw = await startGateway(t, { mode: 'front-of', delivery: { upstream: { host: '127.0.0.1', port: sink.port } }, smtp: { trusted_networks: [], xclient_from: ['127.0.0.1/32'] } }, { zones });
  assert.equal((await sendMessage(gw.smtpPort, 'a@remote.example', ['postmaster@localhost'], 'Subject: x\r\n\r\nx\r\n')).data?.code, 250);
  await sink.waitForMessages(1);
  assert.match(sink.messages[0]?.raw.toString('latin1') ?? '', /^Received: from client\.test\.example \(client\.example\.org \[127\.0\.0\.1\]\)/m);
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO proxy.test.example');
  assert.equal((await wire.command('XCLIENT ADDR=127.0.0.2 NAME=[UNAVAILABLE]')).code, 220);
  await wire.command('EHLO other.test.example');
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  assert.equal((await wire.command('Subject: y\r\n\r\ny\r\n.', 10_000)).code, 250);
  await sink.waitForMessages(2);
  assert.match(sink.messages[1]?.raw.toString('latin1') ?? '', /^Received: from other\.test\.example \(\[127\.0\.0\.2\]\)/m);
});

test('after HELO, MAIL and RCPT parameters are not recognized (555); after EHLO they are', async (t) => {
  const { gw, sink } = await gatewayWithSink(t);
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  assert.equal((await wire.command('HELO client.test.example')).code, 250);
  const mail = await wire.command('MAIL FROM:<a@remote.example> BODY=8BITMIME');
  assert.equal(mail.code, 555);
  assert.match(mail.text, /^5\.5\.4 /);
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250, 'the session goes on; a plain MAIL is fine');
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost> NOTIFY=NEVER')).code, 555);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  wire.write('Subject: helo\r\n\r\nbody\r\n');
  assert.equal((await wire.command('.', 10_000)).code, 250);
  assert.equal((await wire.command('EHLO client.test.example')).code, 250);
  assert.equal((await wire.command('MAIL FROM:<a@remote.example> BODY=8BITMIME')).code, 250, 'after EHLO the extension is there');
  await sink.waitForMessages(1);
  assert.match(sink.messages[0]?.raw.toString('latin1') ?? '', /with SMTP id/, 'Received says plain SMTP');
});

test('too many error replies end the session with 421', async (t) => {
  const gw = await startGateway(t, { smtp: { max_bad_commands: 3 } });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  assert.equal((await wire.command('BOGUS1')).code, 500);
  assert.equal((await wire.command('BOGUS2')).code, 500);
  const last = await wire.command('BOGUS3');
  assert.equal(last.code, 500);
  const bye = await wire.read();
  assert.equal(bye.code, 421);
  assert.ok(await wire.closedByServer());
});

test('an accepted message starts the error count again; errors without a delivery still end the session', async (t) => {
  const gw = await startGateway(t, { smtp: { max_bad_commands: 3 } });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  const send = async (): Promise<void> => {
    assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
    assert.equal((await wire.command('RCPT TO:<nobody@localhost>')).code, 550, 'unknown user: an error reply');
    assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
    assert.equal((await wire.command('DATA')).code, 354);
    wire.write('Subject: count\r\n\r\nbody\r\n');
    assert.equal((await wire.command('.', 10_000)).code, 250);
  };
  assert.equal((await wire.command('BOGUS1')).code, 500);
  await send(); // two errors before it, then a delivery
  assert.equal((await wire.command('BOGUS2')).code, 500);
  assert.equal((await wire.command('BOGUS3')).code, 500);
  assert.equal((await wire.command('NOOP')).code, 250, 'two errors since the last message: still talking');
  assert.equal((await wire.command('BOGUS4')).code, 500);
  assert.equal((await wire.read()).code, 421);
  assert.ok(await wire.closedByServer());
});

test('swaks sends through the gateway', async (t) => {
  const { gw, sink } = await gatewayWithSink(t);
  const r = await run('swaks', ['--server', '127.0.0.1', '--port', String(gw.smtpPort), '--from', 'x@remote.example', '--to', 'postmaster@localhost', '--helo', 'swaks.test.example', '--body', 'hello from swaks']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /<- {2}250 2\.0\.0 Ok: queued as /);
  await sink.waitForMessages(1);
  assert.match(sink.messages[0]?.raw.toString('utf8') ?? '', /hello from swaks/);
});

test('idle and total session timeouts end the session with 421', async (t) => {
  const gw = await startGateway(t, { smtp: { idle_timeout: '400ms', session_timeout: '1500ms' } });
  const idle = await SmtpWire.open(gw.smtpPort);
  t.after(() => idle.wire.close());
  const started = Date.now();
  const timeout = await idle.wire.read(3000);
  assert.equal(timeout.code, 421);
  assert.ok(Date.now() - started >= 350);
  const busy = await SmtpWire.open(gw.smtpPort);
  t.after(() => busy.wire.close());
  // Commands keep the idle timer happy, but the whole session is bounded.
  let last = 250;
  for (let i = 0; i < 20 && last === 250; i++) {
    await new Promise((r) => setTimeout(r, 200));
    last = (await busy.wire.command('NOOP').catch(() => ({ code: 0, lines: [], text: '' }))).code;
  }
  assert.equal(last, 421, 'the session time limit ended it');
});

test('a recipient given twice (in any case) is accepted once and relayed once; it does not use up the limit', async (t) => {
  const { gw, sink } = await gatewayWithSink(t, { smtp: { max_recipients: 3 } });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
  for (const r of ['postmaster@localhost', 'POSTMASTER@localhost', 'postmaster@LOCALHOST', 'postmaster@localhost']) {
    assert.equal((await wire.command(`RCPT TO:<${r}>`)).code, 250, r);
  }
  assert.equal((await wire.command('RCPT TO:<abuse@localhost>')).code, 250, 'the limit of 3 counts distinct recipients');
  assert.equal((await wire.command('DATA')).code, 354);
  assert.equal((await wire.command('Subject: twice\r\n\r\nbody\r\n.')).code, 250);
  await sink.waitForMessages(1, 10_000);
  assert.deepEqual(sink.messages[0]?.rcptTo, ['postmaster@localhost', 'abuse@localhost']);
  assert.deepEqual(gw.transactions().at(-1)?.rcpts, ['postmaster@localhost', 'abuse@localhost']);
});

test('RFC 5321 §4.5.2: a line starting with a period and other characters loses that period (unstuffed ".x" and stuffed "..x" alike)', async (t) => {
  const { gw, sink } = await gatewayWithSink(t);
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  const wireData = ['.first line\r\nSubject: dots\r\n\r\n.x sloppy\r\n..y stuffed\r\n...\r\n.\tz\r\nplain .w\r\n', '.\n.bare\r\nend\r\n'];
  const expected = ['first line\r\nSubject: dots\r\n\r\nx sloppy\r\n.y stuffed\r\n..\r\n\tz\r\nplain .w\r\n', '.\r\nbare\r\nend\r\n'];
  for (const [i, data] of wireData.entries()) {
    assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
    assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
    assert.equal((await wire.command('DATA')).code, 354);
    if (i === 0) wire.write(data);
    // one byte at a time: a period at the end of a segment is decided with the next one
    else for (const byte of Buffer.from(data, 'latin1')) wire.write(Buffer.from([byte]));
    const reply = await wire.command('.');
    assert.equal(reply.code, 250, reply.text);
  }
  await sink.waitForMessages(2);
  for (const [i, want] of expected.entries()) {
    const msg = sink.messages[i];
    assert.ok(msg);
    assert.equal(originalPart(msg.raw).toString('latin1'), want, `message ${i}`);
  }
});

test('a reload that lowers smtp.max_message_size refuses a larger declared SIZE at MAIL (RFC 1870 §6.1), not after the data', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-size-reload-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'spamgate.yaml');
  const gw = await startGateway(t, { smtp: { max_message_size: 100_000 } }, { configFile });
  await writeFile(configFile, (await readFile(configFile, 'utf8')).replace('max_message_size: 100000', 'max_message_size: 5000'));
  assert.equal(gw.app.reload().ok, true);
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  await wire.command('EHLO client.test.example');
  const refused = await wire.command('MAIL FROM:<a@remote.example> SIZE=50000');
  assert.equal(refused.code, 552, refused.text);
  assert.match(refused.text, /5\.3\.4 .*5000/);
  assert.equal((await wire.command('MAIL FROM:<a@remote.example> SIZE=4000')).code, 250, 'within the new limit');
});
