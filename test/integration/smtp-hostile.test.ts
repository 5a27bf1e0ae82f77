// The SMTP front line under hostile clients over raw sockets: bare LF/CR smuggling, non-ASCII paths
// without SMTPUTF8, odd paths, commands out of order, clients that vanish mid-DATA, AUTH guessing
// and identity carried across STARTTLS.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { hashPassword } from '../../src/mailhost/password.ts';
import { startGateway, TEST_PASSWORD, type RunningGateway } from '../helpers/gateway.ts';
import { startSink, type SinkServer } from '../helpers/sink-server.ts';
import { SmtpWire } from '../helpers/smtp-wire.ts';

async function gatewayWithSink(t: TestContext, config: Record<string, unknown> = {}): Promise<{ gw: RunningGateway; sink: SinkServer }> {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(t, { mode: 'front-of', delivery: { upstream: { host: '127.0.0.1', port: sink.port } }, ...config });
  return { gw, sink };
}

async function session(t: TestContext, port: number): Promise<SmtpWire> {
  const { wire, greeting } = await SmtpWire.open(port);
  t.after(() => wire.close());
  assert.equal(greeting.code, 220);
  assert.equal((await wire.command('EHLO client.test.example')).code, 250);
  return wire;
}

/** The client's part of a relayed message: what follows the Received header the gateway added. */
function originalPart(raw: Buffer): string {
  const text = raw.toString('latin1');
  const at = text.indexOf('Received: from ');
  return text.slice(text.indexOf('\r\n', text.indexOf('+0000', at)) + 2);
}

test('bare LF and bare CR in DATA become CRLF: "<LF>.<CR><LF>" cannot smuggle a second message', async (t) => {
  const { gw, sink } = await gatewayWithSink(t);
  const wire = await session(t, gw.smtpPort);
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  const smuggled = 'MAIL FROM:<evil@remote.example>\r\nRCPT TO:<postmaster@localhost>\r\nDATA\r\nSubject: smuggled\r\n';
  wire.write(`Subject: outer\r\n\r\nline one\nline two\r\rthree\r\n\n.\r\n${smuggled}`);
  const reply = await wire.command('.');
  assert.equal(reply.code, 250, reply.text);
  assert.equal((await wire.command('QUIT')).code, 221);
  await sink.waitForMessages(1);
  // The next hop gets it dot-stuffed, so the "." line is content there too and nothing is run.
  assert.equal(originalPart(sink.messages[0]?.raw ?? Buffer.alloc(0)), `Subject: outer\r\n\r\nline one\r\nline two\r\n\r\nthree\r\n\r\n.\r\n${smuggled}`);
  assert.equal(sink.messages.length, 1);
  assert.deepEqual(sink.messages[0]?.rcptTo, ['postmaster@localhost']);
});

test('non-ASCII paths need SMTPUTF8 (553 5.6.7) and must be UTF-8 (501); A-labels are ASCII', async (t) => {
  const { gw, sink } = await gatewayWithSink(t);
  const wire = await session(t, gw.smtpPort);
  const raw = async (bytes: Buffer): Promise<{ code: number; text: string }> => {
    wire.write(Buffer.concat([bytes, Buffer.from('\r\n')]));
    return wire.read();
  };
  const noUtf8 = await raw(Buffer.from('MAIL FROM:<jörg@bücher.example>'));
  assert.equal(noUtf8.code, 553);
  assert.match(noUtf8.text, /^5\.6\.7 /);
  const latin1 = await raw(Buffer.from('MAIL FROM:<j\xf6rg@remote.example> SMTPUTF8', 'latin1'));
  assert.equal(latin1.code, 501);
  assert.equal((await wire.command('MAIL FROM:<a@xn--bcher-kva.example>')).code, 250, 'an A-label domain is plain ASCII');
  const rcpt = await raw(Buffer.from('RCPT TO:<jörg@localhost>'));
  assert.equal(rcpt.code, 553);
  assert.match(rcpt.text, /^5\.6\.7 /);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250, 'the transaction goes on');
  assert.equal((await wire.command('RSET')).code, 250);
  assert.equal((await raw(Buffer.from('MAIL FROM:<jörg@bücher.example> SMTPUTF8'))).code, 250);
  assert.equal((await raw(Buffer.from('RCPT TO:<p\xf6stmaster@localhost>', 'latin1'))).code, 501);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  assert.equal((await wire.command('Subject: eai\r\n\r\nhi\r\n.')).code, 250);
  await sink.waitForMessages(1);
  assert.equal(sink.messages[0]?.mailFrom, 'jörg@bücher.example');
});

test('odd paths, commands out of order and unknown commands get their replies; the session goes on', async (t) => {
  const { gw, sink } = await gatewayWithSink(t, { smtp: { max_bad_commands: 50 } });
  const { wire } = await SmtpWire.open(gw.smtpPort);
  t.after(() => wire.close());
  assert.equal((await wire.command('MAIL FROM:<a@remote.example>')).code, 503, 'MAIL before EHLO');
  assert.equal((await wire.command('EHLO client.test.example')).code, 250);
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 503, 'RCPT before MAIL');
  assert.equal((await wire.command('DATA')).code, 503, 'DATA before MAIL');
  assert.equal((await wire.command('BDAT 10 LAST')).code, 500, 'CHUNKING is not offered');
  assert.equal((await wire.command('STARTTLS')).code, 500, 'STARTTLS is not offered without a certificate');
  assert.equal((await wire.command('HELP')).code, 214);
  for (const bad of ['MAIL FROM:a@remote.example', 'MAIL FROM:<a@remote.example', 'MAIL FROM:<a\0b@remote.example>', 'MAIL FROM:<a@[300.1.1.1]>', 'MAIL FROM:<a@remote.example> SIZE=abc']) {
    const r = await wire.command(bad);
    assert.ok(r.code >= 500 && r.code < 600, `${JSON.stringify(bad)} → ${r.code}`);
  }
  assert.equal((await wire.command('MAIL FROM:<@relay.example:a@remote.example>')).code, 250, 'source route accepted and ignored');
  assert.equal((await wire.command('MAIL FROM:<b@remote.example>')).code, 503, 'nested MAIL');
  assert.equal((await wire.command('RCPT TO:<postmaster@[127.0.0.1]>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<Postmaster>')).code, 250, 'RFC 5321 §4.5.1 domainless postmaster');
  assert.equal((await wire.command(`RCPT TO:<${'x'.repeat(300)}@localhost>`)).code, 501);
  assert.equal((await wire.command('NOOP')).code, 250);
  assert.equal((await wire.command('RSET')).code, 250);
  assert.equal((await wire.command('DATA')).code, 503, 'RSET ended the transaction');
  assert.equal((await wire.command('MAIL FROM:<>')).code, 250, 'null reverse path');
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  assert.equal((await wire.command(`Subject: long\r\n\r\n${'y'.repeat(5000)}\r\n.`)).code, 250);
  assert.equal((await wire.command('QUIT')).code, 221);
  await sink.waitForMessages(1);
  assert.equal(sink.messages[0]?.mailFrom, '');
});

test('a client that vanishes mid-DATA leaves no message, no error, and a working server', async (t) => {
  const { gw, sink } = await gatewayWithSink(t);
  for (let i = 0; i < 3; i++) {
    const wire = await session(t, gw.smtpPort);
    await wire.command('MAIL FROM:<a@remote.example>');
    await wire.command('RCPT TO:<postmaster@localhost>');
    assert.equal((await wire.command('DATA')).code, 354);
    wire.write(`Subject: cut ${i}\r\n\r\n${'z'.repeat(10_000 * i)}\r\n`);
    wire.close();
  }
  // Bounded wait for the server to notice all three (an event we cannot subscribe to from here).
  for (let i = 0; i < 100 && gw.logs.filter((l) => l.msg === 'client disconnected during DATA').length < 3; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(gw.logs.filter((l) => l.msg === 'client disconnected during DATA').length, 3);
  assert.deepEqual(gw.logs.filter((l) => l.level === 'error'), []);
  const wire = await session(t, gw.smtpPort);
  await wire.command('MAIL FROM:<a@remote.example>');
  await wire.command('RCPT TO:<postmaster@localhost>');
  await wire.command('DATA');
  assert.equal((await wire.command('Subject: whole\r\n\r\nok\r\n.')).code, 250);
  await sink.waitForMessages(1);
  assert.equal(sink.messages.length, 1);
  assert.match(sink.messages[0]?.raw.toString('latin1') ?? '', /Subject: whole/);
});

const plain = (user: string, pass: string): string => Buffer.from(`\0${user}\0${pass}`).toString('base64');

test('SMTP AUTH guessing is throttled per user, across parallel connections and both listeners', async (t) => {
  const gw = await startGateway(t, { smtp: { max_bad_commands: 50 } });
  const port = gw.submissionPort ?? 0;
  const wires = await Promise.all(Array.from({ length: 12 }, () => session(t, port)));
  const codes = await Promise.all(wires.map((w, i) => w.command(`AUTH PLAIN ${plain('postmaster@localhost', `wrong-${i}`)}`).then((r) => r.code)));
  const checked = codes.filter((c) => c === 535).length;
  assert.equal(checked + codes.filter((c) => c === 454).length, wires.length, codes.join(','));
  assert.ok(checked <= 5, `${checked} passwords checked`);
  const w = await session(t, port);
  const r = await w.command(`AUTH PLAIN ${plain('postmaster@localhost', TEST_PASSWORD)}`);
  assert.equal(r.code, 454, 'even the right password waits while the user is blocked');
  assert.match(r.text, /^4\.7\.0 /);
  const mx = await session(t, gw.smtpPort);
  assert.equal((await mx.command(`AUTH PLAIN ${plain('postmaster@localhost', TEST_PASSWORD)}`)).code, 454, 'the MX listener shares the budget');
  assert.equal((await w.command('NOOP')).code, 250);
  // Bad base64 and unknown mechanisms are syntax errors, not guesses.
  assert.equal((await w.command('AUTH PLAIN !!!')).code, 501);
  assert.equal((await w.command('AUTH CRAM-MD5')).code, 504);
});

test('smtp.auth.failures sets the budget', async (t) => {
  const gw = await startGateway(t, { smtp: { auth: { failures: { per_user: { limit: 2, window: '1m' } } } } });
  const w = await session(t, gw.submissionPort ?? 0);
  const codes: number[] = [];
  for (let i = 0; i < 3; i++) codes.push((await w.command(`AUTH PLAIN ${plain('postmaster@localhost', `wrong-${i}`)}`)).code);
  assert.deepEqual(codes, [535, 535, 454]);
});

test('right passwords in parallel, more than the failure limit, all authenticate', async (t) => {
  const gw = await startGateway(t);
  const wires = await Promise.all(Array.from({ length: 12 }, () => session(t, gw.submissionPort ?? 0)));
  const codes = await Promise.all(wires.map((w) => w.command(`AUTH PLAIN ${plain('postmaster@localhost', TEST_PASSWORD)}`).then((r) => r.code)));
  assert.deepEqual(codes, wires.map(() => 235));
});

function selfSigned(t: TestContext): { cert: string; key: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-smtp-hostile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

test('STARTTLS discards an AUTH identity from before it; a second STARTTLS gets 503', async (t) => {
  const gw = await startGateway(t, {
    smtp: { trusted_networks: [], tls: selfSigned(t), xclient_from: [] },
    users: { 'alice@localhost': { password: await hashPassword('s3cret-pass', { N: 1024, r: 8, p: 1 }) } },
  });
  const wire = await session(t, gw.smtpPort);
  assert.equal((await wire.command(`AUTH PLAIN ${plain('alice@localhost', 's3cret-pass')}`)).code, 235, 'loopback may AUTH in clear');
  assert.equal((await wire.command('MAIL FROM:<alice@localhost>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<bob@remote.example>')).code, 250, 'authenticated: relaying');
  assert.equal((await wire.command('RSET')).code, 250);
  // Pipelined after STARTTLS in the same packet: must never run inside the TLS session.
  wire.write('STARTTLS\r\nMAIL FROM:<alice@localhost>\r\n');
  assert.equal((await wire.read()).code, 220);
  await wire.upgrade();
  assert.equal((await wire.command('EHLO client.test.example')).code, 250);
  assert.equal((await wire.command('STARTTLS')).code, 503);
  assert.equal((await wire.command('MAIL FROM:<alice@localhost>')).code, 250, 'no MAIL was smuggled in before the handshake');
  const relay = await wire.command('RCPT TO:<bob@remote.example>');
  assert.ok(relay.code >= 500, `identity from before STARTTLS still relays: ${relay.code} ${relay.text}`);
  assert.equal((await wire.command('RSET')).code, 250);
  assert.equal((await wire.command(`AUTH PLAIN ${plain('alice@localhost', 's3cret-pass')}`)).code, 235, 'AUTH again inside TLS');
  assert.equal((await wire.command('MAIL FROM:<alice@localhost>')).code, 250);
  assert.equal((await wire.command('RCPT TO:<bob@remote.example>')).code, 250);
});

test('quoted local parts with spaces and "@" are paths like any other (RFC 5321 §4.1.2)', async (t) => {
  const { gw } = await gatewayWithSink(t);
  const wire = await session(t, gw.smtpPort);
  assert.equal((await wire.command('MAIL FROM:<"john q. smith"@remote.example> BODY=8BITMIME')).code, 250);
  const rcpt = await wire.command('RCPT TO:<"odd@part"@localhost>');
  assert.notEqual(rcpt.code, 501, 'judged as a recipient, not refused as syntax');
  assert.equal((await wire.command('RCPT TO:<postmaster@localhost>')).code, 250);
  assert.equal((await wire.command('DATA')).code, 354);
  assert.equal((await wire.command('Subject: q\r\n\r\nhi\r\n.')).code, 250);
  // Spooled as written (the sink, being smtp-server too, would refuse the path; the queue keeps it).
  assert.equal(gw.transactions().at(-1)?.from, '"john q. smith"@remote.example');
});
